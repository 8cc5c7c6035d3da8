"""Offline: results produced while the broker is away, then delivered once it is back.

- The agent reaches its broker through a relay (benchmarks/proxy.py) that the benchmark cuts:
  for the agent the broker is gone (connects refused), while the benchmark's own clients stay
  connected to the broker and miss nothing.
- A Python function publishes BENCH_OFFLINE_RESULTS results (QoS 1, `context.publish`) while the
  agent is cut off; they go to the agent's outbox on disk. Measured: how long that took, and
  the outbox's size on disk.
- The relay comes back. Measured: the time from then to the last result received by a
  subscriber on the broker, results a second, and whether every one arrived, once, in order.
- Live traffic meanwhile: a native echo function is asked BENCH_OFFLINE_LIVE_RATE times a second
  (QoS 0) throughout; the p50 and p99 of its answers' latency during the replay, against the
  same before the outage.
"""

import json
import os
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt

from harness import native_function, python_function, sha256_of, write_module

from ..figures import percentile
from ..proxy import Relay
from ..settings import BenchError
from ..thing import Thing, things_observer

SETTINGS = {
    "BENCH_OFFLINE_RESULTS": (100000, 20000, "results produced while the broker is away"),
    "BENCH_OFFLINE_LIVE_RATE": (100, 100, "live requests a second to another function throughout"),
    "BENCH_OFFLINE_BASELINE_SECONDS": (5, 3, "seconds of live traffic measured before the outage"),
}

PRODUCER = '''
import os
import time


def handler(event, context):
    deadline = time.monotonic() + 600
    while not os.path.exists(event["gate"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    for n in range(event["count"]):
        context.publish(event["topic"], {"n": n}, qos=1)
    return {"published": event["count"]}
'''

OUT = "bench/offline/out"
LIVE_IN = "bench/offline/live/in"
LIVE_OUT = "bench/offline/live/out"


class _Client:
    """A paho client on the broker itself, recording arrival times as they come."""

    def __init__(self, port, name, topic, qos):
        self.arrivals = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-%s-%d" % (name, os.getpid()),
                                  protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, qos)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()

    def _on_message(self, client, userdata, message):
        now = time.monotonic()
        with self.lock:
            self.arrivals.append((now, message.payload))

    def wait_subscribed(self, timeout):
        if not self.subscribed.wait(timeout):
            raise BenchError("the benchmark's subscriber was not acknowledged within %.0f s" % timeout)

    def count(self):
        with self.lock:
            return len(self.arrivals)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class _Live:
    """Requests to the echo function at a fixed rate, each answer's latency kept with its send time."""

    def __init__(self, port, rate):
        self.rate = rate
        self.sent = {}
        self.receiver = _Client(port, "live-out", LIVE_OUT, 0)
        self.sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-live-in-%d" % os.getpid(),
                                  protocol=mqtt.MQTTv311)
        self.sender.connect("127.0.0.1", port, 30)
        self.sender.loop_start()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout):
        self.receiver.wait_subscribed(timeout)
        self.thread.start()

    def _run(self):
        n = 0
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop_flag.is_set():
            self.sent[n] = time.monotonic()
            self.sender.publish(LIVE_IN, json.dumps({"n": n}), qos=0)
            n += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_flag.wait(delay)  # the request pacing itself

    def latencies(self, start, end):
        """(latency ms of the answers to requests sent in [start, end), requests sent then)."""
        with self.receiver.lock:
            arrivals = list(self.receiver.arrivals)
        answered = {}
        self.failed = []
        for at, payload in arrivals:
            try:
                document = json.loads(payload)
                n = document["result"]["echo"]["n"]
            except (ValueError, KeyError, TypeError):
                self.failed.append(payload[:200])
                continue
            answered.setdefault(n, at)
        sent = [(n, at) for n, at in list(self.sent.items()) if start <= at < end]
        return [(answered[n] - at) * 1000 for n, at in sent if n in answered], len(sent)

    def close(self):
        self.stop_flag.set()
        self.thread.join(2)
        self.sender.disconnect()
        self.sender.loop_stop()
        self.receiver.close()


def _stored(state_dir, topic):
    path = state_dir / "outbox.db"
    if not path.exists():
        return 0
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM outbox WHERE topic = ?", (topic,)).fetchone()[0]
    finally:
        db.close()


def _wait(ctx, what, condition, timeout, agent):
    deadline = time.monotonic() + timeout
    while not condition():
        agent.check_alive()
        if time.monotonic() >= deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.05)  # polling a file or a counter; the deadline above bounds it


def run(ctx):
    count = int(ctx.setting("BENCH_OFFLINE_RESULTS"))
    rate = int(ctx.setting("BENCH_OFFLINE_LIVE_RATE"))
    baseline_seconds = float(ctx.setting("BENCH_OFFLINE_BASELINE_SECONDS"))
    if not ctx.python:
        return {"json": {"skipped": ctx.python_note}, "table": "### Offline\n\nSkipped: %s" % ctx.python_note,
                "notes": ["offline: skipped: %s" % ctx.python_note]}
    broker = ctx.broker("offline-broker")
    relay = Relay(broker.port).start()
    bus = things_observer(broker.port, ctx.timeout)
    folder = ctx.workdir / "offline"
    folder.mkdir(mode=0o755, exist_ok=True)
    gate = folder / "gate"
    module = write_module(folder, "producer", PRODUCER)
    live = results = None
    try:
        agent = ctx.agent("offline", "bench-offline", relay.port)
        functions = {
            "producer": python_function(module, "producer.handler", subscriptions=["bench/offline/go"], qos=1,
                                        publish=["bench/offline/#"], timeoutMs=600000,
                                        limits={"publishPerSecond": 100000, "publishKBPerSecond": 1048576}),
            "echo": native_function(ctx.echo_bin, version="1", sha256=sha256_of(ctx.echo_bin), subscriptions=[LIVE_IN],
                                    qos=0, output=LIVE_OUT),
        }
        Thing(bus, agent, ctx.timeout).deploy("bench-offline", functions, 2)
        results = _Client(broker.port, "results", OUT, 1)
        results.wait_subscribed(ctx.timeout)
        live = _Live(broker.port, rate)
        live.start(ctx.timeout)
        base_start = time.monotonic()
        time.sleep(baseline_seconds)  # the baseline's measurement window
        base_end = time.monotonic()

        bus.publish("bench/offline/go", json.dumps({"gate": str(gate), "count": count, "topic": OUT}), qos=1)
        time.sleep(0.5)  # the event reaches the function (it waits on the gate); not a synchronisation of results
        offset = agent.log_path.stat().st_size
        relay.down()
        _wait(ctx, "the agent to notice the broker is gone",
              lambda: "lost the broker" in agent.log_path.read_bytes()[offset:].decode(errors="replace"), ctx.timeout, agent)
        produced_at = time.monotonic()
        gate.write_text("")
        _wait(ctx, "the outbox on disk to hold the %d results" % count,
              lambda: _stored(agent.state_dir, OUT) >= count, ctx.timeout + count / 500, agent)
        produce_seconds = time.monotonic() - produced_at
        db_bytes = sum(p.stat().st_size for p in agent.state_dir.glob("outbox.db*"))
        ctx.log("  %d results stored offline in %.1f s (outbox.db and its log: %.1f MB)"
                % (count, produce_seconds, db_bytes / 1e6))

        back = time.monotonic()
        relay.up()
        _wait(ctx, "the %d results delivered after the broker came back" % count,
              lambda: results.count() >= count, ctx.timeout + count / 500, agent)
        with results.lock:
            arrivals = list(results.arrivals)
        done = arrivals[count - 1][0]
        deliver_seconds = done - back
        numbers = [json.loads(p)["n"] for _, p in arrivals]
        in_order = numbers == sorted(numbers)
        duplicates = len(numbers) - len(set(numbers))
        # The replay window runs from the first result replayed (the agent is back: live requests
        # sent before that, QoS 0, found no session to wait in) to the last. The answers to its
        # last requests are still on their way: a few seconds at most.
        first = arrivals[0][0]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(live.latencies(first, done)[0]) < live.latencies(first, done)[1]:
            time.sleep(0.1)  # bounded by the deadline above
        replay_latency, replay_sent = live.latencies(first, done)
        if live.failed:
            ctx.log("  live answers that were not results: %d, e.g. %s" % (len(live.failed), live.failed[:2]))
        base_latency, base_sent = live.latencies(base_start, base_end)
    finally:
        if live:
            live.close()
        if results:
            results.close()
        bus.close()
        relay.close()
    result = {
        "results": count, "storedOfflineSeconds": round(produce_seconds, 2), "outboxBytes": db_bytes,
        "deliverSeconds": round(deliver_seconds, 2), "deliveredPerSecond": round(count / deliver_seconds),
        "received": len(numbers), "inOrder": in_order, "duplicates": duplicates,
        "live": {"rate": rate,
                 "baseline": {"sent": base_sent, "answered": len(base_latency),
                              "p50Ms": percentile(base_latency, 50), "p99Ms": percentile(base_latency, 99)},
                 "duringReplay": {"sent": replay_sent, "answered": len(replay_latency),
                                  "p50Ms": percentile(replay_latency, 50), "p99Ms": percentile(replay_latency, 99)}},
    }
    ctx.log("  delivered %d in %.2f s after the broker came back (%d/s), in order: %s, duplicates: %d; live p99 %.1f ms"
            " during the replay (%.1f ms before)" % (count, deliver_seconds, count / deliver_seconds, in_order, duplicates,
                                                    result["live"]["duringReplay"]["p99Ms"] or -1,
                                                    result["live"]["baseline"]["p99Ms"] or -1))
    problems = []
    if len(set(numbers)) != count or not in_order:
        problems.append("offline: %d distinct of %d results arrived, in order: %s" % (len(set(numbers)), count, in_order))
    return {"json": result, "table": _table(result), "problems": problems}


def _table(r):
    live = r["live"]

    def ms(value):
        return "—" if value is None else "%.1f ms" % value
    return "\n".join([
        "### Offline", "",
        "| | figure |", "|---|---:|",
        "| results stored while the broker was away | %d in %.1f s |" % (r["results"], r["storedOfflineSeconds"]),
        "| outbox on disk (outbox.db and its log) | %.1f MB |" % (r["outboxBytes"] / 1e6),
        "| broker back → last result received | %.2f s (%d/s) |" % (r["deliverSeconds"], r["deliveredPerSecond"]),
        "| received, in order, duplicates | %d, %s, %d |" % (r["received"], "yes" if r["inOrder"] else "**no**", r["duplicates"]),
        "| live answers (%d/s) p50 / p99 before the outage | %s / %s |" % (live["rate"], ms(live["baseline"]["p50Ms"]), ms(live["baseline"]["p99Ms"])),
        "| live answers p50 / p99 during the replay | %s / %s (%d of %d answered) |" % (
            ms(live["duringReplay"]["p50Ms"]), ms(live["duringReplay"]["p99Ms"]), live["duringReplay"]["answered"],
            live["duringReplay"]["sent"]),
    ])
