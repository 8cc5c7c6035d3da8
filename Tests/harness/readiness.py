"""How the harness tells that an MQTT broker is ready: a raw CONNECT and what the broker answers
it, and QoS 1 round trips (live and retained) through real clients."""

import socket
import struct
import time

import paho.mqtt.client as mqtt

from .observer import Observer
from .topics import unique
from .waits import HarnessError, tail

CLOSED = "closed"          # the broker closed the connection without a CONNACK
NO_ANSWER = "no answer"    # the connection stayed open and silent
REFUSED = "refused"        # nothing listens on the port (yet)


def connect_answer(port, version=4, username=None, password=None, timeout=2.0):
    """Sends one raw CONNECT (`version` 4 is MQTT 3.1.1, 5 is MQTT 5) to 127.0.0.1:`port`; returns
    the CONNACK's return (3.1.1) or reason (5) code, or CLOSED, NO_ANSWER or REFUSED."""
    def field(text):
        data = text.encode()
        return struct.pack("!H", len(data)) + data
    flags = 0x02 | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = field("MQTT") + bytes([version, flags]) + struct.pack("!H", 30) + (b"\x00" if version == 5 else b"")
    body += field(unique("probe-")) + (field(username) if username is not None else b"")
    body += field(password) if password is not None else b""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return REFUSED
    with sock:
        try:
            sock.sendall(b"\x10" + _remaining_length(len(body)) + body)
            data = b""
            while len(data) < 4:
                chunk = sock.recv(4 - len(data))
                if not chunk:
                    return CLOSED
                data += chunk
        except socket.timeout:
            return NO_ANSWER
        except OSError:
            return CLOSED
    if data[0] != 0x20:
        raise HarnessError("127.0.0.1:%d answered a CONNECT with %r, not a CONNACK" % (port, data))
    return data[3]


def _remaining_length(n):
    """MQTT's variable-length integer."""
    out = b""
    while True:
        n, digit = n >> 7, n & 0x7F
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def wait_accepted(port, username, password, timeout, alive, what, log_text):
    """Repeats a 3.1.1 CONNECT until the broker answers it with CONNACK 0. `alive()` says whether
    the broker still runs; its log's tail goes in the failure."""
    deadline = time.monotonic() + timeout
    answer = None
    while True:
        if not alive():
            raise HarnessError("%s exited while starting; its log:\n%s" % (what, tail(log_text(), 60)))
        answer = connect_answer(port, 4, username, password, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        if answer == 0:
            return
        if time.monotonic() >= deadline:
            raise HarnessError("%s did not accept an MQTT connection on 127.0.0.1:%d within %.0f s (last answer: %s); "
                               "its log:\n%s" % (what, port, timeout, answer, tail(log_text(), 60)))
        time.sleep(0.05)  # a bounded retry loop on the port, with the deadline above


def client(port, username=None, password=None, filters=(), name="ready", timeout=10.0):
    """A started MQTT 3.1.1 Observer on `port`, logged in as `username`, subscribed to `filters`."""
    observer = Observer(port, name=name, filters=filters, protocol=mqtt.MQTTv311)
    if username is not None:
        observer.client.username_pw_set(username, password)
    try:
        return observer.start(timeout)
    except BaseException:
        observer.close()
        raise


def round_trip(publish_port, subscribe_port, username=None, password=None, retained=False, timeout=10.0):
    """A QoS 1 message published on `publish_port` reaches a subscriber on `subscribe_port`. With
    `retained`, it is published retained first and a subscriber that comes later receives it; the
    retained message is cleared after."""
    topic = unique("harness/ready/")
    publisher = client(publish_port, username, password, name="ready-pub", timeout=timeout)
    subscriber = None
    try:
        if retained:
            publisher.publish(topic, b"retained", qos=1, retain=True, timeout=timeout)
        subscriber = client(subscribe_port, username, password, filters=(topic,), name="ready-sub", timeout=timeout)
        if not retained:
            publisher.publish(topic, b"live", qos=1, timeout=timeout)
        subscriber.wait_for(topic, timeout=timeout, what="the %s QoS 1 message published on port %d"
                            % ("retained" if retained else "live", publish_port))
        if retained:
            publisher.publish(topic, b"", qos=1, retain=True, timeout=timeout)
    finally:
        for observer in (subscriber, publisher):
            if observer is not None:
                observer.close()
