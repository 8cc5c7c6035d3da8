"""Offline: the broker goes away under a running agent and comes back on the same port; the agent
reconnects by itself, within about a second of the broker's return, and results its functions
produced meanwhile are delivered, in order, from the agent's durable outbox; an agent killed while
offline delivers them after it starts again."""

import calendar
import json
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt

import harness as h

# A handler that answers only once the gate file exists, and leaves a file per event it got
# (got-N) and per answer it gives (done-N), for the test to wait on.
GATED = """\
import os
import time


def handler(event, context):
    folder = os.environ["GATE_DIR"]
    n = event["n"]
    open(os.path.join(folder, "%s-got-%d" % (context.function_name, n)), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(folder, "open")) and time.monotonic() < deadline:
        time.sleep(0.01)
    open(os.path.join(folder, "%s-done-%d" % (context.function_name, n)), "w").close()
    return {"n": n}
"""


class PersistentBroker(h.Broker):
    """A broker that keeps sessions and their queued messages (QoS 0 too) across a restart, so
    that the observer misses nothing that arrives while it reconnects."""

    def _config(self):
        return super()._config().replace(
            "persistence false\n",
            "persistence true\npersistence_location %s/\nqueue_qos0_messages true\n" % self.workdir)


class SessionObserver(h.Observer):
    """An observer with a session the broker keeps while it is away, and reconnects every second.
    MQTT 3.1.1 with clean-session false: Mosquitto 2.0.11 does not restore an MQTT 5 session
    (session expiry) from its persistence file after a restart."""

    def __init__(self, port, name="session", filters=("#",)):
        super().__init__(port, name=name, filters=filters, protocol=mqtt.MQTTv311)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=h.unique(name + "-"),
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)


def test_results_produced_while_the_broker_is_down_are_delivered_after_it_restarts(request, agent, thing, tmp_path):
    broker = PersistentBroker(tmp_path / "persistent-broker")
    request.node._edge_brokers.append(broker)
    broker.start()
    observer = SessionObserver(broker.port, name="session", filters=("edge/things/%s/#" % thing,)).start()
    try:
        _run_outage(agent, broker, h.Edge(observer, thing), thing)
    finally:
        observer.close()
        broker.stop()


def _run_outage(agent, broker, edge, thing):
    gate = h.world_writable_dir("gate")
    module = h.write_module(h.shared_path("src"), "gated", GATED)
    functions = {}
    for name, qos in (("q1", 1), ("q0", 0)):
        functions[name] = h.python_function(module, "gated.handler", subscriptions=("offline/%s/+" % name,), qos=qos,
                                            output=edge.topics.results(name), timeoutMs=60000,
                                            environment={"GATE_DIR": str(gate)})
    a = agent(port=broker.port)
    edge.deploy(h.document("offline-v1", 1, functions))

    # Three events each: the first blocks in its handler on the gate, the other two wait in the
    # agent's queue for the function (health shows them there, so the agent has them all).
    for name in functions:
        for n in range(3):
            edge.obs.publish("offline/%s/e%d" % (name, n), json.dumps({"n": n}), qos=1)
    for name in functions:
        h.poll_until(lambda: (gate / ("%s-got-0" % name)).exists(), h.WAIT, "%s to get its first event" % name)
        edge.function_health(name, lambda f: f["queue"]["depth"] == 2, what="%s with two events queued" % name)

    stopped_at = int(time.time() * 1000)
    broker.stop()
    a.wait_log(r"lost the broker", what="the agent to notice the broker is gone")
    (gate / "open").write_text("")
    for name in functions:
        h.poll_until(lambda: (gate / ("%s-done-2" % name)).exists(), h.WAIT,
                     "%s to answer all three events with the broker down" % name)

    broker.start()  # same port, sessions restored
    back = edge.health(lambda j: j["status"] == "online" and j["connection"]["reconnects"] >= 1,
                       what="health online again after the broker came back, the agent reconnected by itself")
    drained = edge.health(lambda j: j["outbox"]["queued"] == 0 and j["outbox"]["inFlight"] == 0,
                          what="health with the outbox replayed and acknowledged")
    assert {k: drained["outbox"][k] for k in ("storedBytes", "dropped", "refused", "durable")} == \
        {"storedBytes": 0, "dropped": 0, "refused": 0, "durable": True}, drained["outbox"]
    for name in functions:
        results = edge.obs.wait_count(edge.topics.results(name), lambda m: m.json["status"] == "ok", 3,
                                      what="the three results of %s produced while the broker was down" % name)
        assert [r.json["result"]["n"] for r in results] == [0, 1, 2], ("out of order", name, results)
        # Made after the broker went and before the agent was back online (its first health
        # report after the reconnect): kept while offline, not produced after.
        for result in results:
            assert stopped_at <= result.json["timestamp"] <= back["timestamp"], (name, stopped_at, back["timestamp"], result)
    assert "connected to the broker" in a.log_text()


def _stored(state_dir, topic):
    """How many messages for `topic` the agent's outbox holds on disk (read beside the running agent)."""
    if not (state_dir / "outbox.db").exists():
        return 0
    db = sqlite3.connect("file:%s?mode=ro" % (state_dir / "outbox.db"), uri=True, timeout=5)
    try:
        return db.execute("SELECT count(*) FROM outbox WHERE topic = ?", (topic,)).fetchone()[0]
    finally:
        db.close()


def test_an_agent_killed_while_offline_delivers_what_it_held_after_it_starts_again(request, agent, thing, tmp_path):
    broker = PersistentBroker(tmp_path / "persistent-broker")
    request.node._edge_brokers.append(broker)
    broker.start()
    observer = SessionObserver(broker.port, name="session", filters=("edge/things/%s/#" % thing,)).start()
    edge = h.Edge(observer, thing)
    count = 150
    try:
        gate = h.world_writable_dir("gate")
        module = h.write_module(h.shared_path("src"), "gated", GATED)
        functions = {}
        for name, qos in (("k1", 1), ("k0", 0)):
            functions[name] = h.python_function(module, "gated.handler", subscriptions=("killed/%s/+" % name,), qos=qos,
                                                output=edge.topics.results(name), timeoutMs=60000, queueSize=count,
                                                environment={"GATE_DIR": str(gate)})
        first = agent(port=broker.port, state_dir="state")
        edge.deploy(h.document("killed-v1", 1, functions))
        for name in functions:
            for n in range(count):
                edge.obs.publish("killed/%s/e%d" % (name, n), json.dumps({"n": n}), qos=1)
        for name in functions:
            h.poll_until(lambda: (gate / ("%s-got-0" % name)).exists(), h.WAIT, "%s to get its first event" % name)
            edge.function_health(name, lambda f: f["queue"]["depth"] == count - 1,
                                 what="%s with the other %d events queued" % (name, count - 1))
        broker.stop()
        first.wait_log(r"lost the broker", what="the agent to notice the broker is gone")
        (gate / "open").write_text("")
        for name in functions:
            topic = edge.topics.results(name)
            h.poll_until(lambda: _stored(first.state_dir, topic) == count, h.WAIT,
                         "the outbox on disk to hold the %d results of %s" % (count, name))
        first.kill()  # SIGKILL: nothing is flushed on the way out

        # The broker back first, and the observer on it (a probe it sees): what follows is the
        # restarted agent's alone to deliver.
        broker.start()  # same port
        probe = "edge/things/%s/probe" % thing

        def probe_seen():
            try:
                edge.obs.publish(probe, "{}", timeout=1)
            except Exception:  # not reconnected yet
                return False
            return edge.obs.seen(probe)
        h.poll_until(probe_seen, h.WAIT, "the observer back on the restarted broker", interval=0.2)
        second = agent(port=broker.port, state_dir="state")
        second.wait_log(r"the outbox holds messages from before the restart", what="the restarted agent to find the stored results")
        ids = set()
        for name in functions:
            results = edge.obs.wait_count(edge.topics.results(name), lambda m: m.json["status"] == "ok", count,
                                          what="the %d results %s produced before the agent was killed" % (count, name))
            assert [r.json["result"]["n"] for r in results[:count]] == list(range(count)), ("out of order", name)
            ids.update(r.json["invocationId"] for r in results)
        # Nothing was in flight when the agent was killed: no duplicates either.
        for name in functions:
            got = edge.obs.seen(edge.topics.results(name))
            assert len(got) == count, "%s: %d results for %d events" % (name, len(got), count)
        assert len(ids) == 2 * count, "invocation ids repeat"
        edge.health(lambda j: j["status"] == "online" and j["outbox"]["queued"] == 0 and j["outbox"]["storedBytes"] == 0,
                    what="the restarted agent's outbox empty once all was acknowledged")
    finally:
        observer.close()
        broker.stop()


def _log_ms(line):
    """The wall-clock ms of an agent log line (`2026-12-05T05:49:39.087Z warning …`)."""
    stamp = line.split(" ", 1)[0]
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(stamp[20:23])


def test_the_agent_is_back_within_a_second_or_so_of_the_broker(agent, broker):
    a = agent(health_interval=None)
    a.wait_log(r"connected to the broker", what="the agent connected")
    broker.stop()
    a.wait_log(r"lost the broker", what="the agent to notice the broker is gone")
    # Seven failed attempts: by then the waits have reached their cap (1 s). A backoff without a
    # low cap (250 ms doubling to 30 s, as before) takes up to 32 s to fail seven times.
    a.wait_log(r"cannot connect to the broker; retrying", count=7, timeout=15,
               what="seven connect attempts within 15 s of losing the broker")
    broker.start()  # same port; returns once it accepts connections
    back_ms = int(time.time() * 1000)
    a.wait_log(r"connected to the broker", count=2, what="the agent connected again")
    again = [line for line in a.log_text().splitlines() if "connected to the broker" in line][1]
    delay_ms = _log_ms(again) - back_ms
    # 1 s at most by the backoff, plus the connect and this machine's scheduling.
    assert delay_ms <= 2500, "the agent came back %d ms after the broker" % delay_ms


class _Stream:
    """Requests {"n": i} at 20 a second (QoS 1) from a client with a session of its own that
    keeps what it publishes while the broker is away and sends it on reconnect (paho's queue)."""

    def __init__(self, port, topic):
        self.topic = topic
        self.sent = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=h.unique("stream-"),
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.is_set():
            self.client.publish(self.topic, json.dumps({"n": self.sent}), qos=1)
            self.sent += 1
            self.stop_flag.wait(0.05)  # the stream's pace, not a synchronisation

    def stop(self):
        self.stop_flag.set()
        self.thread.join(5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_a_steady_stream_survives_five_broker_restarts_and_a_30_s_outage(request, agent, thing, tmp_path, echo_bin):
    broker = PersistentBroker(tmp_path / "persistent-broker")
    request.node._edge_brokers.append(broker)
    broker.start()
    # The observer reads the requests too, in the order the broker took them: paho may send a new
    # request before the backlog it resends after a reconnect, so that order, not n's, is the one
    # the answers must keep.
    observer = SessionObserver(broker.port, name="session", filters=("edge/things/%s/#" % thing, "restarts/in")).start()
    edge = h.Edge(observer, thing)
    stream = None
    try:
        a = agent(port=broker.port)
        # The backlog of an outage arrives at once: the queue holds it all.
        edge.deploy(h.document("restarts", 1, {"echo": h.native_function(echo_bin, subscriptions=("restarts/in",), qos=1,
                                                                          queueSize=2000)}))
        stream = _Stream(broker.port, "restarts/in")
        for restart in range(5):
            h.poll_until(lambda r=restart: stream.sent >= 40 * (r + 1), h.WAIT, "the stream under way")
            broker.stop()
            broker.start()  # same port, sessions and queued messages restored
        h.poll_until(lambda: stream.sent >= 240, h.WAIT, "the stream under way after five restarts")
        broker.stop()
        a.wait_log(r"lost the broker", count=6, what="the agent noticing the sixth outage")
        outage = time.monotonic()
        h.poll_until(lambda: time.monotonic() - outage >= 30, 40, "a 30 s outage", interval=0.5)
        broker.start()
        h.poll_until(lambda: stream.sent >= 240 + 30 * 20 + 60, h.WAIT, "the stream going on after the outage")
        stream.stop()
        topic = edge.topics.results("echo")
        edge.obs.wait_count(topic, lambda m: m.json["status"] == "ok", stream.sent, timeout=60,
                            what="answers to the %d requests of the stream" % stream.sent)
        numbers = [m.json["result"]["echo"]["n"] for m in edge.obs.seen(topic) if m.json["status"] == "ok"]
        missing = sorted(set(range(stream.sent)) - set(numbers))
        assert not missing, "%d requests never answered: %s" % (len(missing), missing[:20])
        first = list(dict.fromkeys(numbers))
        taken = list(dict.fromkeys(m.json["n"] for m in edge.obs.seen("restarts/in")))
        assert len(taken) >= stream.sent * 0.9, "the observer saw %d of %d requests" % (len(taken), stream.sent)
        answered, requested = [n for n in first if n in set(taken)], [n for n in taken if n in set(first)]
        assert answered == requested, "answers out of the order the broker took the requests in (index, answer, request): %s" % (
            next(((i, a, b) for i, (a, b) in enumerate(zip(answered, requested)) if a != b), None),)
        print("restarts: %d requests, %d answers, %d duplicates" % (stream.sent, len(numbers), len(numbers) - len(first)))
    finally:
        if stream:
            stream.stop()
            stream.close()
        observer.close()
        broker.stop()
