"""The invocation path: requests published by a load generator, answered through the agent by a
long-lived native function (examples/echo-native) and by a Python function (the repo's runtime,
a handler that returns its event), beside the same load against a broker-only baseline.

The load generator (`edge-loadgen run`, Sources/edge-loadgen) publishes `{"seq":N,"pad":…}`
(64 bytes) and times each reply by the `"seq":N` it carries, into an HdrHistogram (1 µs
resolution, 3 significant digits). Two kinds of load:

- saturation: a window of requests in flight (BENCH_INVOKE_WINDOW), each answer sending the
  next; throughput is answers per second over the measured seconds;
- fixed rates (BENCH_INVOKE_RATES): request N is due at start + N / rate, and its latency
  counts from then, so a stalled system cannot hide its stall (no coordinated omission). A
  rate above 90 % of the target's saturation throughput is skipped: it would measure a queue.

The baseline is `edge-loadgen echo`: an MQTT client on the same library (libmosquitto, the same
client code as the agent) that republishes each request unchanged. Its figures are what the
broker and the clients cost by themselves; the agent's overhead is the ratio to them. Each
target has its own topics, with the subscription and the output at the QoS under test.

While each run goes, the CPU time of the agent, its functions, the broker, the load generator
and the baseline client is read from /proc, so a figure can be told apart from a starved
machine.
"""

import json
import select
import subprocess
import time

from harness import children_of, cpu_seconds, native_function, python_function, sha256_of

from ..figures import fmt_ms, shown_command
from ..settings import BenchError
from ..thing import Thing, things_observer

SETTINGS = {
    "BENCH_INVOKE_SECONDS": (10, 3, "seconds measured per run"),
    "BENCH_INVOKE_WARMUP": (2, 1, "seconds sent and not counted before each run"),
    "BENCH_INVOKE_RATES": ("1000,5000,10000", "1000", "fixed rates (requests per second, comma-separated)"),
    "BENCH_INVOKE_WINDOW": (32, 32, "requests in flight at saturation"),
    "BENCH_INVOKE_QOS": ("0,1", "0,1", "QoS levels (comma-separated)"),
    "BENCH_INVOKE_PYTHON": (1, 1, "1: include the Python function"),
}

TARGETS = ("baseline", "native", "python")
LABELS = {"baseline": "broker-only echo (no agent)", "native": "agent → native function",
          "python": "agent → Python function"}
PAYLOAD_BYTES = 64


def _numbers(ctx, name):
    raw = ctx.setting(name)
    values = [float(v) for v in str(raw).split(",") if v.strip()]
    if any(v < 0 for v in values):
        raise BenchError("%s=%r: every value must be a positive number" % (name, raw))
    return values


def _functions(ctx, qos_levels, python_module):
    sha = sha256_of(ctx.echo_bin)
    functions = {}
    for qos in qos_levels:
        functions["native-q%d" % qos] = native_function(
            ctx.echo_bin, version="1.0.0", sha256=sha, subscriptions=["bench/native-q%d/in" % qos], qos=qos,
            output="bench/native-q%d/out" % qos, queueSize=1000)
        if python_module:
            functions["python-q%d" % qos] = python_function(
                python_module, "invoke_handler.handler", version="1.0.0", subscriptions=["bench/python-q%d/in" % qos],
                qos=qos, output="bench/python-q%d/out" % qos, queueSize=1000)
    return functions


class Baseline:
    """`edge-loadgen echo` for one QoS: ready once it has printed `ready`; stopped by closing
    its standard input."""

    def __init__(self, ctx, port, qos):
        self.proc = subprocess.Popen(
            [ctx.loadgen_bin, "echo", "--port", str(port), "--in", "bench/baseline-q%d/in" % qos,
             "--out", "bench/baseline-q%d/out" % qos, "--qos", str(qos)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with open(ctx.pids_file, "a") as f:
            f.write("%d\n" % self.proc.pid)
        ready, _, _ = select.select([self.proc.stdout], [], [], ctx.timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise BenchError("the baseline echo client did not get ready within %.0f s: %r %s"
                             % (ctx.timeout, line, self.proc.stderr.read() if self.proc.poll() is not None else ""))

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _cpu(pids):
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def _drive(ctx, port, target, qos, rate, seconds, warmup, window, watched):
    """One load run; returns the load generator's figures with the CPU of each watched process."""
    command = [ctx.loadgen_bin, "run", "--port", str(port), "--topic", "bench/%s-q%d/in" % (target, qos),
               "--reply", "bench/%s-q%d/out" % (target, qos), "--qos", str(qos), "--rate", repr(rate),
               "--window", str(window), "--warmup", repr(warmup), "--seconds", repr(seconds),
               "--payload-bytes", str(PAYLOAD_BYTES)]
    before = {name: _cpu(pids()) for name, pids in watched.items()}
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=warmup + seconds + 60)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError("edge-loadgen failed (%s): %s%s" % (" ".join(command), done.stdout, done.stderr))
    figures = json.loads(done.stdout)
    figures["cpuPercent"] = {name: round(100.0 * (_cpu(pids()) - before[name]) / wall, 1)
                             for name, pids in watched.items()}
    figures["command"] = shown_command(command)
    return figures


def run(ctx):
    seconds = float(ctx.setting("BENCH_INVOKE_SECONDS"))
    warmup = float(ctx.setting("BENCH_INVOKE_WARMUP"))
    window = int(ctx.setting("BENCH_INVOKE_WINDOW"))
    rates = _numbers(ctx, "BENCH_INVOKE_RATES")
    qos_levels = [int(q) for q in _numbers(ctx, "BENCH_INVOKE_QOS")]
    if any(q not in (0, 1) for q in qos_levels):
        raise BenchError("BENCH_INVOKE_QOS takes 0 and 1 only")
    problems, notes = [], []
    python_module = None
    targets = ["baseline", "native"]
    if int(ctx.setting("BENCH_INVOKE_PYTHON")) and ctx.python:
        python_module = ctx.workdir / "invoke_handler.py"
        python_module.write_text("# the invocation benchmark's Python function: the event back\n"
                                 "def handler(event, context):\n    return event\n")
        python_module.chmod(0o644)
        targets.append("python")
    elif int(ctx.setting("BENCH_INVOKE_PYTHON")):
        notes.append("the Python function is skipped: %s" % ctx.python_note)

    broker = ctx.broker("invoke-broker")
    agent = ctx.agent("invoke", "bench-invoke", broker.port)
    bus = things_observer(broker.port, ctx.timeout)
    runs = []
    try:
        functions = _functions(ctx, qos_levels, python_module)
        Thing(bus, agent, ctx.timeout).deploy("bench-invoke", functions, len(functions))
        bus.close()  # the health and events it records are not needed during the load
        bus = None
        for qos in qos_levels:
            baseline = Baseline(ctx, broker.port, qos)
            try:
                watched = {"agent": lambda: [agent.pid], "functions": lambda: children_of(agent.pid),
                           "broker": lambda: [broker.pid], "baseline": lambda: [baseline.pid]}
                for target in targets:
                    agent.check_alive()
                    saturation = _drive(ctx, broker.port, target, qos, 0, seconds, warmup, window, watched)
                    saturation.update(target=target)
                    runs.append(saturation)
                    ctx.log("  %s QoS %d saturation: %.0f/s, p50 %.3f ms, p99 %.3f ms"
                            % (target, qos, saturation["throughput"], saturation["latencyMs"]["p50"],
                               saturation["latencyMs"]["p99"]))
                    for rate in rates:
                        if rate > 0.9 * saturation["throughput"]:
                            runs.append({"target": target, "qos": qos, "mode": "rate", "targetRate": rate,
                                         "skipped": "above 90 %% of the saturation throughput (%.0f/s)"
                                                    % saturation["throughput"]})
                            continue
                        fixed = _drive(ctx, broker.port, target, qos, rate, seconds, warmup, window, watched)
                        fixed.update(target=target)
                        runs.append(fixed)
                        ctx.log("  %s QoS %d at %.0f/s: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms"
                                % (target, qos, rate, fixed["latencyMs"]["p50"], fixed["latencyMs"]["p99"],
                                   fixed["latencyMs"]["p99.9"]))
            finally:
                baseline.stop()
    finally:
        if bus is not None:
            bus.close()
    for r in runs:
        if not r.get("skipped") and (r["errors"] or r["missing"]):
            problems.append("%s QoS %d %s: %d errors, %d missing of %d"
                            % (r["target"], r["qos"], r["mode"], r["errors"], r["missing"], r["sent"]))
    overhead = _overhead(runs, qos_levels)
    return {"json": {"runs": runs, "overhead": overhead, "payloadBytes": PAYLOAD_BYTES, "window": window,
                     "seconds": seconds, "warmupSeconds": warmup},
            "table": _table(runs, overhead, seconds, window), "problems": problems, "notes": notes, "goals": _goals(runs, overhead)}


def _find(runs, target, qos, mode, rate=0.0):
    for r in runs:
        if r["target"] == target and r["qos"] == qos and r["mode"] == mode and not r.get("skipped") \
                and (mode == "saturation" or r["targetRate"] == rate):
            return r
    return None


def _overhead(runs, qos_levels):
    """Per QoS and function kind: saturation throughput as a share of the baseline's, and the
    latency added at each fixed rate both ran."""
    found = {}
    for qos in qos_levels:
        base = _find(runs, "baseline", qos, "saturation")
        for target in ("native", "python"):
            sat = _find(runs, target, qos, "saturation")
            if not base or not sat:
                continue
            entry = {"throughputShareOfBaseline": round(sat["throughput"] / base["throughput"], 3),
                     "overheadPercent": round(100.0 * (1 - sat["throughput"] / base["throughput"]), 1),
                     "addedLatencyMs": {}}
            for r in runs:
                if r["target"] == target and r["qos"] == qos and r["mode"] == "rate" and not r.get("skipped"):
                    b = _find(runs, "baseline", qos, "rate", r["targetRate"])
                    if b:
                        entry["addedLatencyMs"]["%g" % r["targetRate"]] = {
                            q: round(r["latencyMs"][q] - b["latencyMs"][q], 3) for q in ("p50", "p99", "p99.9")}
            found["%s-q%d" % (target, qos)] = entry
    return found


def _table(runs, overhead, seconds, window):
    lines = ["### Invocation path", "",
             "Requests of %d bytes from `edge-loadgen`, latency from an HdrHistogram; %g s measured per run; "
             "saturation keeps %d requests in flight; at a fixed rate latency counts from when each request was due. "
             "CPU in %% of one core during the run." % (PAYLOAD_BYTES, seconds, window), "",
             "| target | QoS | load | answers/s | p50 ms | p99 ms | p99.9 ms | max ms | errors + missing "
             "| agent CPU | functions CPU | broker CPU |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        load = "saturation" if r["mode"] == "saturation" else "%g/s" % r["targetRate"]
        if r.get("skipped"):
            lines.append("| %s | %d | %s | skipped: %s | | | | | | | | |" % (LABELS[r["target"]], r["qos"], load, r["skipped"]))
            continue
        cpu = r["cpuPercent"]
        own = "—" if r["target"] == "baseline" else "%.0f %%" % cpu["agent"]
        fn = "—" if r["target"] == "baseline" else "%.0f %%" % cpu["functions"]
        lines.append("| %s | %d | %s | %.0f | %s | %s | %s | %s | %d | %s | %s | %.0f %% |" % (
            LABELS[r["target"]], r["qos"], load, r["throughput"], fmt_ms(r["latencyMs"]["p50"]),
            fmt_ms(r["latencyMs"]["p99"]), fmt_ms(r["latencyMs"]["p99.9"]), fmt_ms(r["latencyMs"]["max"]),
            r["errors"] + r["missing"], own, fn, cpu["broker"]))
    lines.append("")
    for key, entry in overhead.items():
        added = "; ".join("at %s/s p50 %+.3f ms, p99 %+.3f ms" % (rate, a["p50"], a["p99"])
                          for rate, a in entry["addedLatencyMs"].items())
        lines.append("- %s: %.0f %% of the baseline's saturation throughput (overhead %.0f %%)%s"
                     % (key, 100 * entry["throughputShareOfBaseline"], entry["overheadPercent"],
                        "; " + added if added else ""))
    return "\n".join(lines)


def _goals(runs, overhead):
    goals = []
    sat = _find(runs, "native", 0, "saturation")
    if sat:
        goals.append({"what": "invocations per second, native function, QoS 0, saturation", "goal": "≥ 20,000/s",
                      "figure": "%.0f/s" % sat["throughput"], "met": sat["throughput"] >= 20000})
    if "native-q0" in overhead:
        o = overhead["native-q0"]["overheadPercent"]
        goals.append({"what": "agent overhead vs broker-only baseline (saturation throughput)", "goal": "< 20 %",
                      "figure": "%.0f %%" % o, "met": o < 20})
    for qos in (0, 1):
        r = _find(runs, "native", qos, "rate", 1000.0)
        if r:
            goals.append({"what": "p99 at 1,000/s, native function, QoS %d" % qos, "goal": "< 2 ms",
                          "figure": "%.3f ms" % r["latencyMs"]["p99"], "met": r["latencyMs"]["p99"] < 2})
    return goals
