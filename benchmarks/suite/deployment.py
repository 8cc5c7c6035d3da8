"""Deployment: how long a deployment takes, from publishing it to its `SUCCEEDED` status as the
benchmark receives it over MQTT, with artifacts the agent must fetch and with artifacts it
already holds. One broker, one agent (`--cgroups off`).

Every deployment has `policy.healthySeconds` 0, so `SUCCEEDED` is published as soon as every new
function has sent `ready`: the time covers receiving and validating the document, staging the
artifacts, stopping the version it replaces, spawning the new one and its start-up, and MQTT on
loopback both ways. The function is the native echo (`examples/echo-native/echo.c`, a command
artifact) with a data artifact of BENCH_DEPLOY_ARTIFACT_MB of random bytes served over plain
HTTP (allowed: docs/deployments.md) by a threaded HTTP server of this benchmark on 127.0.0.1.
A warm-up deployment (not counted) puts the echo binary in the agent's content store and a
function in place; then each round is two deployments, each replacing the running function:

  fresh   a new version with a data artifact of new random bytes (a new sha256, a new URI): the
          agent downloads it, checks its digest, fsyncs it into its content store
          (<stateDir>/artifacts/sha256/<digest>) and copies it into the new version's folder;
  cached  a new version with the same artifacts as the fresh one before it: the digest is in the
          store already, so nothing is fetched, but the new version's folder is still built
          (the 8 MB copied from the store).

The HTTP server counts its requests: a fresh deployment must fetch the data exactly once, a
cached one not at all (else the figures would not be what they say, e.g. with an http_proxy).
With a Python interpreter, the cached case is also measured for a Python function (the repo's
runtime, a trivial handler module, no data artifact): new versions of the same module, where
the interpreter's start dominates.

The agent's own figures come from the timestamps (wall clock, ms) of its events: IN_PROGRESS to
SUCCEEDED (`deployment.in_progress` → `deployment.succeeded`), IN_PROGRESS to `function.started`
(staging and stopping the previous version), and `startupMs` of `function.ready` (spawn to the
function's `ready` line). The status document itself carries no duration.
"""

import functools
import json
import os
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from harness import FINAL, HarnessError, document, native_function, python_function, sha256_of, tail

from ..figures import fmt_ms, summary
from ..settings import BenchError
from ..thing import Thing, things_observer, validate

SETTINGS = {
    "BENCH_DEPLOY_ROUNDS": (20, 5, "deployment rounds, each one fresh and one cached deployment"),
    "BENCH_DEPLOY_ARTIFACT_MB": (8, 8, "size of the data artifact served over HTTP, in MiB"),
    "BENCH_DEPLOY_PYTHON_ROUNDS": (10, 3, "cached deployments of a Python function (0: skip them)"),
}

FUNCTION = "echo"
PY_FUNCTION = "py"


class ArtifactServer:
    """A threaded HTTP server on 127.0.0.1 serving one folder, counting GET requests per path."""

    def __init__(self, folder):
        self.folder = folder
        self.requests = {}
        self.lock = threading.Lock()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    server.requests[self.path] = server.requests.get(self.path, 0) + 1
                super().do_GET()

            def log_message(self, *args):  # quiet: the counts say what was fetched
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="artifact-server", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def uri(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def count(self, name):
        with self.lock:
            return self.requests.get("/" + name, 0)


def check_document(ctx, doc, label):
    """The agent's own rules, through `edgectl validate`, before anything is published."""
    validate(ctx.edgectl_bin, doc, ctx.workdir / ("deployment-validate-%s.json" % label),
             "the deployment benchmark's %s document (fix the document in benchmarks/suite/deployment.py)" % label,
             ctx.timeout)


class Deployer:
    """Publishes deployments to one agent's thing and times each to its SUCCEEDED status."""

    def __init__(self, ctx, thing):
        self.ctx = ctx
        self.thing = thing
        self.observer = thing.observer
        self.agent = thing.agent
        self.run_id = uuid.uuid4().hex[:6]
        self.count = 0

    def deploy(self, label, functions):
        """Returns one sample: seconds from publish to SUCCEEDED received, and the agent's figures."""
        self.count += 1
        self.agent.check_alive()
        self.thing.revision += 1
        revision = self.thing.revision
        deployment_id = "bench-deploy-%s-%d-%s" % (self.run_id, self.count, label)
        payload = json.dumps(document(deployment_id, revision, functions, onFailure="none"))
        topics = self.thing.topics
        since = self.observer.mark()
        sent_wall_ms = time.time() * 1000.0
        sent = time.monotonic()
        self.observer.publish(topics.deployment, payload, qos=1, retain=True)
        what = "deployment %s (revision %d, %s) on %s" % (deployment_id, revision, label, self.agent.name)
        try:
            final = self.observer.wait_for(
                topics.status,
                lambda m: m.json["deploymentId"] == deployment_id and m.json["revision"] == revision
                and m.json["status"] in FINAL,
                self.ctx.timeout, "the final status of " + what, since, check=self.agent.check_alive)
            if final.json["status"] != "SUCCEEDED":
                raise BenchError("%s ended %s: %s" % (what, final.json["status"], json.dumps(final.json)))
            # The events follow the status (published in that order); each version is new, so its
            # function events are told apart by version.
            versions = {name: spec["version"] for name, spec in functions.items()}

            def event(kind, test, count=1):
                return self.observer.wait_count(topics.events, lambda m: m.json["type"] == kind and test(m.json),
                                                count, self.ctx.timeout, "the %s event of %s" % (kind, what), since,
                                                check=self.agent.check_alive)[:count]
            in_progress = event("deployment.in_progress", lambda e: e["deploymentId"] == deployment_id)[0].json
            succeeded = event("deployment.succeeded", lambda e: e["deploymentId"] == deployment_id)[0].json
            started = [m.json for m in event("function.started", lambda e: versions.get(e["function"]) == e["version"],
                                             len(versions))]
            ready = [m.json for m in event("function.ready", lambda e: versions.get(e["function"]) == e["version"],
                                           len(versions))]
        except HarnessError as error:
            raise BenchError("%s\n--- the agent's log (%s), last lines:\n%s"
                             % (error, self.agent.log_path, tail(self.agent.log_text())))
        return {
            "ms": (final.received - sent) * 1000.0,
            "agentInProgressToSucceededMs": float(succeeded["timestamp"] - in_progress["timestamp"]),
            "agentInProgressToStartedMs": float(max(e["timestamp"] for e in started) - in_progress["timestamp"]),
            "publishToInProgressStampMs": round(in_progress["timestamp"] - sent_wall_ms, 1),
            "startupMs": max(float(e["startupMs"]) for e in ready),
            "deploymentId": deployment_id,
        }


def run(ctx):
    rounds = int(ctx.setting("BENCH_DEPLOY_ROUNDS"))
    artifact_mb = float(ctx.setting("BENCH_DEPLOY_ARTIFACT_MB"))
    python_rounds = int(ctx.setting("BENCH_DEPLOY_PYTHON_ROUNDS")) if ctx.python else 0
    if rounds < 1 or artifact_mb <= 0:
        raise BenchError("BENCH_DEPLOY_ROUNDS and BENCH_DEPLOY_ARTIFACT_MB must be positive")
    artifact_bytes = int(artifact_mb * 1024 * 1024)
    folder = ctx.workdir / "deployment"
    served = folder / "served"
    served.mkdir(parents=True, exist_ok=True)
    echo_sha = sha256_of(ctx.echo_bin)
    module = folder / "bench_handler.py"
    module.write_text("# the deployment benchmark's Python function: as little as a handler can do\n"
                      "def handler(event, context):\n    return {\"echo\": event}\n")
    module.chmod(0o644)
    module_sha = sha256_of(module)
    problems = []

    server = ArtifactServer(served)

    def data_artifact(number):
        """New random bytes, so a digest the agent has never seen; written before the clock starts."""
        name = "data-%03d.bin" % number
        path = served / name
        with open(path, "wb") as f:
            f.write(os.urandom(artifact_bytes))
        return name, {"uri": server.uri(name), "sha256": sha256_of(path), "name": "data.bin"}

    def echo_with(data, version):
        spec = native_function(ctx.echo_bin, version=version, subscriptions=(), sha256=echo_sha)
        spec["artifacts"].append(dict(data))
        return {FUNCTION: spec}

    def python_with(version):
        return {PY_FUNCTION: python_function(module, "bench_handler.handler", version=version, sha256=module_sha)}

    probe = {"uri": server.uri("probe.bin"), "sha256": "0" * 64, "name": "data.bin"}
    check_document(ctx, document("validate", 1, echo_with(probe, "1.0.0"), onFailure="none"), "echo-http")
    if python_rounds:
        check_document(ctx, document("validate", 1, python_with("1.0.0"), onFailure="none"), "python")

    bus = None
    samples = {"fresh": [], "cached": [], "pythonCached": []}
    server.start()
    try:
        broker = ctx.broker("deployment")
        bus = things_observer(broker.port, ctx.timeout)
        agent = ctx.agent("deployment", "bench-deploy-" + uuid.uuid4().hex[:6], broker.port)
        thing = Thing(bus, agent, ctx.timeout)
        thing.health(lambda h: h.get("connection", {}).get("connected"), "the first health report of the agent %s"
                     % agent.name, since=0)
        deployer = Deployer(ctx, thing)

        def fetched(name, expected, label):
            got = server.count(name)
            if got != expected:
                raise BenchError("the %s deployment fetched %s %d times from the benchmark's HTTP server, expected %d: "
                                 "the figures would not measure what they say (an http_proxy in the environment? "
                                 "unset it, or set no_proxy=127.0.0.1)" % (label, name, got, expected))

        name, data = data_artifact(0)
        deployer.deploy("warmup", echo_with(data, "0.0.0-warmup"))
        fetched(name, 1, "warm-up")
        (served / name).unlink()
        ctx.log("deployment: warm-up done; %d rounds of fresh and cached, %.0f MiB over HTTP" % (rounds, artifact_mb))
        for r in range(1, rounds + 1):
            name, data = data_artifact(r)
            sample = deployer.deploy("fresh", echo_with(data, "1.%d.0-fresh" % r))
            fetched(name, 1, "fresh")
            samples["fresh"].append(sample)
            sample = deployer.deploy("cached", echo_with(data, "1.%d.1-cached" % r))
            fetched(name, 1, "cached")  # still the one fetch of the fresh deployment
            samples["cached"].append(sample)
            (served / name).unlink()
            if rounds <= 5 or r % 5 == 0 or r == rounds:
                ctx.log("  round %d/%d: fresh %.1f ms, cached %.1f ms"
                        % (r, rounds, samples["fresh"][-1]["ms"], samples["cached"][-1]["ms"]))
        if python_rounds:
            deployer.deploy("python-warmup", python_with("0.0.0-warmup"))
            for r in range(1, python_rounds + 1):
                samples["pythonCached"].append(deployer.deploy("python-cached", python_with("1.%d.0" % r)))
            ctx.log("  python cached: %d deployments, median %.1f ms"
                    % (python_rounds, summary([s["ms"] for s in samples["pythonCached"]])["median"]))
        agent.check_alive()
    finally:
        if bus is not None:
            bus.close()
        server.stop()

    def figures(cases):
        out = {}
        for key in ("ms", "agentInProgressToSucceededMs", "agentInProgressToStartedMs", "startupMs",
                    "publishToInProgressStampMs"):
            out[key] = summary([s[key] for s in cases])
        out["samples"] = cases
        return out

    results = {key: figures(cases) for key, cases in samples.items() if cases}
    labels = {
        "fresh": "echo + %g MiB data, fresh (fetched over HTTP, verified, stored)" % artifact_mb,
        "cached": "echo + %g MiB data, cached (same sha256, new version)" % artifact_mb,
        "pythonCached": "Python function, cached (module only, new version)",
    }
    lines = ["### Deployment: publish → SUCCEEDED", "",
             "One agent; publish of a retained deployment (`healthySeconds` 0: SUCCEEDED once every function is "
             "ready) to its SUCCEEDED status received, each replacing the running version; %d rounds of a fresh "
             "and a cached deployment; the agent's figures from its event timestamps (ms)." % rounds, "",
             "| deployment (ms) | n | min | median | p90 | max | agent: IN_PROGRESS → SUCCEEDED, median "
             "| IN_PROGRESS → function.started, median | startupMs, median |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, entry in results.items():
        s = entry["ms"]
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            labels[key], s["n"], fmt_ms(s["min"]), fmt_ms(s["median"]), fmt_ms(s["p90"]), fmt_ms(s["max"]),
            fmt_ms(entry["agentInProgressToSucceededMs"]["median"]), fmt_ms(entry["agentInProgressToStartedMs"]["median"]),
            fmt_ms(entry["startupMs"]["median"])))
    difference = results["fresh"]["ms"]["median"] - results["cached"]["ms"]["median"]
    lines += ["", "Fresh − cached, median: %.1f ms for %g MiB (fetch, digest, fsync into the store)%s." % (
        difference, artifact_mb, ", about %.0f MiB/s" % (artifact_mb / (difference / 1000.0)) if difference > 0 else "")]
    if not python_rounds:
        why = "BENCH_DEPLOY_PYTHON_ROUNDS=0" if ctx.python else (ctx.python_note or "no Python interpreter")
        lines += ["", "Python function: skipped (%s)." % why]
    return {"json": {"rounds": rounds, "artifactMiB": artifact_mb, "pythonRounds": python_rounds,
                     "python": ctx.python, "transport": "http://127.0.0.1 (ThreadingHTTPServer)",
                     "healthySeconds": 0, "cases": results, "httpRequests": dict(server.requests)},
            "table": "\n".join(lines), "problems": problems, "goals": _goals(results)}


def _goals(results):
    cached = results["cached"]["ms"]["median"]
    return [{"what": "cached deployment, publish → SUCCEEDED (median)", "goal": "< 300 ms",
             "figure": "%.0f ms" % cached, "met": cached < 300}]
