"""Connecting to a broker as a fleet meets one (issue 13): a user name and password from a file
or the environment (never logged), connection errors that say what happened (not authorised, TLS
with the verification error, unreachable, an unknown host) and only TLS failures talk about
certificates, edgectl failing at once with exit code 2 when it cannot connect and 3 when nothing
answers, and several endpoints, the agent moving to the next when one dies and saying in health
which it is on."""

import os
import signal
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

import harness as h

PASSWORD = "pw-Tr0ub4dor-%d" % os.getpid()


def _edgectl(agent_bin, *args, env=None, timeout=60):
    started = time.monotonic()
    result = subprocess.run([str(agent_bin.with_name("edgectl"))] + [str(a) for a in args], capture_output=True,
                            text=True, timeout=timeout, env=None if env is None else {**os.environ, **env})
    return result, time.monotonic() - started


@pytest.fixture
def password_broker(make_broker, tmp_path):
    broker = h.Broker(tmp_path / "pwbroker", users={"edge": PASSWORD, "operator": PASSWORD + "-op"}).start()
    yield broker
    broker.stop()


def _password_file(tmp_path, text):
    path = tmp_path / "broker-password"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_a_password_from_a_file_or_the_environment_connects_and_is_never_logged(agent, make_observer, password_broker,
                                                                                 tmp_path, thing, agent_bin):
    observer = make_observer(password_broker.port, username="operator", password=PASSWORD + "-op")
    edge = h.Edge(observer, thing)
    from_file = agent(port=password_broker.port,
                      extra_args=["--username", "edge", "--password-file", _password_file(tmp_path, PASSWORD)])
    health = edge.health(lambda j: j["status"] == "online", what="health online with a password from a file")
    assert health["connection"]["connected"] is True, health
    assert from_file.stop() == 0
    since = observer.mark()
    agent(port=password_broker.port, state_dir=tmp_path / "state2",
          env={"EDGE_BROKER_USERNAME": "edge", "EDGE_BROKER_PASSWORD": PASSWORD})
    edge.health(lambda j: j["status"] == "online", since=since, what="health online with a password from the environment")
    # edgectl takes the same credentials.
    result, _ = _edgectl(agent_bin, "health", "--thing", thing, "--port", password_broker.port, "--username", "operator",
                         "--password-file", _password_file(tmp_path, PASSWORD + "-op"), "--json")
    assert result.returncode == 0, result
    for instance in (from_file,):
        assert PASSWORD not in instance.log_text(), "the password must never be logged"


def test_a_wrong_password_is_not_authorised_and_says_so(agent, make_observer, password_broker, tmp_path, thing, agent_bin):
    wrong = agent(port=password_broker.port,
                  extra_args=["--username", "edge", "--password-file", _password_file(tmp_path, "not-" + PASSWORD)])
    line = wrong.wait_log(r"error .*refused the agent's credentials", what="the agent's error about its credentials")
    text = wrong.log_text()
    assert "not authorised" in text and ("bad user name or password" in text or "not authorized" in text), h.tail(text)
    assert "certificate" not in text, "a refused password is no TLS problem:\n" + h.tail(text)
    assert "not-" + PASSWORD not in text, "the password must never be logged"
    # edgectl: at once, exit code 2, the reason in words.
    result, took = _edgectl(agent_bin, "health", "--thing", thing, "--port", password_broker.port,
                            "--username", "operator", env={"EDGE_BROKER_PASSWORD": "wrong"})
    assert result.returncode == 2 and "not authorised" in result.stderr, result
    assert took < 10, "edgectl must fail at once on a refused connection, not after --timeout (took %.1f s)" % took
    anonymous, _ = _edgectl(agent_bin, "health", "--thing", thing, "--port", password_broker.port)
    assert anonymous.returncode == 2 and "not authorised" in anonymous.stderr, anonymous


def test_tls_failures_name_the_verification_error_and_other_failures_do_not_mention_tls(agent, make_broker, tmp_path,
                                                                                        thing, agent_bin):
    tls = h.make_tls_material(tmp_path / "pki", client_names=(thing,))
    other = h.make_tls_material(tmp_path / "other-pki", client_names=("x",))
    broker = make_broker(tls={"ca": tls["ca"], "cert": tls["server_cert"], "key": tls["server_key"]})
    wrong_ca = agent(port=broker.port, extra_args=["--tls-ca", other["ca"]])
    wrong_ca.wait_log(r"the TLS handshake failed \(certificate verification failed: ", what="the verification error in the log")
    assert "unable to get local issuer certificate" in wrong_ca.log_text() or "self-signed" in wrong_ca.log_text(), \
        h.tail(wrong_ca.log_text())
    result, took = _edgectl(agent_bin, "health", "--thing", thing, "--port", broker.port, "--tls-ca", other["ca"])
    assert result.returncode == 2 and "certificate verification failed" in result.stderr, result
    # Unreachable and unknown hosts: their own words, no TLS hint.
    closed = h.free_port()
    plain = agent(port=closed, state_dir=tmp_path / "state2")
    plain.wait_log(r"cannot connect to 127\.0\.0\.1:%d \(MQTT 5\): unreachable \(Connection refused\)" % closed,
                   what="the unreachable broker in the agent's log")
    assert "certificate" not in plain.log_text() and "TLS" not in plain.log_text().split("edge-agent starting")[-1].split("\n", 1)[1]
    # The same failure again within a minute: at debug level only, not a warning a second.
    plain.wait_log(r"debug cannot connect to the broker; retrying.*Connection refused", count=2,
                   what="the repeated failure at debug level")
    assert plain.log_text().count("warning cannot connect to the broker") == 1, h.tail(plain.log_text())
    result, took = _edgectl(agent_bin, "status", "--thing", thing, "--port", closed)
    assert result.returncode == 2 and "Connection refused" in result.stderr and "certificate" not in result.stderr, result
    assert took < 10, "refused: at once, not after --timeout (took %.1f s)" % took
    result, _ = _edgectl(agent_bin, "status", "--thing", thing, "--host", "no-such-host.invalid")
    assert result.returncode == 2 and "cannot look up" in result.stderr, result


def test_edgectl_says_no_answer_with_exit_code_3(broker, thing, agent_bin):
    result, _ = _edgectl(agent_bin, "status", "--thing", thing, "--port", broker.port, "--timeout", "2")
    assert result.returncode == 3 and "no deployment status" in result.stderr, result


def test_the_agent_moves_to_the_next_endpoint_and_says_which_in_health(agent, make_broker, make_observer, thing, echo_bin):
    first, second = make_broker(), make_broker()
    observers = [make_observer(first.port), make_observer(second.port)]
    endpoints = ["127.0.0.1:%d" % first.port, "127.0.0.1:%d" % second.port]
    running = agent(brokers=endpoints)
    on_first = h.Edge(observers[0], thing)
    health = on_first.health(lambda j: j["status"] == "online", what="health on the first endpoint")
    assert health["connection"]["broker"] == endpoints[0] and health["connection"]["endpoints"] == endpoints, health
    first.stop()
    on_second = h.Edge(observers[1], thing)
    health = on_second.health(lambda j: j["status"] == "online" and j["connection"]["broker"] == endpoints[1],
                              timeout=15, what="health from the second endpoint after the first stopped")
    assert health["connection"]["reconnects"] >= 1, health
    on_second.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    answer = on_second.send("sensors/+/x", {"n": 1}, "echo")
    assert answer["status"] == "ok", answer
    running.check_alive()


def test_a_broker_that_ignores_the_connect_is_given_up_after_the_connect_timeout(agent, tmp_path, thing):
    """A listener that takes the TCP connection and never answers (as amqtt does with an MQTT 5
    CONNECT): each attempt ends after broker.connectTimeoutMs, MQTT 3.1.1 is tried next, and the
    agent keeps serving meanwhile."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        config = tmp_path / "config.json"
        config.write_text('{"broker": {"connectTimeoutMs": 1000}}')
        running = agent(port=silent.getsockname()[1], extra_args=["--config", config])
        running.wait_log(r"no answer to the CONNECT within 1000 ms.*trying MQTT 3\.1\.1 next|"
                         r"did not take an MQTT 5 connection; trying MQTT 3\.1\.1 .*no answer to the CONNECT within 1000 ms",
                         what="the MQTT 5 attempt given up after 1 s, with MQTT 3.1.1 next")
        running.wait_log(r"\(MQTT 3\.1\.1\): no answer to the CONNECT within 1000 ms", what="the 3.1.1 attempt given up too")
        running.check_alive()
    finally:
        silent.close()


def test_a_subscription_the_broker_refuses_is_asked_for_again_until_it_takes(agent, make_observer, tmp_path, thing, echo_bin):
    """A SUBACK that refuses (NATS: a permission here; also when JetStream is busy, as after a node
    of a cluster dies) is no longer taken for a subscription: the agent says so and asks again,
    and once the broker allows it the function gets its events. Before, the agent counted a
    refused subscription as made and its function never heard a thing."""
    from harness.brokers import NatsCluster
    nats = NatsCluster(tmp_path / "nats", nodes=1, username="edge", password=PASSWORD,
                       permissions={"subscribe": {"deny": ["secret.>"]}}).start()
    try:
        edge = h.Edge(make_observer(nats.port, protocol=mqtt.MQTTv311, username="edge", password=PASSWORD), thing)
        running = agent(port=nats.port, env={"EDGE_BROKER_USERNAME": "edge", "EDGE_BROKER_PASSWORD": PASSWORD})
        edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["secret/+/x"])}))
        running.wait_log(r"warning the broker refused a subscription; asking again.*filter=secret/\+/x",
                         what="the refused subscription in the agent's log")
        running.wait_log(r"debug subscribing again to what the broker refused.*secret/\+/x", count=2,
                         what="the agent asking for the subscription again, twice")
        # NATS 2.9.10 crashes reloading users while MQTT sessions exist: the node restarts with
        # the permission instead (the agent's persistent session is kept in JetStream).
        nats.permissions = None
        nats.node(0).stop()
        nats.node(0).start()
        h.poll_until(lambda: _answered(edge, "secret/+/x"), h.WAIT,
                     "an event on secret/+/x answered once the broker allows the subscription")
    finally:
        nats.stop()


def _answered(edge, template):
    """Whether one event sent now is answered within a second (for polling until a subscription
    takes; the observer may itself be reconnecting, and then cannot publish yet)."""
    try:
        return edge.send(template, {"n": 1}, "echo", timeout=1.0)["status"] == "ok"
    except (h.HarnessError, RuntimeError):
        return False


def test_a_delivery_check_the_acl_refuses_is_said_once_and_not_taken_for_a_deaf_session(agent, make_broker, make_observer,
                                                                                       tmp_path, thing):
    """An ACL that does not let the agent publish its delivery check (edge/things/THING/functions/
    ~probe/invoke): MQTT 5 says so in the PUBACK; the agent logs it once, naming the topic, and
    does not take the missing probe for a deaf session (which would make it resubscribe)."""
    acl = tmp_path / "acl"
    acl.write_text("\n".join([
        "user edge",
        "topic write edge/things/+/health", "topic write edge/things/+/deployment/status", "topic write edge/things/+/events",
        "topic read edge/things/+/deployment", "topic read edge/things/+/functions/+/invoke",
        "topic readwrite $aws/things/+/shadow/#",
        "user operator", "topic read edge/#", ""]))
    broker = make_broker(users={"edge": PASSWORD, "operator": PASSWORD + "-op"}, settings=["acl_file %s" % acl])
    running = agent(port=broker.port, extra_args=["--username", "edge", "--password-file", _password_file(tmp_path, PASSWORD)])
    running.wait_log(r"the broker refused the agent's delivery check.*functions/~probe/invoke", what="the refused check, said")
    edge = h.Edge(make_observer(broker.port, username="operator", password=PASSWORD + "-op"), thing)
    health = edge.health(lambda j: j["status"] == "online", what="health online")
    assert health["connection"]["delivering"] is False and health["connection"]["deafSessions"] == 0, health["connection"]
    assert "subscribing again" not in running.log_text(), "a refused check is not a deaf session"
