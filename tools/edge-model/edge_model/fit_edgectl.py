"""Deploys a trial's document with `edgectl deploy` (argv list, no shell), which validates it,
publishes it and waits for the thing's final status."""

import json
import shutil
import subprocess


class EdgectlError(RuntimeError):
    """edgectl could not run, reach the broker or understand its flags: fit cannot go on."""


class Outcome:
    """What a deployment came to: `deployed` only on SUCCEEDED; `refused_limit` names the limit
    the thing refused (`memoryMB`, `cpus`: over what the device has), if that is why."""

    def __init__(self, deployed, status, reason, refused_limit=None):
        self.deployed = deployed
        self.status = status
        self.reason = reason
        self.refused_limit = refused_limit


def find(path=None):
    """edgectl: `path`, else on PATH."""
    found = path or shutil.which("edgectl")
    if not found:
        raise EdgectlError("edgectl is not on PATH: give --edgectl PATH (scripts/setup.sh installs it)")
    return found


def deploy(edgectl, document_path, thing, connection, function, timeout_seconds, sign_key=None):
    argv = [edgectl, "deploy", str(document_path), "--thing", thing, "--json",
            "--timeout", str(int(timeout_seconds))] + connection.edgectl_flags()
    if sign_key:
        argv += ["--sign", str(sign_key)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_seconds + 30)
    except subprocess.TimeoutExpired:
        return Outcome(False, "TIMEOUT", "edgectl deploy gave no outcome within %d s" % (timeout_seconds + 30))
    except OSError as error:
        raise EdgectlError("cannot run %s: %s" % (edgectl, error))
    if done.returncode in (2, 64):
        raise EdgectlError("edgectl deploy exited %d: %s" % (done.returncode, done.stderr.strip() or done.stdout.strip()))
    try:
        answer = json.loads(done.stdout) if done.stdout.strip() else {}
    except ValueError:
        answer = {}
    if answer.get("published") is False:
        issues = answer.get("issues") or []
        reason = "; ".join("%s: %s" % (i.get("path"), i.get("message")) for i in issues) or done.stderr.strip()
        return Outcome(False, "INVALID", reason, _refused_limit(issues, function))
    status = answer.get("status") or {}
    state = status.get("status") or ("TIMEOUT" if done.returncode == 3 else "FAILED")
    reason = status.get("reason") or done.stderr.strip()
    if status.get("errors"):
        reason = "; ".join("%s: %s" % (e.get("path"), e.get("message")) for e in status["errors"])
    return Outcome(done.returncode == 0 and state == "SUCCEEDED", state, reason,
                   _refused_limit(status.get("errors") or [], function))


def _refused_limit(issues, function):
    for issue in issues:
        path = issue.get("path") or ""
        for limit in ("memoryMB", "cpus"):
            if path == "functions.%s.limits.%s" % (function, limit):
                return limit
    return None
