"""A device shadow service for `shadows: cloud` tests: what AWS IoT Core does on its side of the
Device Shadow MQTT API (get, update with version checks, delete; accepted, rejected, delta and
documents; classic and named shadows), written from AWS's documentation and nothing of the
agent's, over plain MQTT (paho) on the test's real broker. Small: no metadata timestamps per
key beyond what the agent reads, no persistence."""

import json
import threading
import time

import paho.mqtt.client as mqtt

from .topics import unique
from .waits import HarnessError


def _merge(section, update):
    """AWS's merge: null deletes a key, objects merge, anything else replaces."""
    if update is None:
        return None
    result = dict(section or {})
    for key, value in update.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _delta(desired, reported):
    out = {}
    for key, value in (desired or {}).items():
        have = (reported or {}).get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            inner = _delta(value, have)
            if inner:
                out[key] = inner
        elif value != have:
            out[key] = value
    return out


class ShadowService:
    """Serves every thing's shadows under `root` on the broker at 127.0.0.1:`port`. `documents`
    holds them: {(thing, name): {"desired":…, "reported":…, "version": n}}; `requests` counts the
    requests served, by operation."""

    def __init__(self, port, root="$aws", protocol=mqtt.MQTTv311, username=None, password=None):
        self.port = port
        self.root = root
        self.documents = {}
        self.requests = {"get": 0, "update": 0, "delete": 0}
        self.conflicts = 0
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique("shadow-service-"), protocol=protocol)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self, timeout=10.0):
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise HarnessError("the shadow service could not connect to 127.0.0.1:%d within %.0f s" % (self.port, timeout))
        return self

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code == 0:
            base = "%s/things/+/shadow" % self.root
            client.subscribe([(base + "/+", 1), (base + "/name/+/+", 1)])
            # A SUBACK is not awaited: the first request a test sends comes after its own round trip.
            self.connected.set()

    def _on_message(self, client, userdata, message):
        levels = message.topic.split("/")
        if len(levels) == 5 and levels[3] == "shadow":
            thing, name, operation = levels[2], None, levels[4]
        elif len(levels) == 7 and levels[3] == "shadow" and levels[4] == "name":
            thing, name, operation = levels[2], levels[5], levels[6]
        else:
            return
        if operation not in self.requests:
            return
        base = "%s/things/%s/shadow" % (self.root, thing) + ("" if name is None else "/name/%s" % name)
        try:
            request = json.loads(message.payload) if message.payload.strip() else {}
        except ValueError:
            self._send(base + "/%s/rejected" % operation, {"code": 400, "message": "Invalid JSON"})
            return
        with self.lock:
            self.requests[operation] += 1
            replies = getattr(self, "_" + operation)((thing, name), request)
        for suffix, document in replies:
            self._send(base + "/" + suffix, document)

    def _send(self, topic, document):
        self.client.publish(topic, json.dumps(document), qos=1)

    def _token(self, request, reply):
        if "clientToken" in request:
            reply["clientToken"] = request["clientToken"]
        return reply

    def _get(self, key, request):
        shadow = self.documents.get(key)
        if shadow is None:
            return [("get/rejected", self._token(request, {"code": 404, "message": "No shadow exists with name: '%s'" % (key[1] or key[0])}))]
        state = {k: shadow[k] for k in ("desired", "reported") if shadow.get(k) is not None}
        delta = _delta(shadow.get("desired"), shadow.get("reported"))
        if delta:
            state["delta"] = delta
        return [("get/accepted", self._token(request, {"state": state, "metadata": {}, "version": shadow["version"],
                                                        "timestamp": int(time.time())}))]

    def _update(self, key, request):
        state = request.get("state")
        if not isinstance(state, dict):
            return [("update/rejected", self._token(request, {"code": 400, "message": "Missing required node: state"}))]
        shadow = self.documents.get(key) or {"desired": None, "reported": None, "version": 0}
        if "version" in request and request["version"] != shadow["version"]:
            self.conflicts += 1
            return [("update/rejected", self._token(request, {"code": 409, "message": "Version conflict"}))]
        previous = json.loads(json.dumps(shadow))
        for section in ("desired", "reported"):
            if section in state:
                shadow[section] = _merge(shadow.get(section), state[section])
        shadow["version"] += 1
        self.documents[key] = shadow
        now = int(time.time())
        replies = [("update/accepted", self._token(request, {"state": state, "metadata": {}, "version": shadow["version"],
                                                             "timestamp": now}))]
        current = {"state": {k: shadow[k] for k in ("desired", "reported") if shadow.get(k) is not None},
                   "version": shadow["version"]}
        replies.append(("update/documents", {"previous": {"state": {k: previous[k] for k in ("desired", "reported")
                                                                    if previous.get(k) is not None},
                                                          "version": previous["version"]},
                                             "current": current, "timestamp": now}))
        delta = _delta(shadow.get("desired"), shadow.get("reported"))
        if delta and "desired" in state:
            replies.append(("update/delta", {"state": delta, "metadata": {}, "version": shadow["version"], "timestamp": now}))
        return replies

    def _delete(self, key, request):
        shadow = self.documents.pop(key, None)
        if shadow is None:
            return [("delete/rejected", self._token(request, {"code": 404, "message": "No shadow exists with name: '%s'" % (key[1] or key[0])}))]
        return [("delete/accepted", self._token(request, {"version": shadow["version"], "timestamp": int(time.time())}))]

    def bump_version(self, thing, name=None):
        """Another writer, unseen: the version moves on without a message (a version check fails next)."""
        with self.lock:
            self.documents[(thing, name)]["version"] += 1

    def document(self, thing, name=None):
        with self.lock:
            shadow = self.documents.get((thing, name))
            return json.loads(json.dumps(shadow)) if shadow else None
