"""Footprint: what the agent costs a device by itself.

- The binary: its size on disk and the shared libraries it loads at start.
- Start: from just before the benchmark starts the process (fork and exec included) to the
  agent's log line `connected to the broker` (its timestamp, in ms), over BENCH_FOOTPRINT_STARTS
  starts with an empty state folder; then as many restarts with 10 long-lived native functions
  deployed (restored from the state folder at start, before the broker answers), to the last of
  their `function.ready` events (each event's own `timestamp`).
- Memory (VmRSS, RssAnon, Pss, VmHWM from /proc): idle (connected, no function), with 10
  long-lived native functions, and after BENCH_FOOTPRINT_INVOCATIONS invocations spread over
  them (edge-loadgen at saturation, QoS 0), each after BENCH_FOOTPRINT_SETTLE seconds of quiet.

The agent runs with `--cgroups off`, like every agent of the suite (the caps benchmark measures
cgroups), and its default health interval.
"""

import calendar
import os
import subprocess
import time

from harness import children_of, memory_of, native_function, rss_kb, sha256_of, tail

from ..figures import percentile
from ..settings import BenchError
from ..thing import Thing, things_observer

SETTINGS = {
    "BENCH_FOOTPRINT_STARTS": (10, 3, "starts measured, empty and with 10 functions"),
    "BENCH_FOOTPRINT_FUNCTIONS": (10, 10, "long-lived native functions"),
    "BENCH_FOOTPRINT_INVOCATIONS": (100000, 20000, "invocations before the last memory reading"),
    "BENCH_FOOTPRINT_SETTLE": (5, 2, "seconds of quiet before each memory reading"),
}

CONNECTED = "connected to the broker"


def _log_time_ms(line):
    """The wall-clock ms of an agent log line (`2026-11-24T23:24:24.846Z info …`)."""
    stamp = line.split(" ", 1)[0]
    seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + int(stamp[20:23])


def _wait_connected(ctx, agent, offset):
    """The timestamp of the first `connected` line written after `offset` in the agent's log."""
    deadline = time.monotonic() + ctx.timeout
    while True:
        agent.check_alive()
        with open(agent.log_path, "rb") as log:
            log.seek(offset)
            for raw in log.read().decode(errors="replace").splitlines():
                if CONNECTED in raw:
                    return _log_time_ms(raw)
        if time.monotonic() >= deadline:
            raise BenchError("the agent %s did not log %r within %.0f s; its log:\n%s"
                             % (agent.name, CONNECTED, ctx.timeout, tail(agent.log_text())))
        time.sleep(0.005)  # polling a file for a line; the deadline above bounds it


def _start_timed(ctx, agent):
    """Starts the agent; returns (wall ms just before the start, wall ms of its connection)."""
    offset = agent.log_path.stat().st_size if agent.log_path.exists() else 0
    started = time.time() * 1000
    agent.start()
    return started, _wait_connected(ctx, agent, offset)


def _memory(agent):
    mem = memory_of(agent.pid)
    status = {}
    for line in open("/proc/%d/status" % agent.pid):
        key, _, rest = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            status[key] = int(rest.split()[0])
    mem.update(rssAnonKB=status.get("RssAnon"), rssFileKB=status.get("RssFile"))
    functions = children_of(agent.pid)
    mem["functions"] = len(functions)
    mem["functionsRssKB"] = sum(rss_kb(pid) for pid in functions)
    return mem


def _libraries(binary):
    done = subprocess.run(["ldd", binary], capture_output=True, text=True)
    return [line.split()[0] for line in done.stdout.splitlines() if "=>" in line]


def run(ctx):
    starts = int(ctx.setting("BENCH_FOOTPRINT_STARTS"))
    count = int(ctx.setting("BENCH_FOOTPRINT_FUNCTIONS"))
    invocations = int(ctx.setting("BENCH_FOOTPRINT_INVOCATIONS"))
    settle = float(ctx.setting("BENCH_FOOTPRINT_SETTLE"))
    if starts < 1 or count < 1:
        raise BenchError("BENCH_FOOTPRINT_STARTS and BENCH_FOOTPRINT_FUNCTIONS must be at least 1")
    result = {"binaryBytes": os.path.getsize(ctx.agent_bin), "libraries": _libraries(ctx.agent_bin)}
    broker = ctx.broker("footprint-broker")
    bus = things_observer(broker.port, ctx.timeout)
    try:
        # Cold starts: a new agent (and state folder) each time.
        cold = []
        for i in range(starts):
            agent = ctx.agent("cold-%d" % i, "bench-cold-%d" % i, broker.port, start=False)
            began, connected = _start_timed(ctx, agent)
            cold.append(connected - began)
            if i < starts - 1:
                ctx.stop_agents([agent])
        time.sleep(settle)  # the measurement window of "idle", not a synchronisation
        result["startToConnectedMs"] = cold
        result["idle"] = _memory(agent)
        ctx.log("  empty start → connected: median %.0f ms; idle VmRSS %.1f MB"
                % (percentile(cold, 50), result["idle"]["vmRssKB"] / 1024))

        # Ten long-lived native functions.
        sha = sha256_of(ctx.echo_bin)
        functions = {"echo-%02d" % i: native_function(ctx.echo_bin, version="1.0.0", sha256=sha,
                                                       subscriptions=["bench/footprint/%d/in" % i], qos=0,
                                                       output="bench/footprint/out") for i in range(count)}
        thing = Thing(bus, agent, ctx.timeout)
        thing.deploy("bench-footprint", functions, count)
        time.sleep(settle)
        result["withFunctions"] = _memory(agent)
        ctx.log("  with %d functions: VmRSS %.1f MB" % (count, result["withFunctions"]["vmRssKB"] / 1024))

        # Restarts with the functions restored from the state folder.
        warm, ready, both = [], [], []
        for i in range(starts):
            ctx.stop_agents([agent], forget=False)
            since = bus.mark()
            began, connected = _start_timed(ctx, agent)
            events = bus.wait_count(thing.topics.events, lambda m: m.json["type"] == "function.ready", count,
                                    ctx.timeout, "%d function.ready events after restart %d" % (count, i + 1), since,
                                    check=agent.check_alive)[:count]
            warm.append(connected - began)
            last_ready = max(m.json["timestamp"] for m in events)
            ready.append(last_ready - began)
            both.append(max(last_ready, connected) - began)
        result["restartToConnectedMs"] = warm
        result["restartToFunctionsReadyMs"] = ready
        result["restartToConnectedAndReadyMs"] = both
        ctx.log("  restart with %d functions → connected median %.0f ms, → all ready median %.0f ms"
                % (count, percentile(warm, 50), percentile(ready, 50)))
        time.sleep(settle)
        result["afterRestart"] = _memory(agent)

        # Invocations through the functions, then quiet.
        load = ctx.loadgen(["run", "--port", broker.port, "--topic", "bench/footprint/{i}/in", "--topics", count,
                            "--reply", "bench/footprint/out", "--qos", 0, "--rate", 0, "--window", 32,
                            "--requests", invocations], timeout=ctx.timeout + invocations / 100)
        agent.check_alive()
        time.sleep(settle)
        result["afterInvocations"] = _memory(agent)
        result["invocations"] = {"requested": invocations, "answered": load["received"],
                                 "errors": load["errors"], "missing": load["missing"],
                                 "throughput": load["throughput"], "command": load["command"]}
        ctx.log("  after %d invocations: VmRSS %.1f MB, VmHWM %.1f MB"
                % (load["received"], result["afterInvocations"]["vmRssKB"] / 1024,
                   result["afterInvocations"]["vmHwmKB"] / 1024))
    finally:
        bus.close()
    problems = []
    if result["invocations"]["answered"] != invocations:
        problems.append("footprint: %d of %d invocations answered (%d errors, %d missing)"
                        % (result["invocations"]["answered"], invocations, result["invocations"]["errors"],
                           result["invocations"]["missing"]))
    return {"json": result, "table": _table(result, count), "problems": problems, "goals": _goals(result, count)}


def _mb(kb):
    return "—" if kb is None else "%.1f MB" % (kb / 1024.0)


def _table(r, count):
    def ms(values):
        return "median %.0f ms (min %.0f, max %.0f, n %d)" % (percentile(values, 50), min(values), max(values), len(values))
    rows = [("idle (connected, no function)", r["idle"]), ("%d long-lived native functions" % count, r["withFunctions"]),
            ("the same, after a restart", r["afterRestart"]),
            ("after %d invocations" % r["invocations"]["answered"], r["afterInvocations"])]
    lines = ["### Footprint", "",
             "The agent's binary is %.1f MB on disk and loads %d shared libraries."
             % (r["binaryBytes"] / 1e6, len(r["libraries"])), "",
             "| | VmRSS | RssAnon | RssFile | Pss | VmHWM | functions' RSS |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, m in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, _mb(m["vmRssKB"]), _mb(m["rssAnonKB"]), _mb(m["rssFileKB"]), _mb(m["pssKB"]), _mb(m["vmHwmKB"]),
            _mb(m["functionsRssKB"]) if m["functions"] else "—"))
    lines += ["", "- start → connected, empty state: " + ms(r["startToConnectedMs"]),
              "- start → connected, %d functions restored: %s" % (count, ms(r["restartToConnectedMs"])),
              "- start → all %d functions ready: %s" % (count, ms(r["restartToFunctionsReadyMs"])),
              "- start → connected and all %d functions ready: %s" % (count, ms(r["restartToConnectedAndReadyMs"]))]
    return "\n".join(lines)


def _goals(r, count):
    rss = r["withFunctions"]["vmRssKB"] / 1024.0
    ready = percentile(r["restartToConnectedAndReadyMs"], 50)
    return [{"what": "agent resident memory with %d functions (VmRSS)" % count, "goal": "≤ 8 MB",
             "figure": "%.1f MB" % rss, "met": rss <= 8},
            {"what": "start → connected and all %d functions ready (median)" % count, "goal": "< 50 ms",
             "figure": "%.0f ms" % ready, "met": ready < 50}]
