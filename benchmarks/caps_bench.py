"""The caps benchmark: what resource caps cost at function start, and what the agent itself
costs while it supervises capped functions. Run it through `bash scripts/bench.sh caps`, which
builds the binaries, compiles the echo function and makes the work folder; docs/benchmarks.md
says what each figure means.

1. Spawn to ready. Deployments are published and undeployed in rounds, each configuration once
   per round in a rotating order:
     off     a second agent started with `--cgroups off`: rlimits only, no cgroup at all
     cgroup  the agent with cgroups: one cgroup per instance, no limits written
     capped  the same agent, with limits (memoryMB 64, cpus 0.5, pids 32, openFiles 256)
   for three sets: the native echo function as N functions at once (each its own name), one
   echo function alone, and one Python function (the repo's runtime, a trivial handler). From
   each deployment: every `function.ready` event's `startupMs` (the agent's own figure) and the
   time from publishing the deployment to receiving its last `function.ready`.
2. Supervising: with N capped echo functions running, the agent's CPU (utime + stime from
   /proc/PID/stat over wall time) and memory (VmRSS, VmHWM, smaps_rollup Pss/Anonymous) over an
   idle window and a window under a steady load of MQTT events, the functions' memory and CPU,
   and the round trip of those events (publish to result, as this client sees it).

Every wait has a deadline and fails naming what it waited for. Everything started here is
stopped in `finally`, including the agents' cgroup subtrees. The environment variables are
listed in `SETTINGS` below and in benchmarks/README.md.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from harness import (HarnessError, Observer, children_of, cpu_seconds, cpu_times, memory_of, native_function,
                     python_function, remove_cgroup_tree, rss_kb, sha256_of, tail)

from .driver import add_common_arguments, run
from .figures import (cpu_shares, fmt_mb, fmt_ms, machine, machine_line, percentile, summary,
                      write_figures)
from .launch import bench_agent, bench_broker
from .settings import QUICK, BenchError, read_setting
from .thing import Thing, validate

CAPS = {"memoryMB": 64, "cpus": 0.5, "pids": 32, "openFiles": 256}
MODES = ("off", "cgroup", "capped")
MODE_LABELS = {
    "off": "no cgroup (agent --cgroups off)",
    "cgroup": "cgroup per instance, no limits",
    "capped": "cgroup + caps",
}


# ---------------------------------------------------------------------------------------------
# Settings (environment variables; BENCH_QUICK=1 changes the defaults to a short run)

# name: (full default, quick default, meaning)
SETTINGS = {
    "BENCH_FUNCTIONS": (10, 10, "echo functions per deployment, and functions supervised"),
    "BENCH_ROUNDS": (5, 2, "rounds of spawn-to-ready (each: every configuration once)"),
    "BENCH_SINGLE_ROUNDS": (20, 5, "rounds of one echo function per deployment (0: skip it)"),
    "BENCH_PYTHON_ROUNDS": (10, 3, "rounds of one Python function per deployment (0: skip it)"),
    "BENCH_IDLE_SECONDS": (30, 5, "the idle window"),
    "BENCH_LOAD_SECONDS": (30, 5, "the window under load"),
    "BENCH_RATE": (200, 200, "events per second under load, spread over the functions"),
    "BENCH_SETTLE_SECONDS": (3, 1, "wait after the supervised functions are ready"),
    "BENCH_CGROUPS_OFF": (1, 1, "1: include the agent with --cgroups off as a baseline"),
    "BENCH_TIMEOUT": (60, 60, "deadline in seconds of each wait"),
}


def setting(name):
    return read_setting(SETTINGS, name)


# ---------------------------------------------------------------------------------------------
# MQTT: one client that records the agents' topics and the functions' results


class LoadObserver(Observer):
    """The benchmark's client: everything under edge/things/ recorded, except the functions'
    results, which are kept by source topic for the load window: (received, durationMs, status)."""

    def __init__(self, port):
        super().__init__(port, name="caps-bench", filters=("edge/things/#",), for_load=True)
        self.results = {}
        self.results_cond = threading.Condition()

    def _on_message(self, client, userdata, raw):
        if not raw.topic.endswith("/results"):
            super()._on_message(client, userdata, raw)
            return
        now = time.monotonic()
        try:
            result = json.loads(raw.payload)
            entry = (now, result.get("durationMs"), result.get("status"))
            with self.results_cond:
                self.results[result["sourceTopic"]] = entry
                self.results_cond.notify_all()
        except (ValueError, KeyError, TypeError):
            pass


# ---------------------------------------------------------------------------------------------
# The measurements


def spawn_to_ready(things, modes, rounds, make_functions, label, per_deployment, log):
    """Rounds of deploy / collect startupMs / undeploy for each mode, in a rotating order."""
    samples = {mode: [] for mode in modes}
    walls = {mode: [] for mode in modes}
    for r in range(rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            thing = things[mode]
            events, wall = thing.deploy("bench-%s-%s-r%d" % (label, mode, r + 1),
                                        make_functions(mode), per_deployment)
            samples[mode] += [float(e["startupMs"]) for e in events]
            walls[mode].append(wall * 1000.0)
            thing.undeploy("bench-%s-%s-r%d-stop" % (label, mode, r + 1))
        if rounds <= 5 or (r + 1) % 5 == 0 or r + 1 == rounds:
            log("  %s round %d/%d: %s" % (label, r + 1, rounds, ", ".join(
                "%s startupMs median %.2f" % (mode, percentile(samples[mode], 50)) for mode in modes)))
    return samples, walls


class Window:
    """CPU and memory of the agent (and the broker, and the functions) over one window."""

    def __init__(self, agent, broker_pid, function_pids):
        self.agent_pid = agent.pid
        self.broker_pid = broker_pid
        self.function_pids = function_pids
        self.samples = []
        # The functions' CPU: from their cgroups when the agent has them, else from /proc.
        if agent.subtree_cpu_seconds() is not None:
            self.functions_cpu = agent.subtree_cpu_seconds
            self.functions_cpu_source = "cgroup subtree"
        else:
            self.functions_cpu = lambda: sum(cpu_seconds(p) for p in function_pids)
            self.functions_cpu_source = "/proc/PID/stat"

    def begin(self):
        self.wall0 = time.monotonic()
        self.agent_cpu0 = cpu_seconds(self.agent_pid)
        self.broker_cpu0 = cpu_seconds(self.broker_pid)
        self.bench_cpu0 = time.process_time()
        self.functions_cpu0 = self.functions_cpu()
        self.sample()

    def sample(self):
        entry = memory_of(self.agent_pid)
        entry["t"] = round(time.monotonic() - self.wall0, 3)
        entry["functionsRssKB"] = sum(rss_kb(p) for p in self.function_pids)
        self.samples.append(entry)

    def end(self):
        self.sample()
        wall = time.monotonic() - self.wall0
        self.wall = wall

        def pct(cpu):
            return 100.0 * cpu / wall
        self.agent_cpu_pct = pct(cpu_seconds(self.agent_pid) - self.agent_cpu0)
        self.broker_cpu_pct = pct(cpu_seconds(self.broker_pid) - self.broker_cpu0)
        self.bench_cpu_pct = pct(time.process_time() - self.bench_cpu0)
        self.functions_cpu_pct = pct(self.functions_cpu() - self.functions_cpu0)

    def report(self):
        def series(key):
            return [s[key] for s in self.samples if s.get(key) is not None]
        out = {"seconds": round(self.wall, 2), "agentCpuPercent": round(self.agent_cpu_pct, 2),
               "brokerCpuPercent": round(self.broker_cpu_pct, 2),
               "benchmarkClientCpuPercent": round(self.bench_cpu_pct, 2),
               "functionsCpuPercent": round(self.functions_cpu_pct, 2),
               "functionsCpuSource": self.functions_cpu_source, "samples": self.samples}
        for key in ("vmRssKB", "rssKB", "pssKB", "anonymousKB", "functionsRssKB"):
            values = series(key)
            out[key] = {"start": values[0], "end": values[-1], "min": min(values), "max": max(values),
                        "median": percentile(values, 50)}
        out["vmHwmKB"] = self.samples[-1]["vmHwmKB"]
        out["threads"] = self.samples[-1]["threads"]
        out["fds"] = self.samples[-1]["fds"]
        return out


def run_window(seconds, window, during=None):
    """Samples memory every second for `seconds`; `during(deadline)` runs the load, if any."""
    window.begin()
    deadline = time.monotonic() + seconds
    if during is not None:
        stop = threading.Event()

        def sampler():
            while not stop.wait(1.0):
                window.sample()
        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            extra = during(deadline)
        finally:
            stop.set()
            thread.join(5)
        window.end()
        return extra
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(1.0, left))  # the idle window: nothing to wait on but the clock
        window.sample()
    window.end()
    return None


def generate_load(bus, functions, rate):
    """`during` for the load window: publishes events at `rate` per second, round robin over the
    functions, each on a topic of its own (bench/<fn>/<n>); returns the send times."""
    sent = {}

    def during(deadline):
        interval = 1.0 / rate
        start = time.monotonic()
        n = 0
        while True:
            due = start + n * interval
            now = time.monotonic()
            if due >= deadline:
                break
            if due > now:
                time.sleep(due - now)  # pacing to the target rate
            fn = functions[n % len(functions)]
            topic = "bench/%s/%d" % (fn, n)
            sent[topic] = time.monotonic()
            bus.client.publish(topic, '{"n": %d, "pad": "0123456789abcdef0123456789abcdef"}' % n, qos=1)
            n += 1
        return sent
    return during


def await_results(bus, sent, timeout):
    deadline = time.monotonic() + timeout
    with bus.results_cond:
        while True:
            left_over = [t for t in sent if t not in bus.results]
            if not left_over:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("timed out after %.0f s waiting for the results of %d of %d events (first: %s)"
                                 % (timeout, len(left_over), len(sent), left_over[:3]))
            bus.results_cond.wait(min(left, 0.5))
        results = {t: bus.results[t] for t in sent}
    round_trips = [(results[t][0] - sent[t]) * 1000.0 for t in sent]
    durations = [float(r[1]) for r in results.values() if r[1] is not None]
    errors = [t for t, r in results.items() if r[2] != "ok"]
    return round_trips, durations, errors


# ---------------------------------------------------------------------------------------------
# Output



def startup_table(title, result, modes, note):
    """One table: per configuration, startupMs over all instances, and deploy → last ready over
    the rounds; then the differences between configurations."""
    lines = ["", title, ""]
    lines.append("| configuration (ms) | startupMs: n | min | median | p90 | max "
                 "| deploy → last ready: n | median | p90 | max |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        s, w = result[mode]["startupMs"], result[mode]["deployToLastReadyMs"]
        lines.append("| %s | %d | %s | %s | %s | %s | %d | %s | %s | %s |" % (
            MODE_LABELS[mode], s["n"], fmt_ms(s.get("min")), fmt_ms(s.get("median")), fmt_ms(s.get("p90")),
            fmt_ms(s.get("max")), w["n"], fmt_ms(w.get("median")), fmt_ms(w.get("p90")), fmt_ms(w.get("max"))))
    lines.append("")
    if note:
        lines += [note, ""]
    for a, b in (("capped", "cgroup"), ("capped", "off"), ("cgroup", "off")):
        if a in modes and b in modes:
            sa, sb = result[a]["startupMs"], result[b]["startupMs"]
            wa, wb = result[a]["deployToLastReadyMs"], result[b]["deployToLastReadyMs"]
            lines.append("- %s − %s: startupMs median %+.2f ms, p90 %+.2f ms, max %+.2f ms; "
                         "deploy → last ready median %+.2f ms" % (
                             a, b, sa["median"] - sb["median"], sa["p90"] - sb["p90"], sa["max"] - sb["max"],
                             wa["median"] - wb["median"]))
    return lines


def supervision_table(idle, load, functions, rate, load_stats):
    rows = [
        ("agent CPU, % of one core", "%.2f %%" % idle["agentCpuPercent"], "%.2f %%" % load["agentCpuPercent"]),
        ("agent VmRSS, start → end (max)",
         "%s → %s (%s)" % (fmt_mb(idle["vmRssKB"]["start"]), fmt_mb(idle["vmRssKB"]["end"]), fmt_mb(idle["vmRssKB"]["max"])),
         "%s → %s (%s)" % (fmt_mb(load["vmRssKB"]["start"]), fmt_mb(load["vmRssKB"]["end"]), fmt_mb(load["vmRssKB"]["max"]))),
        ("agent Anonymous (smaps_rollup: heap, stacks), start → end",
         "%s → %s" % (fmt_mb(idle["anonymousKB"]["start"]), fmt_mb(idle["anonymousKB"]["end"])),
         "%s → %s" % (fmt_mb(load["anonymousKB"]["start"]), fmt_mb(load["anonymousKB"]["end"]))),
        ("agent Pss (smaps_rollup), min – max",
         "%s – %s" % (fmt_mb(idle["pssKB"]["min"]), fmt_mb(idle["pssKB"]["max"])),
         "%s – %s" % (fmt_mb(load["pssKB"]["min"]), fmt_mb(load["pssKB"]["max"]))),
        ("agent VmHWM (peak RSS since start)", fmt_mb(idle["vmHwmKB"]), fmt_mb(load["vmHwmKB"])),
        ("agent threads / open fds", "%s / %s" % (idle["threads"], idle["fds"]), "%s / %s" % (load["threads"], load["fds"])),
        ("%d functions: total RSS, median" % functions, fmt_mb(idle["functionsRssKB"]["median"]),
         fmt_mb(load["functionsRssKB"]["median"])),
        ("%d functions: cgroup memory (health usage.memoryBytes), sum" % functions,
         fmt_mb(idle.get("cgroupMemoryKB")), fmt_mb(load.get("cgroupMemoryKB"))),
        ("%d functions: CPU, %% of one core (%s)" % (functions, idle["functionsCpuSource"]), "%.2f %%" % idle["functionsCpuPercent"],
         "%.2f %%" % load["functionsCpuPercent"]),
        ("mosquitto CPU, % of one core", "%.2f %%" % idle["brokerCpuPercent"], "%.2f %%" % load["brokerCpuPercent"]),
        ("benchmark client CPU, % of one core", "%.2f %%" % idle["benchmarkClientCpuPercent"],
         "%.2f %%" % load["benchmarkClientCpuPercent"]),
    ]
    rt, dur = load_stats["roundTripMs"], load_stats["agentDurationMs"]
    rows += [
        ("events (achieved rate)", "0", "%d (%.0f/s, target %s/s)" % (load_stats["events"], load_stats["achievedRate"], rate)),
        ("round trip publish → result, p50 / p90 / p99 / max",
         "—", "%s / %s / %s / %s ms" % (fmt_ms(rt["median"]), fmt_ms(rt["p90"]), fmt_ms(rt["p99"]), fmt_ms(rt["max"]))),
        ("agent-measured durationMs, p50 / p99", "—", "%s / %s ms" % (fmt_ms(dur["median"]), fmt_ms(dur["p99"]))),
        ("error results", "—", str(load_stats["errors"])),
    ]
    lines = ["| | idle %.0f s | load %.0f s |" % (idle["seconds"], load["seconds"]), "|---|---:|---:|"]
    lines += ["| %s | %s | %s |" % row for row in rows]
    return lines


# ---------------------------------------------------------------------------------------------
# Main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "caps")
    parser.add_argument("--echo", required=True, help="the compiled echo function")
    parser.add_argument("--cgroup-root", required=True, help="the agent's cgroup subtree, e.g. /edge-bench-123")
    args = parser.parse_args()

    if os.geteuid() != 0:
        raise BenchError("the caps benchmark runs the agent as root (cgroups, the function user edgefn): "
                         "run it as root, e.g. sudo bash scripts/bench.sh caps")
    functions = int(setting("BENCH_FUNCTIONS"))
    rounds = int(setting("BENCH_ROUNDS"))
    single_rounds = int(setting("BENCH_SINGLE_ROUNDS"))
    python_rounds = int(setting("BENCH_PYTHON_ROUNDS")) if args.python else 0
    idle_seconds = float(setting("BENCH_IDLE_SECONDS"))
    load_seconds = float(setting("BENCH_LOAD_SECONDS"))
    rate = float(setting("BENCH_RATE"))
    settle = float(setting("BENCH_SETTLE_SECONDS"))
    with_off = bool(setting("BENCH_CGROUPS_OFF"))
    timeout = float(setting("BENCH_TIMEOUT"))
    if functions < 1 or rounds < 1 or rate <= 0 or idle_seconds <= 0 or load_seconds <= 0:
        raise BenchError("BENCH_FUNCTIONS, BENCH_ROUNDS, BENCH_RATE and the windows must be positive")
    modes = MODES if with_off else MODES[1:]
    names = ["echo%02d" % (i + 1) for i in range(functions)]

    workdir = Path(args.workdir)
    pids_file = workdir / "pids"
    echo = Path(args.echo).resolve()
    echo_sha = sha256_of(echo)
    module = workdir / "bench_handler.py"
    module.write_text("# the caps benchmark's Python function: as little as a handler can do\n"
                      "def handler(event, context):\n    return {\"echo\": event}\n")
    module.chmod(0o644)
    module_sha = sha256_of(module)
    load_at_start = list(os.getloadavg())
    cpu_at_start = cpu_times()
    started = time.monotonic()
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def log(text):
        print("[%5.1fs] %s" % (time.monotonic() - started, text), flush=True)

    def echo_function(mode, subscriptions=()):
        return native_function(echo, version="1.0.0", subscriptions=subscriptions,
                               limits=CAPS if mode == "capped" else None, sha256=echo_sha)

    def echo_set(mode, subscriptions=False):
        return {name: echo_function(mode, ["bench/%s/+" % name] if subscriptions else ()) for name in names}

    if args.edgectl:
        for mode in modes:
            validate(args.edgectl, {"deploymentId": "validate", "revision": 1, "functions": echo_set(mode, True)},
                     workdir / ("validate-%s.json" % mode), "the benchmark's %s deployment" % mode, timeout)

    broker = None
    bus = None
    agents = {}
    problems = []
    startup = {}
    try:
        broker = bench_broker(workdir / "broker", pids_file, timeout)
        bus = LoadObserver(broker.port)
        bus.start(timeout)
        run_id = uuid.uuid4().hex[:6]
        agents["cgroup"] = bench_agent(args.agent, "cgroups", "bench-%s-cg" % run_id, broker.port, workdir,
                                       args.runtime_dir, args.python, cgroups="auto", cgroup_root=args.cgroup_root,
                                       health_interval=1)
        if with_off:
            agents["off"] = bench_agent(args.agent, "off", "bench-%s-off" % run_id, broker.port, workdir,
                                        args.runtime_dir, args.python, cgroups="off", health_interval=1)
        for agent in agents.values():
            agent.start()
        # One thing per agent: "cgroup" and "capped" are the same agent, with and without limits.
        thing_of = {name: Thing(bus, agent, timeout) for name, agent in agents.items()}
        things = {mode: thing_of["off" if mode == "off" else "cgroup"] for mode in modes}
        health = {}
        for name, agent in agents.items():
            health[name] = thing_of[name].health(
                lambda h: h.get("connection", {}).get("connected"), "the first health report of the agent %s" % agent.name)
        cgroups = health["cgroup"].get("cgroups")
        if not isinstance(cgroups, dict) or not cgroups.get("version"):
            raise BenchError("the agent with cgroups reports none in use (health cgroups: %s); its log:\n%s"
                             % (json.dumps(cgroups), tail(agents["cgroup"].log_text())))
        log("agents up: cgroups %s; %d functions per deployment, %d rounds"
            % (json.dumps(cgroups), functions, rounds))

        # 1. Spawn to ready
        def one_echo(mode):
            return {"echo": echo_function(mode)}

        def one_python(mode):
            return {"py": python_function(module, "bench_handler.handler", version="1.0.0",
                                          limits=CAPS if mode == "capped" else None, sha256=module_sha)}
        sets = [("echo%d" % functions, "echo-native, %d functions deployed at once" % functions, rounds, functions, echo_set)]
        if functions > 1:  # with BENCH_FUNCTIONS=1 the first set is this one already
            sets.append(("echo1", "echo-native, one function per deployment", single_rounds, 1, one_echo))
        if python_rounds:
            sets.append(("python1", "one Python function (runtime/python, trivial handler) per deployment",
                         python_rounds, 1, one_python))
        for key, title, set_rounds, per_deployment, make in sets:
            if not set_rounds:
                continue
            log("spawn to ready: %s, %d rounds" % (title, set_rounds))
            samples, walls = spawn_to_ready(things, list(modes), set_rounds, make, key, per_deployment, log)
            startup[key] = {"title": title, "rounds": set_rounds, "functionsPerDeployment": per_deployment,
                            "configurations": {mode: {"startupMs": summary(samples[mode]),
                                                      "deployToLastReadyMs": summary(walls[mode]),
                                                      "startupSamplesMs": [round(v, 3) for v in samples[mode]],
                                                      "deployToLastReadySamplesMs": [round(v, 3) for v in walls[mode]]}
                                               for mode in modes}}

        # 2. Supervising N capped functions
        if "off" in agents:
            code = agents["off"].stop(timeout)
            if code:
                problems.append("the agent off exited with code %d after SIGTERM" % code)
        agent = agents["cgroup"]
        thing = things["capped"]
        log("supervising %d capped echo functions: deploying" % functions)
        thing.deploy("bench-supervise", echo_set("capped", subscriptions=True), functions)
        function_pids = children_of(agent.pid)
        if len(function_pids) != functions:
            raise BenchError("expected %d function processes under the agent, found %d: %s"
                             % (functions, len(function_pids), function_pids))
        time.sleep(settle)  # let the deployment's own work (staging clean-up, health) finish first

        def cgroup_memory_kb():
            report = thing.health(lambda h: len(h["functions"]) == functions and all(
                f.get("usage", {}).get("memoryBytes") is not None for f in h["functions"].values()),
                "a health report with the usage of all %d functions" % functions)
            return sum(f["usage"]["memoryBytes"] for f in report["functions"].values()) // 1024

        log("idle window: %.0f s" % idle_seconds)
        idle_window = Window(agent, broker.pid, function_pids)
        run_window(idle_seconds, idle_window)
        idle = idle_window.report()
        idle["cgroupMemoryKB"] = cgroup_memory_kb()
        agent.check_alive()

        log("load window: %.0f s at %.0f events/s over %d functions" % (load_seconds, rate, functions))
        load_window = Window(agent, broker.pid, function_pids)
        sent = run_window(load_seconds, load_window, generate_load(bus, names, rate))
        round_trips, durations, errors = await_results(bus, sent, timeout)
        load = load_window.report()
        load["cgroupMemoryKB"] = cgroup_memory_kb()
        agent.check_alive()
        restarted = set(children_of(agent.pid)) != set(function_pids)
        load_stats = {"events": len(sent), "achievedRate": len(sent) / load["seconds"],
                      "roundTripMs": summary(round_trips), "agentDurationMs": summary(durations),
                      "errors": len(errors), "functionsReplaced": restarted}
        final_health = thing.health(lambda h: len(h["functions"]) == functions, "the health after the load")
        log("done measuring; stopping")
    except HarnessError:
        for agent in agents.values():
            if agent.proc is not None:
                print("--- %s (%s), last lines:\n%s" % (agent.name, agent.log_path, tail(agent.log_text(), 15)),
                      file=sys.stderr)
        raise
    finally:
        for agent in agents.values():
            try:
                if agent.alive():  # the agent off may be stopped already
                    code = agent.stop(timeout)
                    if code:
                        problems.append("the agent %s exited with code %d after SIGTERM" % (agent.name, code))
                    elif code == 0:
                        # A clean stop removes the subtree the agent made: say so if it did not.
                        problems += ["the agent %s left its cgroup %s behind after a clean stop" % (agent.name, left)
                                     for left in agent.subtree_dirs()]
            except HarnessError as error:
                problems.append(str(error))
            agent.cleanup(stop_timeout=0)  # no process left behind, after a failure too
            if agent.cgroup_root:
                problems += ["cgroup that could not be removed: %s" % left
                             for left in remove_cgroup_tree(agent.cgroup_root)]
        if bus is not None:
            bus.close()
        if broker is not None:
            broker.stop()
    for problem in problems:
        print("warning: %s" % problem, file=sys.stderr)

    # 3. Report
    info = machine()
    info["cgroups"] = cgroups
    info["loadAverageAtStart"] = load_at_start
    busy, steal = cpu_shares(cpu_at_start, cpu_times())
    info["cpuStealPercent"], info["cpuBusyPercent"] = steal, busy
    users = sorted({f.get("user") for f in final_health["functions"].values() if f.get("user")})
    figures = {
        "benchmark": "caps",
        "date": started_wall,
        "command": args.command,
        "agentRevision": args.revision,
        "machine": info,
        "settings": {"functions": functions, "rounds": rounds, "singleRounds": single_rounds,
                     "pythonRounds": python_rounds, "idleSeconds": idle_seconds, "loadSeconds": load_seconds,
                     "rate": rate, "caps": CAPS, "healthIntervalSeconds": 1, "quick": QUICK,
                     "python": args.python or None, "pythonNote": args.python_note or None,
                     "functionUser": users},
        "spawnToReady": startup,
        "supervision": {"functions": functions, "idle": idle, "load": load, "loadStats": load_stats,
                        "healthAfterLoad": {name: {k: f.get(k) for k in ("restarts", "invocations", "errors",
                                                                         "latencyMs", "usage", "user")}
                                            for name, f in final_health["functions"].items()}},
        "durationSeconds": round(time.monotonic() - started, 1),
        "problems": problems,
    }

    lines = ["", "# edge-agent caps benchmark", ""]
    lines.append(machine_line(info))
    lines.append("- load average (1, 5, 15 min) at start %s, at end %s; all CPUs %.1f %% busy, %s %% steal%s" % (
        " ".join("%.2f" % v for v in load_at_start), " ".join("%.2f" % v for v in info["loadAverage"]),
        info["cpuBusyPercent"], info["cpuStealPercent"],
        ": the machine was busy with other work, the figures are noisier"
        if max(load_at_start[0], info["loadAverage"][0]) > 0.5 * info["nproc"] else ""))
    lines.append("- cgroups in use (health): %s, controllers %s" % (
        cgroups.get("version"), ", ".join(cgroups.get("controllers") or [])))
    lines.append("- agent: %s, release build; functions run as %s" % (args.revision, ", ".join(users) or "?"))
    lines.append("- run: %s UTC, %.0f s; caps: memoryMB %d, cpus %s, pids %d, openFiles %d" % (
        started_wall, figures["durationSeconds"], CAPS["memoryMB"], CAPS["cpus"], CAPS["pids"], CAPS["openFiles"]))
    lines += ["", "## Spawn to ready", "",
              "startupMs: the agent's figure in each `function.ready` event, from the return of its spawn "
              "(fork, cgroup join and exec done) to the function's `ready` line.",
              "deploy → last ready: one per deployment, seen by the benchmark over MQTT, from publishing "
              "the deployment to receiving its last `function.ready` (validation, staging, cgroup set-up, "
              "spawns, MQTT)."]
    for key, entry in startup.items():
        note = "Interpreter: %s." % args.python if key == "python1" else ""
        lines += startup_table("### %s, %d rounds" % (entry["title"], entry["rounds"]),
                               {mode: entry["configurations"][mode] for mode in modes}, modes, note)
    if not python_rounds:
        lines += ["", "Python function: skipped (%s)" % (args.python_note or "BENCH_PYTHON_ROUNDS=0")]
    lines += ["", "## Supervising %d capped echo functions (health every 1 s)" % functions, ""]
    lines += supervision_table(idle, load, functions, rate, load_stats)
    if load_stats["functionsReplaced"]:
        lines += ["", "note: the set of function processes changed during the windows (a restart?)"]
    for problem in problems:
        lines += ["", "warning: %s" % problem]
    lines += ["", "reproduce (as root, from the repository): `%s`" % args.command]
    write_figures(figures, lines, args.out)
    return 0


if __name__ == "__main__":
    run(main, "caps benchmark")
