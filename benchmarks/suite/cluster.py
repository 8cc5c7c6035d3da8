"""Cluster: a fleet on a 3-node NATS cluster (JetStream, MQTT 3.1.1) instead of one Mosquitto,
one group deployment published on one node, and a node killed under the fleet.

BENCH_CLUSTER_AGENTS agents (`--cgroups off`, `--mqtt-protocol 3.1.1`, health every 30 s), each a
thing of the group `bench-cluster` with every node in its `--broker` list, rotated so that a
third of the fleet starts on each node. The benchmark's client is on node 2.

1. Start: from the first Popen to every agent's health `online` received (connected and
   subscribed: each subscription is a JetStream consumer, replicated on the 3 nodes).
2. One group deployment (the native echo, `healthySeconds` 0) published retained on node 1:
   from the publish to every agent's SUCCEEDED received. CPU of the agents, their functions and
   the 3 nats-server processes over it; the agents' Pss summed.
3. Node 1 killed (SIGKILL): the time until every agent that was on it has said `online` from
   another node (its health on connect names the endpoint), and how many did.

Every wait has the deadline BENCH_TIMEOUT (a larger fleet may need more).
"""

import json
import os
import signal
import time
import uuid

from harness import document, native_function, sha256_of, tail

from ..figures import fmt_mb, summary
from ..settings import BenchError
from ..thing import validate
from .fleet import FleetBus, cpu_window, memory_snapshot, run_seconds

SETTINGS = {
    "BENCH_CLUSTER_AGENTS": (200, 30, "agents on the 3-node NATS cluster, a third starting on each node (1000 needs more than 2 cores: docs/benchmarks.md)"),
}

GROUP = "bench-cluster"


class ClusterBus(FleetBus):
    """FleetBus, and after `moving_from` is set, when each thing first said `online` from another endpoint."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt
        super().__init__(port, protocol=mqtt.MQTTv311)
        self.moving_from = None
        self.moved = {}
        self.last_broker = {}

    def _on_message(self, client, userdata, raw):
        super()._on_message(client, userdata, raw)
        parts = raw.topic.split("/")
        if parts[3:] != ["health"] or not raw.payload:
            return
        try:
            health = json.loads(raw.payload)
        except ValueError:
            return
        connection = health.get("connection") or {}
        if health.get("status") != "online" or not connection.get("connected"):
            return
        now = time.monotonic()
        with self.cond:
            self.last_broker[parts[2]] = connection.get("broker")
            if self.moving_from is not None and parts[2] not in self.moved and connection.get("broker") != self.moving_from:
                self.moved[parts[2]] = now
                self.cond.notify_all()


def cluster_cpu(agents, nodes):
    """CPU seconds of the agents (live threads), their functions and the nats-server nodes."""
    from harness import process_table
    table = process_table()
    pids = {agent.pid for agent in agents}
    return {
        "wall": time.monotonic(),
        "agents": sum(run_seconds(p, threads=True) for p in pids if p in table),
        "functions": sum(run_seconds(p) for p, f in table.items() if int(f[1]) in pids),
        "brokers": sum(run_seconds(n.pid, threads=True) for n in nodes if n.running),
    }


def cpu_delta(before, after):
    wall = after["wall"] - before["wall"]
    out = {"seconds": round(wall, 3)}
    for key in ("agents", "functions", "brokers"):
        value = after[key] - before[key]
        out[key + "CpuSeconds"] = round(value, 3)
        out[key + "CpuPercent"] = round(100.0 * value / wall, 1) if wall > 0 else None
    return out


def run(ctx):
    count = int(ctx.setting("BENCH_CLUSTER_AGENTS"))
    if count < 3:
        raise BenchError("BENCH_CLUSTER_AGENTS must be at least 3 (one per node)")
    run_id = uuid.uuid4().hex[:6]
    deployment_id = "bench-cluster-%s" % run_id
    echo = native_function(ctx.echo_bin, version="1.0.0", subscriptions=(), sha256=sha256_of(ctx.echo_bin))
    doc = document(deployment_id, 1, {"echo": echo}, onFailure="none")
    validate(ctx.edgectl_bin, doc, ctx.workdir / "cluster-deployment.json",
             "the cluster's group deployment (fix the document in benchmarks/suite/cluster.py)", ctx.timeout)

    cluster = ctx.cluster("cluster")
    nodes = cluster.nodes
    endpoints = ["127.0.0.1:%d" % n.port for n in nodes]
    ctx.log("cluster: 3 NATS nodes ready in %.1f s (MQTT on %s)" % (cluster.start_seconds, ", ".join(endpoints)))
    bus = ClusterBus(nodes[1].port)
    deployer = ClusterBus(nodes[0].port)
    agents = []
    problems = []
    try:
        bus.start(ctx.timeout)
        deployer.start(ctx.timeout)

        # 1. Start
        ctx.log("cluster: starting %d agents" % count)
        before = cluster_cpu([], nodes)
        first = time.monotonic()
        for i in range(count):
            thing = "cl-%04d" % (i + 1)
            order = [endpoints[(i + k) % 3] for k in range(3)]
            agents.append(ctx.agent(thing, thing, nodes[0].port, groups=(GROUP,), brokers=order,
                                    extra_args=["--mqtt-protocol", "3.1.1"]))
        spawned = time.monotonic() - first
        bus.wait_all(bus.online, agents, ctx.timeout, "the health `online` of all %d agents" % count)
        all_online = max(bus.online.values()) - first
        start_cpu = cpu_delta(before, cluster_cpu(agents, nodes))
        ctx.log("cluster: all %d online %.2f s after the first Popen" % (count, all_online))

        # 2. One group deployment, published on node 1
        with bus.cond:
            bus.watched = (deployment_id, 1)
        before = cluster_cpu(agents, nodes)
        sent = time.monotonic()
        deployer.publish("edge/groups/%s/deployment" % GROUP, json.dumps(doc), qos=1, retain=True, timeout=ctx.timeout)
        bus.wait_all(bus.finals, agents, ctx.timeout, "SUCCEEDED of %s on all %d agents" % (deployment_id, count))
        deploy_cpu = cpu_delta(before, cluster_cpu(agents, nodes))
        with bus.cond:
            finals = dict(bus.finals)
        failed = sorted(t for t, (_, d) in finals.items() if d.get("status") != "SUCCEEDED")
        if failed:
            raise BenchError("the group deployment failed on %d agents; %s: %s\n%s" % (
                len(failed), failed[0], json.dumps(finals[failed[0]][1]),
                tail(next(a.log_text() for a in agents if a.thing == failed[0]))))
        all_succeeded = max(received for received, _ in finals.values()) - sent
        per_agent = [(received - sent) * 1000.0 for received, _ in finals.values()]
        ctx.log("cluster: all %d SUCCEEDED %.2f s after the publish on node 1" % (count, all_succeeded))
        memory = memory_snapshot(agents, nodes[0].pid)
        brokers_rss = sum(memory_of_pid(n.pid) for n in nodes)

        # 3. Node 1 killed under the fleet
        with bus.cond:
            on_first = [a for a in agents if bus.last_broker.get(a.thing) == endpoints[0]]
            bus.moving_from = endpoints[0]
        ctx.log("cluster: killing node 1 under the %d agents on it" % len(on_first))
        killed = time.monotonic()
        os.kill(nodes[0].pid, signal.SIGKILL)
        nodes[0].proc.wait(10)
        bus.wait_all(bus.moved, on_first, ctx.timeout, "the %d agents of node 1 online on another node" % len(on_first))
        with bus.cond:
            moves = [(bus.moved[a.thing] - killed) * 1000.0 for a in on_first]
        all_moved = max(moves) / 1000.0 if moves else 0.0
        ctx.log("cluster: every agent of node 1 back on another node %.2f s after the kill" % all_moved)
        problems += ["cluster: %s" % p for p in ctx.stop_agents(agents)]
    finally:
        bus.close()
        deployer.close()

    figures = {
        "agents": count, "nodes": 3, "broker": "nats-server 2.9 (JetStream, MQTT 3.1.1), 3 nodes, stream and consumer replicas 3",
        "startSeconds": round(all_online, 3), "popenLoopSeconds": round(spawned, 3), "startCpu": start_cpu,
        "deployment": {"publishToAllSucceededSeconds": round(all_succeeded, 3), "perAgentMs": summary(per_agent),
                       "cpu": deploy_cpu},
        "memory": {"agentsPssKB": memory["agentsPssKB"], "agentsVmRssKB": memory["agentsVmRssKB"],
                   "functionsPssKB": memory["functionsPssKB"], "brokersVmRssKB": brokers_rss},
        "failover": {"agentsOnKilledNode": len(on_first), "killToAllBackSeconds": round(all_moved, 3),
                     "perAgentMs": summary(moves)},
    }
    d = figures["deployment"]
    lines = ["### Cluster: %d agents on a 3-node NATS cluster, one group deployment, a node killed" % count, "",
             "nats-server 2.9 with JetStream and MQTT (3.1.1), stream and consumer replicas 3, on this machine; agents "
             "`--cgroups off --mqtt-protocol 3.1.1`, a third starting on each node; the deployment published retained on "
             "node 1, the benchmark's client on node 2.", "",
             "| | |", "|---|---:|",
             "| start: first Popen → all %d `online` | %.2f s |" % (count, all_online),
             "| group deployment published on node 1 → all %d SUCCEEDED received | %.2f s |" % (count, all_succeeded),
             "| per agent: median / p90 / max | %.0f / %.0f / %.0f ms |" % (
                 d["perAgentMs"]["median"], d["perAgentMs"]["p90"], d["perAgentMs"]["max"]),
             "| CPU over the deployment (%.1f s): agents / functions / 3 NATS nodes | %.2f s / %.2f s / %.2f s (%.0f %% of a core) |" % (
                 deploy_cpu["seconds"], deploy_cpu["agentsCpuSeconds"], deploy_cpu["functionsCpuSeconds"],
                 deploy_cpu["brokersCpuSeconds"], deploy_cpu["brokersCpuPercent"]),
             "| CPU over the start (%.1f s): agents / 3 NATS nodes | %.2f s / %.2f s |" % (
                 start_cpu["seconds"], start_cpu["agentsCpuSeconds"], start_cpu["brokersCpuSeconds"]),
             "| agents' Pss sum / VmRSS sum | %s (%.1f MB each) / %s |" % (
                 fmt_mb(memory["agentsPssKB"]), memory["agentsPssKB"] / 1024.0 / count, fmt_mb(memory["agentsVmRssKB"])),
             "| 3 NATS nodes' VmRSS sum | %s |" % fmt_mb(brokers_rss),
             "| node 1 killed: its %d agents all `online` on another node | %.2f s (per agent median %.0f ms) |" % (
                 len(on_first), all_moved, figures["failover"]["perAgentMs"]["median"] if moves else 0)]
    goals = [{"what": "%d agents on a 3-node NATS cluster, group deployment publish → all SUCCEEDED" % count,
              "goal": "≤ 5 s", "figure": "%.2f s" % all_succeeded, "met": all_succeeded <= 5}]
    return {"json": figures, "table": "\n".join(lines), "problems": problems, "goals": goals}


def memory_of_pid(pid):
    from harness import memory_of
    try:
        return memory_of(pid)["vmRssKB"] or 0
    except OSError:
        return 0
