"""fit's MQTT session with the broker: sends the requests to the function one at a time and
collects what the agent says about them: results, health reports and events of the thing.

One request is outstanding at a time: an error answer (a crash, a timeout, an OOM kill) carries
no request id, so it can only be matched to the one request in flight; and the round trip of a
request then measures the function, not a queue. Each trial deploys its own version of the
function (fit_deployment.trial_version), so a late answer of an earlier trial is told apart."""

import base64
import json
import os
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt


class BrokerError(RuntimeError):
    """The broker could not be reached or did not answer; the message says which and why."""


class Connection:
    """How to reach the broker, as edgectl takes it (the same flags are passed on to edgectl)."""

    def __init__(self, host, port, tls_ca=None, tls_cert=None, tls_key=None, username=None, password_file=None):
        self.host = host
        self.port = port
        self.tls_ca = tls_ca
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.username = username
        self.password_file = password_file

    def edgectl_flags(self):
        flags = ["--host", self.host, "--port", str(self.port)]
        for flag, value in (("--tls-ca", self.tls_ca), ("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key),
                            ("--username", self.username), ("--password-file", self.password_file)):
            if value:
                flags += [flag, str(value)]
        return flags

    def password(self):
        """The first line of the password file (never logged)."""
        if not self.password_file:
            return None
        with open(self.password_file) as f:
            return f.readline().rstrip("\r\n")


class Message:
    """A message received, parsed, with the monotonic time it came."""

    def __init__(self, topic, payload, received):
        self.topic = topic
        self.payload = payload
        self.received = received


class DeviceSession:
    """Subscribed to the thing's results, health, events and deployment topics before anything is
    sent. Every wait has a deadline; the lists of messages are read under `changed`."""

    def __init__(self, connection, thing, results_topic):
        self.connection = connection
        self.thing = thing
        self.topics = {
            "results": results_topic,
            "health": "edge/things/%s/health" % thing,
            "events": "edge/things/%s/events" % thing,
            "deployment": "edge/things/%s/deployment" % thing,
            "status": "edge/things/%s/deployment/status" % thing,
            # Under edge/, which the shipped operators' ACL grants (deploy/operators.acl), and outside
            # edge/things/, where the agent listens.
            "probe": "edge/edge-model/probe/%s/%s" % (thing, uuid.uuid4().hex[:12]),
        }
        self.changed = threading.Condition()
        self.messages = {kind: [] for kind in self.topics}
        self.subscribed = False
        self.connect_error = None
        self.subscribe_error = None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-model-fit-%d-%s"
                             % (os.getpid(), uuid.uuid4().hex[:6]))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        if connection.username:
            client.username_pw_set(connection.username, connection.password())
        if connection.tls_ca:
            client.tls_set(ca_certs=connection.tls_ca, certfile=connection.tls_cert, keyfile=connection.tls_key)
        self.client = client

    # -- paho's network thread: copy and notify, nothing else

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.changed:
            if reason_code.is_failure:
                self.connect_error = str(reason_code)
            else:
                client.subscribe([(topic, 1) for topic in self.topics.values()])
            self.changed.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.changed:
            refused = [topic for topic, code in zip(self.topics.values(), reason_codes) if code.is_failure]
            if refused:
                # A broker whose ACL denies a topic would otherwise make every trial "unanswered".
                self.subscribe_error = "the broker refused fit's subscription to %s: its ACL must let this " \
                                       "client read them (docs/models.md, 'What it needs')" % ", ".join(refused)
            self.subscribed = True
            self.changed.notify_all()

    def _on_message(self, client, userdata, message):
        now = time.monotonic()
        kind = next((k for k, t in self.topics.items() if mqtt.topic_matches_sub(t, message.topic)), None)
        if kind is None:
            return
        try:
            payload = json.loads(message.payload) if message.payload else None
        except ValueError:
            return  # not one of the agent's documents
        with self.changed:
            self.messages[kind].append(Message(message.topic, payload, now))
            self.changed.notify_all()

    # -- the caller's thread

    def wait(self, condition, timeout, what):
        """Waits under the lock until `condition()` is truthy; raises BrokerError naming `what`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = condition()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrokerError("timed out after %.0f s waiting for %s" % (timeout, what))
                self.changed.wait(left)

    def start(self, timeout=15):
        try:
            self.client.connect(self.connection.host, self.connection.port, keepalive=30)
        except OSError as error:
            raise BrokerError("cannot connect to %s:%d: %s" % (self.connection.host, self.connection.port, error))
        # Small packets each way: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms a round trip.
        sock = self.client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.loop_start()
        self.wait(lambda: self.subscribed or self.connect_error, timeout, "the broker to take the subscriptions")
        if self.subscribe_error:
            raise BrokerError(self.subscribe_error)
        if self.connect_error:
            raise BrokerError("the broker refused the connection: %s" % self.connect_error)
        # The broker sends the retained deployment before anything published after the SUBACK:
        # once our probe comes back, whatever was retained has come.
        self.client.publish(self.topics["probe"], b"{}", qos=1)
        self.wait(lambda: self.messages["probe"], timeout, "fit's own probe message to come back")
        return self

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def retained_revision(self):
        """The newest revision of the thing's own deployment topic that fit can see: the retained
        document's, the retained status's and health's (0 if none). The agent refuses a revision
        that is not greater than the last it saw, even when the broker has forgotten it."""
        with self.changed:
            documents = [m.payload for m in self.messages["deployment"] if isinstance(m.payload, dict)]
            documents += [m.payload for m in self.messages["status"]
                          if isinstance(m.payload, dict) and m.payload.get("source") == "thing"]
            documents += [(m.payload.get("deployment") or {}) for m in self.messages["health"]
                          if isinstance(m.payload, dict)]
        revisions = [0]
        for document in documents:
            if "payload" in document and "signatures" in document:  # a signed envelope
                try:
                    document = json.loads(base64.b64decode(document["payload"]))
                except ValueError:
                    continue
            if isinstance(document.get("revision"), int):
                revisions.append(document["revision"])
        return max(revisions)

    def mark(self):
        """A position in every list of messages, for "since" queries."""
        with self.changed:
            return {kind: len(messages) for kind, messages in self.messages.items()}

    def since(self, kind, mark):
        with self.changed:
            return list(self.messages[kind][mark[kind]:])

    def request(self, topic, event, version, function, timeout):
        """Publishes `event` and waits for its answer from `function` at `version`: an ok result
        echoing the event's id, or an error (which names no request). Returns (answer or None,
        round trip in ms or None)."""
        start = self.mark()
        sent = time.monotonic()
        self.client.publish(topic, json.dumps(event), qos=1)

        def answer():
            for message in self.messages["results"][start["results"]:]:
                body = message.payload
                if not isinstance(body, dict) or body.get("function") != function or body.get("version") != version:
                    continue
                if body.get("status") == "ok" and isinstance(body.get("result"), dict) \
                        and body["result"].get("id") == event["id"]:
                    return message
                if body.get("status") == "error":
                    return message
            return None

        try:
            message = self.wait(answer, timeout, "the answer to request %s" % event["id"])
        except BrokerError:
            return None, None
        return message.payload, (message.received - sent) * 1000.0
