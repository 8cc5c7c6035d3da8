"""No impersonation on the shipped broker: deploy/mosquitto.conf (devices on one listener, client id =
certificate CN; operators on another that trusts only the operators' CA), its two ACLs, and
certificates made by the certs/ scripts, against the real edge-agent binary.

A device certificate that asks for another thing's client id must not disconnect that thing's
agent (which would lose its session and its queued QoS 1 messages), and must still act as itself.
A control run of the same attack on the same configuration without `use_username_as_clientid`
shows that the attack is seen when it works. deploy/check-broker-acl.sh checks the same rules with
mosquitto_pub/mosquitto_sub, among its other checks."""

import os
import subprocess

import paho.mqtt.client as mqtt
import pytest

import harness as h

class Intruder:
    """An MQTT 5 client with another device's certificate that asks for `client_id`: it connects,
    publishes, and says whether the broker accepted it."""

    def __init__(self, port, pki, who, client_id):
        self.connected = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        tls = h.tls_files(pki, who)
        self.client.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.append(rc == 0)
        self.port = port

    def __enter__(self):
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        h.poll_until(lambda: self.connected, h.WAIT, "the intruder's CONNACK")
        return self

    def publish(self, topic, payload, kicked_out=False):
        """Publishes at QoS 1 and waits for the acknowledgement; `kicked_out`: the intruder may
        itself be disconnected meanwhile (by the thing's agent reconnecting with the same id)."""
        try:
            info = self.client.publish(topic, payload, qos=1)
            info.wait_for_publish(h.WAIT)
        except RuntimeError:
            if kicked_out:
                return
            raise
        assert kicked_out or info.is_published(), "the intruder's publish to %s was not acknowledged" % topic

    def __exit__(self, *exc):
        self.client.disconnect()
        self.client.loop_stop()


def _online_agent(agent, make_observer, broker, pki, thing):
    """The real agent connected as `thing` over mutual TLS, and an operator observer (on the
    operator listener) that has seen it healthy and delivering."""
    agent(port=broker.port, extra_args=["--tls-ca", str(pki / "ca.crt"), "--tls-cert", str(pki / ("%s.crt" % thing)),
                                        "--tls-key", str(pki / ("%s.key" % thing))])
    watcher = make_observer(broker.operator_port, name="operator", tls=h.tls_files(pki, "operator"),
                            filters=("edge/things/#",))
    health = "edge/things/%s/health" % thing
    watcher.wait_for(health, lambda m: m.json["connection"]["delivering"] is True, what="the agent online and delivering")
    return watcher, health


def _attack(broker, pki, other, thing, kicked_out=False):
    """`other`'s certificate connects as client id `thing` three times (an auto-reconnecting
    intruder), forging `thing`'s health and writing its own. `kicked_out`: where the takeover
    works, the agent reconnecting takes the id back and the intruder's publishes may fail."""
    for attempt in range(3):
        with Intruder(broker.port, pki, other, thing) as intruder:
            intruder.publish("edge/things/%s/health" % thing, '{"forged": %d}' % attempt, kicked_out)
            intruder.publish("edge/things/%s/health" % other, '{"intruder": %d}' % attempt, kicked_out)


def test_a_device_certificate_cannot_take_over_another_things_client_id(shipped, agent, make_observer, thing):
    broker, pki, other = shipped()
    watcher, health = _online_agent(agent, make_observer, broker, pki, thing)
    before = watcher.mark()
    _attack(broker, pki, other, thing)
    # The intruder acted as itself: its own health topic took its publishes, not the thing's.
    watcher.wait_count("edge/things/%s/health" % other, lambda m: "intruder" in m.json, 3, since=before,
                       what="the intruder's three publishes on its own topic")
    after = watcher.mark()
    # Two health reports after the attack (the agent reports every 2 s): the same connection, never
    # offline, never reconnected.
    reports = watcher.wait_count(health, lambda m: "connection" in m.json, 2, since=after,
                                 what="two health reports after the attack")
    for report in watcher.seen(health, since=before):
        assert "forged" not in report.json, "the intruder wrote the thing's health: %r" % report
        assert report.json.get("status") != "offline", "the agent's last will was published: %r" % report
        assert report.json["connection"]["reconnects"] == 0, "the agent was disconnected: %r" % report
    assert reports[-1].json["connection"]["connected"] is True, reports[-1]


def test_control_without_the_guard_the_same_attack_disconnects_the_agent(shipped, agent, make_observer, thing):
    """The detector above can fail: with use_username_as_clientid commented out, the same attack
    makes Mosquitto close the agent's connection, and the agent says it reconnected."""
    broker, pki, other = shipped(guard=False)
    watcher, health = _online_agent(agent, make_observer, broker, pki, thing)
    before = watcher.mark()
    _attack(broker, pki, other, thing, kicked_out=True)
    watcher.wait_for(health, lambda m: m.json["connection"]["reconnects"] >= 1, since=before,
                     what="a health report that counts the reconnection the takeover forced")


def test_operator_sessions_keep_their_own_ids_and_device_certificates_stay_off_their_listener(
        shipped, agent, make_observer, agent_bin, thing):
    broker, pki, other = shipped()
    watcher, health = _online_agent(agent, make_observer, broker, pki, thing)
    # A second session of the same operator certificate: the real edgectl, on the operator listener.
    env = {key: value for key, value in os.environ.items() if not key.startswith("EDGECTL_")}
    env.update({"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.operator_port), "EDGECTL_TIMEOUT": "20",
                "EDGECTL_TLS_CA": str(pki / "ca.crt"), "EDGECTL_TLS_CERT": str(pki / "operator.crt"),
                "EDGECTL_TLS_KEY": str(pki / "operator.key")})
    listed = subprocess.run([str(agent_bin.with_name("edgectl")), "things", "--json"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert listed.returncode in (0, 1) and thing in listed.stdout, listed
    # The watcher (the first session) was not disconnected by edgectl's: it still receives.
    mark = watcher.mark()
    watcher.wait_for(health, since=mark, what="a health report to the first operator session after edgectl's")
    assert watcher.client.is_connected(), "the first operator session was disconnected"
    # A device certificate is refused on the operator listener, whatever client id it asks for.
    refused = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing, protocol=mqtt.MQTTv5)
    tls = h.tls_files(pki, other)
    refused.tls_set(ca_certs=tls["ca"], certfile=tls["cert"], keyfile=tls["key"])
    with pytest.raises(OSError):
        refused.connect("127.0.0.1", broker.operator_port, keepalive=30)
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
        for _ in range(50):
            if refused.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError("the broker closed the connection")
    refused.disconnect()
