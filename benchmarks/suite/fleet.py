"""Fleet: many agents on one broker, and one group deployment that reaches all of them. What a
fleet costs a machine and a broker, and how long one retained group document takes to be running
everywhere.

BENCH_FLEET_AGENTS agents (`--cgroups off`, the default health interval of 30 s) are started on
one Mosquitto, each a thing of its own (`fleet-0001`, …) in the thing group `bench-fleet`, each
with its own state folder and log. One MQTT client of the benchmark, subscribed to
`edge/things/+/health` and `edge/things/+/deployment/status`, keeps only what it needs: the
first retained health `online` (connected) of each thing and the final status of the watched
deployment.

1. Start: from the first Popen to every agent's health `online` received, i.e. all connected and
   subscribed; per agent, from its own Popen to its `online`.
2. One group deployment, published retained on `edge/groups/bench-fleet/deployment`: the native
   echo function (`examples/echo-native/echo.c`, a `file://` artifact, which each agent copies
   into its own content store), `healthySeconds` 0, so SUCCEEDED means its function is ready. From
   the publish to every agent's `SUCCEEDED` received on its status topic; per agent, that time and
   the one stamped by the agent in its status (its clock, the same machine's): the difference is
   what the agent's MQTT thread, the broker and the benchmark's client add, waiting for CPU
   included.
3. CPU over the start, over the deployment and over an idle window (BENCH_FLEET_IDLE_SECONDS,
   the fleet at rest: one health interval in a full run), in seconds and % of one core:
   - the agents: utime + stime from /proc/PID/stat (all threads, exited ones included). It
     counts whole 10 ms ticks, which average out over a fleet between two readings but not from
     a process's start: over the start, the sum of the agents' live threads'
     /proc/PID/task/*/schedstat (precise) is used instead;
   - their functions: the agents' child processes from /proc/PID/schedstat (/proc/PID/stat would
     round each one's millisecond down to nothing), plus what the agents reaped meanwhile;
   - Mosquitto, the benchmark itself, and the machine's busy share (/proc/stat);
   all read in one pass over /proc at each end of a window.
4. Memory before and after the deployment: the agents' VmRSS summed, and their Pss summed
   (smaps_rollup: the pages of the binary and of the shared libraries are shared between the
   agents, so Pss is the honest total and the VmRSS sum counts them N times); the functions' RSS
   and Pss sums; Mosquitto's VmRSS.
5. Stop: SIGTERM to every agent at once, then the time until all have exited.

Every wait has the deadline BENCH_TIMEOUT and fails naming what it waited for, how many of the
fleet got there, and the log of one that did not.
"""

import json
import os
import time
import uuid

from harness import (CLOCK_TICKS, FINAL, Observer, cpu_times, document, kv_kb, memory_of, native_function,
                     process_table, sha256_of, tail)

from ..figures import fmt_mb, summary
from ..settings import BenchError
from ..thing import validate

SETTINGS = {
    "BENCH_FLEET_AGENTS": (200, 20, "agents on one broker, each a thing of its own in the group bench-fleet"),
    "BENCH_FLEET_IDLE_SECONDS": (30, 5, "window with the fleet at rest after the deployment (0: skip it)"),
}

GROUP = "bench-fleet"
FUNCTION = "echo"


class FleetBus(Observer):
    """The benchmark's client, subscribed to the health and status topics only and keeping per
    thing only the first `online` health and the watched deployment's final status, instead of
    every message under `edge/things/#` in a list scanned on each wait. With 200 agents on 2
    cores, the events are half the messages of a deployment: with them, the client took 0.16 s
    of CPU in a deployment window of about 1 s, without them 0.11 s (the agents took about 1 s,
    Mosquitto 0.07 s), on a machine where every process competes for the same two cores."""

    def __init__(self, port, protocol=None):
        super().__init__(port, name="bench-fleet", filters=("edge/things/+/health", "edge/things/+/deployment/status"),
                         for_load=True, **({"protocol": protocol} if protocol is not None else {}))
        self.online = {}  # thing -> monotonic time its first health `online`, connected, arrived
        self.finals = {}  # thing -> (monotonic time received, status document) of the watched deployment
        self.watched = None  # (deploymentId, revision)
        self.counts = {"health": 0, "status": 0, "events": 0, "other": 0, "bytes": 0}

    def _on_message(self, client, userdata, raw):
        now = time.monotonic()
        parts = raw.topic.split("/")
        kind = ("health" if parts[3:] == ["health"] else "status" if parts[3:] == ["deployment", "status"]
                else "events" if parts[3:] == ["events"] else "other") if len(parts) > 3 else "other"
        document = None
        if kind in ("health", "status") and raw.payload:
            try:
                document = json.loads(raw.payload)
            except ValueError:
                document = None
        with self.cond:
            self.counts[kind] += 1
            self.counts["bytes"] += len(raw.payload)
            if not isinstance(document, dict):
                return
            thing = parts[2]
            if kind == "health":
                if (thing not in self.online and document.get("status") == "online"
                        and (document.get("connection") or {}).get("connected")):
                    self.online[thing] = now
                    self.cond.notify_all()
            elif (self.watched is not None and thing not in self.finals and document.get("status") in FINAL
                  and (document.get("deploymentId"), document.get("revision")) == self.watched):
                self.finals[thing] = (now, document)
                self.cond.notify_all()

    def wait_all(self, table, agents, timeout, what):
        """Until `table` (online or finals) holds every agent's thing; fails naming the missing."""
        deadline = time.monotonic() + timeout
        next_check = 0.0
        with self.cond:
            while True:
                missing = [a for a in agents if a.thing not in table]
                if not missing:
                    return
                now = time.monotonic()
                if now >= next_check:  # an agent that died will never get there
                    for agent in missing:
                        agent.check_alive()
                    next_check = now + 0.5
                if now >= deadline:
                    first = missing[0]
                    raise BenchError(
                        "timed out after %.0f s waiting for %s: %d of %d got there; missing %s%s (a larger fleet may "
                        "need a larger BENCH_TIMEOUT)\n--- the log of %s (%s), last lines:\n%s"
                        % (timeout, what, len(agents) - len(missing), len(agents),
                           ", ".join(a.thing for a in missing[:10]), ", …" if len(missing) > 10 else "",
                           first.name, first.log_path, tail(first.log_text())))
                self.cond.wait(min(deadline - now, 0.5))


def run_seconds(pid, threads=False):
    """CPU time in nanoseconds' precision (/proc/PID/schedstat) of a single-threaded process, or
    with `threads` of every live thread of one (/proc/PID/task/*/schedstat). /proc/PID/stat counts
    whole 10 ms ticks: an echo function uses about a millisecond to start, an agent a few, and each
    would be rounded down to nothing."""
    paths = (["/proc/%d/task/%s/schedstat" % (pid, t) for t in _listdir("/proc/%d/task" % pid)] if threads
             else ["/proc/%d/schedstat" % pid])
    total = 0
    for path in paths:
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # gone meanwhile
    return total / 1e9


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def cpu_snapshot(agents, broker_pid):
    """CPU seconds so far of the agents, their functions (live children, per pid, and what the
    agents reaped) and the broker, from one pass over /proc; and the machine's CPU times."""
    table = process_table()
    pids = {agent.pid for agent in agents}

    def ticks(fields, first=11):
        return int(fields[first]) + int(fields[first + 1])
    return {
        "wall": time.monotonic(),
        "machine": cpu_times(),
        "bench": time.process_time(),
        "agents": sum(ticks(table[p]) for p in pids if p in table) / CLOCK_TICKS,
        "agentsLiveThreads": sum(run_seconds(p, threads=True) for p in pids if p in table),
        "reaped": sum(ticks(table[p], 13) for p in pids if p in table) / CLOCK_TICKS,  # cutime + cstime
        "functions": {p: run_seconds(p) for p, f in table.items() if int(f[1]) in pids},
        "broker": ticks(table[broker_pid]) / CLOCK_TICKS if broker_pid in table else 0.0,
    }


def cpu_window(before, after, agents_key="agents"):
    """CPU seconds and % of one core over the window between two snapshots; the agents' from
    /proc/PID/stat (`agents`: exited threads included, whole ticks) or from their live threads'
    schedstat (`agentsLiveThreads`: precise; right where no thread exits, as over the start)."""
    wall = after["wall"] - before["wall"]
    functions = (sum(cpu - before["functions"].get(pid, 0.0) for pid, cpu in after["functions"].items())
                 + after["reaped"] - before["reaped"])
    spent = [b - a for a, b in zip(before["machine"], after["machine"])]
    total = max(1, sum(spent[:8]))
    out = {"seconds": round(wall, 3)}
    out["agentsCpuSource"] = {"agents": "/proc/PID/stat", "agentsLiveThreads": "/proc/PID/task/*/schedstat"}[agents_key]
    for key, value in (("agents", after[agents_key] - before[agents_key]), ("functions", functions),
                       ("broker", after["broker"] - before["broker"]), ("benchmarkClient", after["bench"] - before["bench"])):
        out[key + "CpuSeconds"] = round(value, 3)
        out[key + "CpuPercent"] = round(100.0 * value / wall, 1) if wall > 0 else None
    out["machineBusyPercent"] = round(100.0 * (total - spent[3] - spent[4]) / total, 1)
    return out


def memory_snapshot(agents, broker_pid):
    """Sums over the agents and over their functions, and the broker's, in kB."""
    table = process_table()
    pids = {agent.pid for agent in agents}
    functions = [p for p, f in table.items() if int(f[1]) in pids]
    out = {"agents": len(agents), "agentsVmRssKB": 0, "agentsPssKB": 0, "agentsAnonymousKB": 0, "agentsThreads": 0,
           "functions": 0, "functionsRssKB": 0, "functionsPssKB": 0}
    for agent in agents:
        try:
            entry = memory_of(agent.pid)
        except OSError:
            agent.check_alive()  # raises, with its log, if it exited
            raise
        out["agentsVmRssKB"] += entry["vmRssKB"] or 0
        out["agentsPssKB"] += entry["pssKB"] or 0
        out["agentsAnonymousKB"] += entry["anonymousKB"] or 0
        out["agentsThreads"] += entry["threads"] or 0
    for pid in functions:
        try:
            rollup = kv_kb("/proc/%d/smaps_rollup" % pid, ("Rss", "Pss"))
        except OSError:
            continue  # gone meanwhile
        out["functions"] += 1
        out["functionsRssKB"] += rollup.get("Rss", 0)
        out["functionsPssKB"] += rollup.get("Pss", 0)
    out["brokerVmRssKB"] = memory_of(broker_pid)["vmRssKB"]
    return out


def run(ctx):
    count = int(ctx.setting("BENCH_FLEET_AGENTS"))
    idle_seconds = float(ctx.setting("BENCH_FLEET_IDLE_SECONDS"))
    if count < 1:
        raise BenchError("BENCH_FLEET_AGENTS must be at least 1")
    run_id = uuid.uuid4().hex[:6]
    deployment_id = "bench-fleet-%s" % run_id
    echo = native_function(ctx.echo_bin, version="1.0.0", subscriptions=(), sha256=sha256_of(ctx.echo_bin))
    doc = document(deployment_id, 1, {FUNCTION: echo}, onFailure="none")
    validate(ctx.edgectl_bin, doc, ctx.workdir / "fleet-deployment.json",
             "the fleet's group deployment (fix the document in benchmarks/suite/fleet.py)", ctx.timeout)

    problems = []
    broker = ctx.broker("fleet")
    bus = FleetBus(broker.port)
    agents = []
    try:
        bus.start(ctx.timeout)

        # 1. Start
        ctx.log("fleet: starting %d agents" % count)
        before = cpu_snapshot([], broker.pid)
        popen_at = {}
        first_popen = time.monotonic()
        for i in range(1, count + 1):
            thing = "fleet-%04d" % i
            popen_at[thing] = time.monotonic()
            agents.append(ctx.agent(thing, thing, broker.port, groups=(GROUP,)))
        spawned = time.monotonic() - first_popen
        bus.wait_all(bus.online, agents, ctx.timeout, "the health `online` of all %d agents" % count)
        with bus.cond:
            online = dict(bus.online)
        start_cpu = cpu_window(before, cpu_snapshot(agents, broker.pid), "agentsLiveThreads")
        all_online = max(online.values()) - first_popen
        per_agent_start = [(online[t] - popen_at[t]) * 1000.0 for t in popen_at]
        ctx.log("fleet: all %d online %.2f s after the first Popen (Popen loop %.2f s)" % (count, all_online, spawned))
        memory_before = memory_snapshot(agents, broker.pid)

        # 2. One group deployment
        with bus.cond:
            bus.watched = (deployment_id, 1)
            counts_before = dict(bus.counts)
        before = cpu_snapshot(agents, broker.pid)
        sent_wall_ms = time.time() * 1000.0
        sent = time.monotonic()
        bus.publish("edge/groups/%s/deployment" % GROUP, json.dumps(doc), qos=1, retain=True)
        bus.wait_all(bus.finals, agents, ctx.timeout,
                     "the final status of the group deployment %s on all %d agents" % (deployment_id, count))
        deploy_cpu = cpu_window(before, cpu_snapshot(agents, broker.pid))
        with bus.cond:
            finals = dict(bus.finals)
            counts_after = dict(bus.counts)
        failed = {t: d for t, (_, d) in finals.items() if d.get("status") != "SUCCEEDED"}
        if failed:
            thing = sorted(failed)[0]
            raise BenchError("the group deployment %s did not succeed on %d of %d agents; %s: %s\n--- its log, last lines:\n%s"
                             % (deployment_id, len(failed), count, thing, json.dumps(failed[thing]),
                                tail(next(a.log_text() for a in agents if a.thing == thing))))
        all_succeeded = max(received for received, _ in finals.values()) - sent
        per_agent = {t: (received - sent) * 1000.0 for t, (received, _) in finals.items()}
        stamped = [d["timestamp"] - sent_wall_ms for _, d in finals.values()]
        slowest = max(per_agent, key=per_agent.get)
        ctx.log("fleet: all %d SUCCEEDED %.2f s after the publish" % (count, all_succeeded))
        memory_after = memory_snapshot(agents, broker.pid)
        if memory_after["functions"] != count:
            problems.append("fleet: %d function processes under %d agents after the deployment, expected one each"
                            % (memory_after["functions"], count))

        # 3. At rest
        idle_cpu = None
        if idle_seconds > 0:
            ctx.log("fleet: idle window %.0f s" % idle_seconds)
            before = cpu_snapshot(agents, broker.pid)
            time.sleep(idle_seconds)  # a measuring window: nothing to wait for but the clock
            idle_cpu = cpu_window(before, cpu_snapshot(agents, broker.pid))
            for agent in agents:
                agent.check_alive()
        memory_end = memory_snapshot(agents, broker.pid)

        # 4. Stop
        stopping = time.monotonic()
        problems += ["fleet: %s" % p for p in ctx.stop_agents(agents)]
        stop_seconds = time.monotonic() - stopping
        ctx.log("fleet: %d agents stopped in %.2f s" % (count, stop_seconds))
    finally:
        bus.close()

    deploy_counts = {k: counts_after[k] - counts_before[k] for k in counts_after}
    figures = {
        "agents": count, "group": GROUP, "deploymentId": deployment_id, "healthIntervalSeconds": 30, "healthySeconds": 0,
        "start": {"popenLoopSeconds": round(spawned, 3), "firstPopenToAllOnlineSeconds": round(all_online, 3),
                  "perAgentPopenToOnlineMs": summary(per_agent_start), "cpu": start_cpu,
                  "perAgentSamplesMs": [round(v, 1) for v in per_agent_start]},
        "deployment": {"publishToAllSucceededSeconds": round(all_succeeded, 3),
                       "perAgentMs": summary(list(per_agent.values())),
                       "perAgentAgentStampedMs": summary(stamped),
                       "slowest": {"thing": slowest, "ms": round(per_agent[slowest], 1)},
                       "cpu": deploy_cpu, "messagesToBenchmarkClient": deploy_counts,
                       "perAgentSamplesMs": {t: round(v, 1) for t, v in sorted(per_agent.items())}},
        "idle": idle_cpu,
        "memory": {"afterStart": memory_before, "afterDeployment": memory_after, "end": memory_end},
        "stopSeconds": round(stop_seconds, 3),
    }

    def cpu_cell(window, key):
        return "%.2f s (%.0f %%)" % (window[key + "CpuSeconds"], window[key + "CpuPercent"])

    def per(total_kb):
        return "%s (%.1f MB each)" % (fmt_mb(total_kb), total_kb / 1024.0 / count)

    d, s = figures["deployment"], figures["start"]
    windows = [("start", start_cpu), ("deployment", deploy_cpu)] + ([("idle", idle_cpu)] if idle_cpu else [])
    lines = ["### Fleet: %d agents on one broker, one group deployment" % count, "",
             "Agents `--cgroups off`, health every 30 s, each a thing in the group `%s`; one retained group deployment "
             "(the native echo, `file://`, `healthySeconds` 0) timed from its publish to every agent's SUCCEEDED "
             "received; CPU from /proc (stat; schedstat for the functions and the agents' start), %% of one core (the machine "
             "has %d); memory summed over the fleet."
             % (GROUP, os.cpu_count()), "",
             "| | |", "|---|---:|",
             "| start: first Popen → all %d `online` (Popen loop %.2f s) | %.2f s |" % (count, spawned, all_online),
             "| start, per agent Popen → online: median / p90 / max | %.0f / %.0f / %.0f ms |" % (
                 s["perAgentPopenToOnlineMs"]["median"], s["perAgentPopenToOnlineMs"]["p90"], s["perAgentPopenToOnlineMs"]["max"]),
             "| group deployment: publish → all %d SUCCEEDED received | %.2f s |" % (count, all_succeeded),
             "| per agent publish → SUCCEEDED received: median / p90 / slowest (%s) | %.0f / %.0f / %.0f ms |" % (
                 slowest, d["perAgentMs"]["median"], d["perAgentMs"]["p90"], d["perAgentMs"]["max"]),
             "| per agent, the status's own timestamp: median / p90 / max | %.0f / %.0f / %.0f ms |" % (
                 d["perAgentAgentStampedMs"]["median"], d["perAgentAgentStampedMs"]["p90"], d["perAgentAgentStampedMs"]["max"])]
    for label, window in windows:
        lines.append("| CPU over the %s (%.1f s): agents / functions / mosquitto / benchmark client; machine busy "
                     "| %s / %s / %s / %s; %.0f %% |" % (
                         label, window["seconds"], cpu_cell(window, "agents"), cpu_cell(window, "functions"),
                         cpu_cell(window, "broker"), cpu_cell(window, "benchmarkClient"), window["machineBusyPercent"]))
    for label, memory in (("after start", memory_before), ("after the deployment", memory_after)):
        lines.append("| agents %s: VmRSS sum / Pss sum | %s / %s |" % (
            label, per(memory["agentsVmRssKB"]), per(memory["agentsPssKB"])))
    lines += ["| %d functions: RSS sum / Pss sum | %s / %s |" % (
                  memory_after["functions"], fmt_mb(memory_after["functionsRssKB"]), fmt_mb(memory_after["functionsPssKB"])),
              "| mosquitto VmRSS, after start / after the deployment | %s / %s |" % (
                  fmt_mb(memory_before["brokerVmRssKB"]), fmt_mb(memory_after["brokerVmRssKB"])),
              "| stop: SIGTERM to all → all exited | %.2f s |" % stop_seconds]
    took = figures["deployment"]["publishToAllSucceededSeconds"]
    goals = [{"what": "%d-device group deployment, publish → all SUCCEEDED" % figures["agents"],
              "goal": "< 10 s (200 devices)", "figure": "%.2f s" % took, "met": took < 10}]
    return {"json": figures, "table": "\n".join(lines), "problems": problems, "goals": goals}
