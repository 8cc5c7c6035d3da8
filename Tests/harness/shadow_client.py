"""An independent AWS IoT Device Shadow client for the tests: plain MQTT (paho, through the
harness's Observer), the topics and documents AWS documents, nothing from the agent."""

import json
import threading

from .observer import Observer, holds
from .waits import WAIT

OPERATIONS = ("get", "update", "delete")


def prefix(thing, name=None, root="$aws"):
    base = "%s/things/%s/shadow" % (root, thing)
    return base if name is None else "%s/name/%s" % (base, name)


class ShadowClient:
    """Subscribes to every reply topic of a thing's shadows before the test acts (not to the
    request topics, whose payloads may be anything), and sends requests that wait for their
    reply by clientToken."""

    def __init__(self, port, thing, name="shadow-client", root="$aws", **observer_options):
        """`root`: the shadow topics' root; `observer_options`: Observer's (username, password, protocol)."""
        self.thing = thing
        self.root = root
        base = prefix(thing, root=root)
        self.obs = Observer(port, name=name, filters=(base + "/+/+", base + "/name/+/+/+"), **observer_options)
        self.counter = 0
        self.lock = threading.Lock()

    def start(self):
        self.obs.start()
        return self

    def close(self):
        self.obs.close()

    def token(self):
        with self.lock:
            self.counter += 1
            return "%s-%d" % (self.obs.client._client_id.decode(), self.counter)

    def send(self, operation, payload, name=None, qos=1):
        """Publishes raw bytes (or a document) to a request topic."""
        topic = "%s/%s" % (prefix(self.thing, name, self.root), operation)
        self.obs.publish(topic, payload if isinstance(payload, (bytes, str)) else json.dumps(payload), qos=qos)

    def request(self, operation, document=None, name=None, raw=None, timeout=WAIT):
        """Sends a request with a fresh clientToken (unless `raw` bytes are given, or the document
        has one) and returns (outcome, reply): outcome is "accepted" or "rejected"."""
        since = self.obs.mark()
        token = None
        if raw is None:
            document = dict(document or {})
            token = document.setdefault("clientToken", self.token())
            payload = json.dumps(document)
        else:
            payload = raw
        self.send(operation, payload, name=name)
        base = "%s/%s/" % (prefix(self.thing, name, self.root), operation)

        def mine(message):
            if message.topic not in (base + "accepted", base + "rejected"):
                return False
            return token is None or message.json.get("clientToken") == token

        message = self.obs.wait_for("%s/%s/+" % (prefix(self.thing, name, self.root), operation), mine, timeout=timeout, since=since,
                                    what="the reply to %s %s (clientToken %s)" % (operation, name or "(classic)", token))
        return message.topic.rsplit("/", 1)[1], message.json

    def accepted(self, operation, document=None, name=None, timeout=WAIT):
        outcome, reply = self.request(operation, document, name=name, timeout=timeout)
        assert outcome == "accepted", "%s of %s was rejected: %s" % (operation, name or "(classic)", reply)
        return reply

    def rejected(self, operation, document=None, name=None, raw=None, timeout=WAIT):
        outcome, reply = self.request(operation, document, name=name, raw=raw, timeout=timeout)
        assert outcome == "rejected", "%s of %s was accepted, expected a rejection: %s" % (operation, name or "(classic)", reply)
        return reply

    def get(self, name=None):
        return self.accepted("get", name=name)

    def wait_for(self, suffix, predicate=None, name=None, timeout=WAIT, since=0, what=None):
        topic = "%s/%s" % (prefix(self.thing, name, self.root), suffix)
        return self.obs.wait_for(topic, predicate, timeout=timeout, since=since, what=what or topic).json

    def wait_state(self, predicate, name=None, timeout=WAIT, what="a shadow state"):
        """The shadow's document once `predicate(document)` holds: checked on a get, then on each
        /update/documents (`current`) after it; returns the whole document from a final get."""
        since = self.obs.mark()
        outcome, document = self.request("get", name=name)
        if outcome == "accepted" and holds(predicate, _Doc(document)):
            return document
        self.wait_for("update/documents", lambda m: predicate(_Doc(m.json["current"])), name=name, timeout=timeout,
                      since=since, what=what)
        return self.get(name=name)


class _Doc(dict):
    """A document for predicates: doc.reported / doc.desired / doc.delta read state members or {}."""

    def __init__(self, document):
        super().__init__(document)
        state = document.get("state") or {}
        self.reported = state.get("reported") or {}
        self.desired = state.get("desired") or {}
        self.delta = state.get("delta") or {}
