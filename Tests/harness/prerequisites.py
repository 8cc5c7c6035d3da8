"""What a test needs from the machine: root, the function user, writable cgroups, the function
interpreter. A missing prerequisite skips the test saying why, or fails it under CI=true, so CI
never passes by skipping what it was meant to run."""

import os
import pwd
import subprocess
import uuid
from pathlib import Path

from .cgroups import CGROUP_PARENT, cgroup_mounts
from .waits import HarnessError, tail

# The unprivileged user functions run as when the agent runs as root (scripts/setup.sh makes it).
FUNCTION_USER = "edgefn"
# The interpreter for Python functions: readable by every user, with numpy and onnxruntime.
DEFAULT_FUNCTION_PYTHON = "/opt/edge-agent/python/bin/python3"


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def function_python():
    """The interpreter for Python functions: $EDGE_FUNCTION_PYTHON, else the venv scripts/setup.sh
    makes. It must import numpy and onnxruntime as the user functions run as (when we are root)."""
    path = os.environ.get("EDGE_FUNCTION_PYTHON") or DEFAULT_FUNCTION_PYTHON
    fix = ("run scripts/setup.sh (it makes %s, readable by every user, from requirements-functions.txt), "
           "or point EDGE_FUNCTION_PYTHON at such an interpreter" % DEFAULT_FUNCTION_PYTHON)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise HarnessError("the function interpreter %s is missing: %s" % (path, fix))
    as_user = FUNCTION_USER if os.geteuid() == 0 and user_exists(FUNCTION_USER) else None
    check = subprocess.run([path, "-c", "import numpy, onnxruntime"], capture_output=True, text=True, cwd="/",
                           user=as_user, timeout=120)
    if check.returncode != 0:
        raise HarnessError("the function interpreter %s cannot import numpy and onnxruntime%s: %s\n%s"
                           % (path, " as user %s" % as_user if as_user else "", fix, tail(check.stderr, 5)))
    return Path(path)


def require(condition, reason):
    """Skips the test with `reason` unless `condition`; under CI=true a skip is a failure, so CI
    never passes by skipping what it was meant to run."""
    if condition:
        return
    import pytest  # here, not above: the benchmarks use the harness without pytest
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("%s (CI=true: this test must run in CI, so the missing prerequisite is a failure)" % reason,
                    pytrace=False)
    pytest.skip(reason)


def require_root():
    require(os.geteuid() == 0, "needs root (the agent must be root to switch users and manage cgroups)")


def require_function_user():
    """Root, and the user functions run as by default (scripts/setup.sh creates it)."""
    require_root()
    require(user_exists(FUNCTION_USER), "needs the system user %s: run scripts/setup.sh" % FUNCTION_USER)
    return pwd.getpwnam(FUNCTION_USER)


def _writable(mount):
    probe = mount.mountpoint / ("%s-probe-%s" % (CGROUP_PARENT, uuid.uuid4().hex[:8]))
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        probe.rmdir()
    except OSError:
        pass
    return True


def require_cgroups(controllers=("memory", "cpu", "pids")):
    """Root, and writable cgroups with `controllers`: all of them in one v2 hierarchy, or each in a
    v1 hierarchy of its own. Skips otherwise (a failure under CI=true, see require()); returns
    {"v1": bool, "v2": bool}: which of the two could serve."""
    require_root()
    mounts = cgroup_mounts()
    v2 = any(m.version == "v2" and set(controllers) <= set(m.controllers) and _writable(m) for m in mounts)
    v1 = all(any(m.version == "v1" and c in m.controllers and _writable(m) for m in mounts) for c in controllers)
    require(v1 or v2, "needs writable cgroups (v2, or v1 hierarchies) with the controllers %s; mounted: %s"
            % (", ".join(controllers), mounts or "no cgroup file system"))
    return {"v1": v1, "v2": v2}
