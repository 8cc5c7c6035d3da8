"""The one MQTT client of the harness: it subscribes before the test (or benchmark) acts, records
what arrives, and waits for messages with a deadline."""

import json
import socket
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .topics import unique
from .waits import QUIET, WAIT, HarnessError


class Message:
    """One message as received: topic, payload (bytes) and its JSON (None if it is not JSON),
    retain, QoS, the MQTT 5 correlation data and response topic, the monotonic time it arrived,
    and its index in the observer's record."""

    def __init__(self, raw, index):
        self.index = index
        self.topic = raw.topic
        self.payload = bytes(raw.payload)
        self.retain = bool(raw.retain)
        self.qos = raw.qos
        props = getattr(raw, "properties", None)
        self.correlation = getattr(props, "CorrelationData", None) if props else None
        self.response_topic = getattr(props, "ResponseTopic", None) if props else None
        self.received = time.monotonic()
        try:
            self.json = json.loads(self.payload) if self.payload else None
        except ValueError:
            self.json = None

    def __repr__(self):
        text = self.payload[:400].decode(errors="replace")
        return "<%s%s %s>" % (self.topic, " (retained)" if self.retain else "", text)


class Observer:
    """An MQTT client (5 by default) that subscribes to `filters` (everything by default) before
    the test acts and records it all. With `for_load` (a benchmark's client) its socket has
    TCP_NODELAY and up to 10,000 QoS 1 messages may be in flight. Subclasses that keep only what
    they need override _on_message."""

    def __init__(self, port, name="observer", tls=None, filters=("#",), protocol=mqtt.MQTTv5, for_load=False,
                 username=None, password=None):
        self.port = port
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.refused = None
        self.filters = list(filters)
        self.protocol = protocol
        self.for_load = for_load
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique(name + "-"),
                                  protocol=protocol)
        if tls:
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"), keyfile=tls.get("key"))
        if username is not None:
            self.client.username_pw_set(username, password)
        if for_load:
            self.client.max_inflight_messages_set(10000)
            self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if self.for_load:
            # paho leaves Nagle's algorithm on: small publishes would wait for the broker's delayed
            # ACK (up to 40 ms) and the round trips would measure that, not the agent.
            sock = client.socket()
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reason_code == 0 and self.filters:
            client.subscribe([(f, 1) for f in self.filters])
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            self.refused = refused
        self.subscribed.set()

    def _on_message(self, client, userdata, raw):
        with self.cond:
            self.messages.append(Message(raw, len(self.messages)))
            self.cond.notify_all()

    def start(self, timeout=30.0):
        """Connects and waits until the subscriptions are acknowledged (asked for again while the
        broker refuses them, until `timeout`); returns self."""
        if self.protocol == mqtt.MQTTv5:
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=True)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise HarnessError("the MQTT observer could not connect to 127.0.0.1:%d within %.0f s" % (self.port, timeout))
        deadline = time.monotonic() + timeout
        while self.filters:
            if not self.subscribed.wait(max(0.0, deadline - time.monotonic())):
                raise HarnessError("the MQTT observer's subscription to %s was not acknowledged" % self.filters)
            if not self.refused:
                break
            # A broker may refuse for a while (NATS when JetStream is busy, SUBACK 0x80): asked
            # again, as the agent does, until the deadline.
            if time.monotonic() >= deadline:
                raise HarnessError("the broker refused the MQTT observer's subscriptions to %s until the deadline: %s"
                                   % (self.filters, self.refused))
            self.refused = None
            self.subscribed.clear()
            self.client.subscribe([(f, 1) for f in self.filters])
        return self

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def mark(self):
        """An index: waits given `since=mark` consider only messages received after it."""
        with self.cond:
            return len(self.messages)

    def seen(self, topic, predicate=None, since=0):
        with self.cond:
            candidates = list(self.messages[since:])
        return [m for m in candidates if mqtt.topic_matches_sub(topic, m.topic)
                and (predicate is None or holds(predicate, m))]

    def _matching(self, topic, predicate, count, timeout, since, check):
        """The first `count` messages on `topic` after `since` for which `predicate` holds, or None
        at the deadline. `check()`, called at least twice a second, may raise to give up early."""
        deadline = time.monotonic() + timeout
        position = since
        found = []
        with self.cond:
            while True:
                while position < len(self.messages) and len(found) < count:
                    message = self.messages[position]
                    position += 1
                    if mqtt.topic_matches_sub(topic, message.topic) and (predicate is None or holds(predicate, message)):
                        found.append(message)
                if len(found) >= count:
                    return found
                if check is not None:
                    check()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left if check is None else min(left, 0.5))

    def wait_for(self, topic, predicate=None, timeout=WAIT, what=None, since=0, check=None):
        """The first message on `topic` (a filter) after `since` that satisfies `predicate(msg)`;
        `check()`, called at least twice a second, may raise to give up early (an agent that exited)."""
        found = self._matching(topic, predicate, 1, timeout, since, check)
        if found:
            return found[0]
        recent = self.seen(topic, None, since)[-5:]
        raise HarnessError("timed out after %.1f s waiting for %s on %s; last messages on that topic:\n  %s"
                           % (timeout, what or "a matching message", topic,
                              "\n  ".join(repr(m) for m in recent) or "(none)"))

    def wait_count(self, topic, predicate, count, timeout=WAIT, what=None, since=0, check=None):
        """Waits until at least `count` messages match; returns every match so far (`count` or more).
        `check` as for wait_for."""
        if self._matching(topic, predicate, count, timeout, since, check) is not None:
            return self.seen(topic, predicate, since)
        recent = self.seen(topic, None, since)[-5:]
        raise HarnessError("timed out after %.1f s waiting for %s; got %d; last messages:\n  %s" % (
            timeout, what or "%d messages on %s" % (count, topic), len(self.seen(topic, predicate, since)),
            "\n  ".join(repr(m) for m in recent) or "(none)"))

    def assert_none(self, topic, predicate=None, within=QUIET, since=0, why=""):
        """A bounded negative wait: fails if a matching message arrives within `within` seconds."""
        try:
            message = self.wait_for(topic, predicate, timeout=within, since=since)
        except HarnessError:
            return
        raise AssertionError("unexpected message on %s (%s): %r" % (topic, why, message))

    def publish(self, topic, payload, qos=1, retain=False, response_topic=None, correlation=None, timeout=10.0):
        """Publishes (a dict or list as JSON); with QoS 1 or 2, waits for the broker's acknowledgement."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        properties = None
        if response_topic is not None or correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos > 0:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise HarnessError("publish to %s was not acknowledged within %.0f s" % (topic, timeout))
        return info


def holds(predicate, message):
    """`predicate(message)`, False where it reads what the message does not have."""
    try:
        return bool(predicate(message))
    except (KeyError, TypeError, AttributeError, IndexError):
        return False
