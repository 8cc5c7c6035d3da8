"""The agent on every broker of the matrix (issue 13), each started by the harness on loopback:
Mosquitto 2 (MQTT 5 and 3.1.1, a password file, certificates), a 3-node NATS cluster with
JetStream (MQTT 3.1.1), RabbitMQ 3.10 with its MQTT plugin (3.1.1) and ejabberd with mod_mqtt
(MQTT 5, a registered user). On each: a retained deployment to SUCCEEDED, results, invoke with
`replyTo`, health and the last will, and the shadow API (served by the agent; under another topic
root on ejabberd, which refuses `$` topics). What a broker cannot do is a tested limitation:
RabbitMQ delivers a retained message only to a subscription to its exact topic. A NATS node
killed under a running agent costs no event and no result: it moves to the next node."""

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

import harness as h
from harness.brokers import Ejabberd, NatsCluster, RabbitMQ

PASSWORD = "edge-matrix-pw"
# A NATS cluster that lost a node serves again within 1-30 s (see harness/nats.py).
FAILOVER_WAIT = 90.0


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory):
    broker = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"), username="edge", password=PASSWORD).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def ejabberd(tmp_path_factory):
    broker = Ejabberd(tmp_path_factory.mktemp("ejabberd"), username="edge", password=PASSWORD).start()
    yield broker
    broker.stop()


@pytest.fixture
def nats(tmp_path):
    cluster = NatsCluster(tmp_path / "nats", nodes=3).start()
    yield cluster
    cluster.stop()


class Setup:
    """How one broker is reached: the agent's flags and environment, the observer's options."""

    def __init__(self, port, protocol, agent_args=(), env=None, observer=None, shadow_root="$aws", name=""):
        self.port = port
        self.protocol = protocol
        self.agent_args = list(agent_args)
        self.env = env
        self.observer = dict(observer or {})
        self.shadow_root = shadow_root
        self.name = name


def _credentials(username="edge"):
    return {"EDGE_BROKER_USERNAME": username, "EDGE_BROKER_PASSWORD": PASSWORD}


def _exercise(setup, agent, make_observer, thing, echo_bin):
    """The whole round on one broker; returns the agent and the Edge."""
    observer = make_observer(setup.port, protocol=mqtt.MQTTv5 if setup.protocol == 5 else mqtt.MQTTv311, **setup.observer)
    edge = h.Edge(observer, thing)
    running = agent(port=setup.port, extra_args=setup.agent_args, env=setup.env)
    health = edge.health(lambda j: j["status"] == "online", what="health online on %s" % setup.name)
    assert health["connection"]["protocolVersion"] == setup.protocol, health["connection"]
    # A retained deployment, results, and a direct invocation answered through replyTo.
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["result"] == {"echo": {"n": 1}}
    reply = "replies/%s" % thing
    since = observer.mark()
    observer.publish(edge.topics.invoke("echo"), json.dumps({"n": 2, "replyTo": reply}))
    answer = observer.wait_for(reply, since=since, what="the answer on the replyTo topic").json
    assert answer["status"] == "ok" and answer["result"]["echo"]["n"] == 2, answer
    # The shadow API, served by the agent.
    shadow = h.ShadowClient(setup.port, thing, root=setup.shadow_root,
                            protocol=mqtt.MQTTv5 if setup.protocol == 5 else mqtt.MQTTv311, **setup.observer).start()
    try:
        since = shadow.obs.mark()
        accepted = shadow.accepted("update", {"state": {"desired": {"matrix": {"on": True}}}})
        assert accepted["state"] == {"desired": {"matrix": {"on": True}}}, accepted
        delta = shadow.wait_for("update/delta", since=since, what="the delta on %s" % setup.name)
        assert delta["state"] == {"matrix": {"on": True}}, delta
        # The agent's own reports make documents too: the one for this update is waited for.
        documents = shadow.wait_for("update/documents",
                                    lambda m: m.json["current"]["state"].get("desired", {}).get("matrix") == {"on": True},
                                    since=since, what="/update/documents of the update on %s" % setup.name)
        assert documents["current"]["version"] == accepted["version"], (documents, accepted)
        shadow.wait_state(lambda d: "agent" in d.reported, what="the agent's own report in its shadow on %s" % setup.name)
    finally:
        shadow.close()
    # The last will, when the agent vanishes without a word.
    since = observer.mark()
    running.kill()
    will = observer.wait_for(edge.topics.health, lambda m: m.json["status"] == "offline", since=since,
                             what="the last will on %s" % setup.name).json
    assert will["thing"] == thing, will
    return running, edge


def test_mosquitto_mqtt5(agent, broker, make_observer, thing, echo_bin):
    _exercise(Setup(broker.port, 5, name="Mosquitto, MQTT 5"), agent, make_observer, thing, echo_bin)


def test_mosquitto_mqtt311_chosen(agent, broker, make_observer, thing, echo_bin):
    _exercise(Setup(broker.port, 4, agent_args=["--mqtt-protocol", "3.1.1"], name="Mosquitto, MQTT 3.1.1"),
              agent, make_observer, thing, echo_bin)


def test_mosquitto_with_a_password_file(agent, make_observer, tmp_path, thing, echo_bin):
    broker = h.Broker(tmp_path / "pw", users={"edge": PASSWORD}).start()
    try:
        _exercise(Setup(broker.port, 5, env=_credentials(), observer={"username": "edge", "password": PASSWORD},
                        name="Mosquitto with a password file"), agent, make_observer, thing, echo_bin)
    finally:
        broker.stop()


def test_mosquitto_with_certificates(agent, make_broker, make_observer, tmp_path, thing, echo_bin):
    tls = h.make_tls_material(tmp_path / "pki", client_names=(thing, "observer"))
    broker = make_broker(tls={"ca": tls["ca"], "cert": tls["server_cert"], "key": tls["server_key"], "require_certificate": True})
    args = ["--tls-ca", tls["ca"], "--tls-cert", tls[thing]["cert"], "--tls-key", tls[thing]["key"]]
    _exercise(Setup(broker.port, 5, agent_args=args, observer={"tls": {"ca": tls["ca"], **tls["observer"]}},
                    name="Mosquitto with mutual TLS"), agent, make_observer, thing, echo_bin)


def test_nats_cluster(agent, nats, make_observer, thing, echo_bin):
    _exercise(Setup(nats.port, 4, name="NATS (3 nodes)"), agent, make_observer, thing, echo_bin)


def test_rabbitmq(agent, rabbitmq, make_observer, thing, echo_bin):
    _exercise(Setup(rabbitmq.port, 4, env=_credentials(), observer={"username": "edge", "password": PASSWORD},
                    name="RabbitMQ"), agent, make_observer, thing, echo_bin)


def test_ejabberd_with_another_shadow_root(agent, ejabberd, make_observer, thing, echo_bin):
    _exercise(Setup(ejabberd.port, 5, agent_args=["--shadow-topic-root", "shadows"], env=_credentials(),
                    observer={"username": "edge", "password": PASSWORD}, shadow_root="shadows", name="ejabberd"),
              agent, make_observer, thing, echo_bin)


def test_ejabberd_refuses_dollar_topics_and_the_agent_says_so(agent, ejabberd, thing):
    """The documented limitation: on ejabberd the default shadow root cannot work; the agent's
    publishes there are refused by the broker (MQTT 5 PUBACK 0x90), counted and logged."""
    running = agent(port=ejabberd.port, env=_credentials())
    running.wait_log(r"error the broker refused a message the agent published.*code 0x90",
                     what="the broker's refusal of the agent's $aws report")


def test_rabbitmq_delivers_a_retained_message_only_to_its_exact_topic(agent, rabbitmq, make_observer, thing, agent_bin):
    """The documented limitation: RabbitMQ's retained messages reach only a subscription to
    exactly their topic. The agent and edgectl subscribe to exact topics for what is retained
    (deployments, status, health), so they work; a dashboard subscribed to edge/things/+/health
    sees live reports only."""
    running = agent(port=rabbitmq.port, env=_credentials())
    live = make_observer(rabbitmq.port, protocol=mqtt.MQTTv311, username="edge", password=PASSWORD)
    h.Edge(live, thing).health(lambda j: j["status"] == "online", what="a live health report")
    running.stop()
    exact = make_observer(rabbitmq.port, protocol=mqtt.MQTTv311, username="edge", password=PASSWORD,
                          filters=(h.Topics(thing).health,))
    exact.wait_for(h.Topics(thing).health, what="the retained health report on its exact topic")
    wildcard = make_observer(rabbitmq.port, protocol=mqtt.MQTTv311, username="edge", password=PASSWORD,
                             filters=("edge/things/+/health",))
    wildcard.assert_none("edge/things/%s/health" % thing, within=1.5, why="RabbitMQ keeps retained messages from wildcards")


def test_a_broker_that_drops_the_agent_at_once_is_not_hammered(agent, rabbitmq, make_observer, thing, echo_bin):
    """RabbitMQ closes the connection when a subscription is denied by its topic permissions:
    the agent, accepted and dropped again and again, backs off as for a failed attempt (at most
    about one connection a second) instead of reconnecting ten times a second."""
    rabbitmq.ctl("set_topic_permissions", "-p", "/", "edge", "amq.topic", ".*", "^(?!secret\\.).*")
    try:
        edge = h.Edge(make_observer(rabbitmq.port, protocol=mqtt.MQTTv311, username="edge", password=PASSWORD), thing)
        running = agent(port=rabbitmq.port, env=_credentials())
        edge.publish_deployment(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["secret/+/x"])}))
        running.wait_log("connected to the broker", count=6, timeout=30, what="the agent dropped and back a few times")
        first = running.log_text().count("connected to the broker")
        started = time.monotonic()
        running.wait_log("connected to the broker", count=first + 3, timeout=30, what="three more connections")
        took = time.monotonic() - started
        # Backed off: each wait at least half the 1 s cap (the jitter's lower bound), so three take
        # 1.5 s or more; without the backoff they took about 0.3 s.
        assert took >= 1.2, "three connections in %.1f s: the agent reconnects without backing off" % took
    finally:
        rabbitmq.ctl("clear_topic_permissions", "-p", "/", "edge")


class _DeafSession(Exception):
    """The agent found its session delivering nothing (health `connection.deafSessions`)."""


def test_a_nats_node_killed_under_the_agent_costs_no_event_and_no_result(agent, nats, make_observer, thing, echo_bin):
    """The agent on node 1 (its list: node 1, node 3, node 2), the operator on node 2: node 1 is
    killed in the middle of a stream of events; the agent moves to node 3 and every event sent
    is answered, each once. Unless NATS 2.9 hands the session back deaf (its subscriptions
    confirmed, nothing delivered: a NATS fault that loses what is published meanwhile, seen in
    about one run in four): then the agent must notice (health `deafSessions`), subscribe again,
    and answer every event sent once it says it is delivered to again."""
    n1, n2, n3 = nats.nodes
    endpoints = ["127.0.0.1:%d" % n.port for n in (n1, n3, n2)]
    operator = make_observer(n2.port, protocol=mqtt.MQTTv311)
    edge = h.Edge(operator, thing)
    running = agent(brokers=endpoints)
    edge.health(lambda j: j["status"] == "online" and j["connection"]["broker"] == endpoints[0]
                and j["connection"]["delivering"], what="the agent on node 1, its delivery checked")
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    sent = []
    since = operator.mark()

    def stream():
        for n in range(60):
            topic = "sensors/s%d/x" % n
            operator.publish(topic, json.dumps({"n": n}), timeout=FAILOVER_WAIT)
            sent.append(topic)
            time.sleep(0.1)  # the stream's own pace (10 events a second), not a synchronisation

    def found_deaf():
        if any(m.json["connection"]["deafSessions"] > 0 for m in operator.seen(edge.topics.health, None, since)
               if m.json.get("status") == "online"):
            raise _DeafSession()

    sender = threading.Thread(target=stream)
    sender.start()
    operator.wait_count(edge.topics.results("echo"), lambda m: True, 10, since=since, what="the first results")
    # JetStream settled first (the consumers of the subscriptions just made, replicated on every
    # node): a node killed while they are still being placed makes a deaf session likelier.
    nats.wait_serving()
    n1.kill()
    sender.join(FAILOVER_WAIT)
    assert not sender.is_alive(), "the operator could not publish its stream on node 2"
    try:
        operator.wait_count(edge.topics.results("echo"), lambda m: True, len(sent), since=since, timeout=FAILOVER_WAIT,
                            what="a result for each of the %d events" % len(sent), check=found_deaf)
    except _DeafSession:
        # NATS lost what it took meanwhile; the agent must be delivered to again, by itself.
        health = edge.health(lambda j: j["status"] == "online" and j["connection"]["deafSessions"] > 0
                             and j["connection"]["delivering"], timeout=FAILOVER_WAIT,
                             what="the agent delivered to again after subscribing anew")
        print("NATS handed back a deaf session; the agent subscribed again: %s" % health["connection"])
        for n in range(10):
            edge.send("sensors/+/x", {"n": n}, "echo", timeout=FAILOVER_WAIT)
    else:
        results = [m.json["sourceTopic"] for m in operator.seen(edge.topics.results("echo"), since=since)]
        assert sorted(set(results)) == sorted(sent), "missing: %s" % sorted(set(sent) - set(results))
    health = edge.health(lambda j: j["connection"]["connected"] and j["connection"]["broker"] != endpoints[0],
                         timeout=FAILOVER_WAIT, what="health from the agent on another node")
    assert health["connection"]["broker"] in endpoints[1:], health["connection"]
    assert health["deployment"]["status"] == "SUCCEEDED", health["deployment"]
    running.check_alive()
