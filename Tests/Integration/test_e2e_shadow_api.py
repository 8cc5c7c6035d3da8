"""The AWS IoT Device Shadow MQTT API served by the agent, driven by an independent MQTT client:
documents, delta, versions, every documented error, concurrency and persistence."""

import json
import threading

import pytest

import harness as h
from harness.shadow_client import ShadowClient, prefix


def online(agent, edge):
    started = agent()
    edge.health(lambda report: report["status"] == "online", what="the agent online (its shadow topics subscribed)")
    return started


def test_update_get_delta_documents_and_delete_as_aws_documents_them(agent, edge, shadow):
    online(agent, edge)
    name = "lamp"
    assert shadow.rejected("get", name=name) == {
        "code": 404, "message": "No shadow exists with name: 'lamp'", "timestamp": pytest.approx(0, abs=1e10),
        "clientToken": shadow.obs.messages[-1].json["clientToken"]}

    since = shadow.obs.mark()
    accepted = shadow.accepted("update", {"state": {"desired": {"color": "red", "dim": {"level": 3, "ramp": 1}}}}, name=name)
    assert accepted["state"] == {"desired": {"color": "red", "dim": {"level": 3, "ramp": 1}}}
    assert accepted["version"] == 1
    stamp = accepted["timestamp"]
    assert accepted["metadata"] == {"desired": {"color": {"timestamp": stamp},
                                                "dim": {"level": {"timestamp": stamp}, "ramp": {"timestamp": stamp}}}}
    delta = shadow.wait_for("update/delta", name=name, since=since)
    assert delta["state"] == {"color": "red", "dim": {"level": 3, "ramp": 1}} and delta["version"] == 1
    assert delta["metadata"]["color"] == {"timestamp": stamp}
    documents = shadow.wait_for("update/documents", name=name, since=since)
    assert documents["previous"] is None
    assert documents["current"]["state"] == {"desired": {"color": "red", "dim": {"level": 3, "ramp": 1}}}
    assert documents["current"]["version"] == 1 and documents["clientToken"] == accepted["clientToken"]

    # The device reports part of it: the delta shrinks to the differing leaves; no /delta for a reported-only update.
    since = shadow.obs.mark()
    reported = shadow.accepted("update", {"state": {"reported": {"color": "red", "dim": {"level": 1, "ramp": 1}}}}, name=name)
    assert reported["state"] == {"reported": {"color": "red", "dim": {"level": 1, "ramp": 1}}} and reported["version"] == 2
    document = shadow.get(name=name)
    assert document["state"]["delta"] == {"dim": {"level": 3}}
    assert document["state"]["desired"] == {"color": "red", "dim": {"level": 3, "ramp": 1}}
    assert document["version"] == 2
    assert set(document["metadata"]) == {"desired", "reported"}
    shadow.obs.assert_none(prefix(shadow.thing, name) + "/update/delta", since=since, within=0.5,
                           why="a reported-only update sends no delta")

    # Arrays compare and replace whole; null deletes a key; "desired": null clears the section.
    shadow.accepted("update", {"state": {"desired": {"modes": [1, 2], "color": None}, "reported": {"modes": [2, 1]}}}, name=name)
    document = shadow.get(name=name)
    assert document["state"]["desired"] == {"dim": {"level": 3, "ramp": 1}, "modes": [1, 2]}
    assert document["state"]["delta"] == {"dim": {"level": 3}, "modes": [1, 2]}
    assert "color" not in document["metadata"]["desired"]
    shadow.accepted("update", {"state": {"desired": None}}, name=name)
    document = shadow.get(name=name)
    assert "desired" not in document["state"] and "delta" not in document["state"]
    assert document["version"] == 4

    # Delete keeps the version: the shadow made again continues from it.
    deleted = shadow.accepted("delete", name=name)
    assert deleted["version"] == 4 and "timestamp" in deleted
    assert shadow.rejected("get", name=name)["code"] == 404
    assert shadow.rejected("delete", name=name)["code"] == 404
    assert shadow.accepted("update", {"state": {"reported": {"on": True}}}, name=name)["version"] == 5


def test_optimistic_locking_rejects_a_stale_version_with_409(agent, edge, shadow):
    online(agent, edge)
    assert shadow.accepted("update", {"state": {"desired": {"x": 1}}, "version": 0}, name="lock")["version"] == 1
    assert shadow.accepted("update", {"state": {"desired": {"x": 2}}, "version": 1}, name="lock")["version"] == 2
    conflict = shadow.rejected("update", {"state": {"desired": {"x": 3}}, "version": 1}, name="lock")
    assert conflict["code"] == 409 and conflict["message"] == "Version conflict"
    assert shadow.rejected("delete", {"version": 7}, name="lock")["code"] == 409
    assert shadow.get(name="lock")["state"]["desired"] == {"x": 2}
    assert shadow.accepted("update", {"state": {"desired": {"x": 3}}}, name="lock")["version"] == 3


DEEP7 = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
DEEP6 = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}

ERRORS = [
    ("update", b"{not json", 400, "Invalid JSON"),
    ("update", b"[1, 2]", 400, "Invalid JSON"),
    ("update", b"", 400, "Invalid JSON"),
    ("get", b"{\"clientToken\": ", 400, "Invalid JSON"),
    ("update", {"desired": {"x": 1}}, 400, "Missing required node: state"),
    ("update", {"state": "on"}, 400, "State node must be an object"),
    ("update", {"state": {"desired": [1]}}, 400, "Desired node must be an object"),
    ("update", {"state": {"reported": 5}}, 400, "Reported node must be an object"),
    ("update", {"state": {"delta": {"x": 1}}}, 400, "State contains an invalid node"),
    ("update", {"state": {"desired": {"x": 1}}, "version": "3"}, 400, "Invalid version"),
    ("update", {"state": {"desired": {"x": 1}}, "version": -1}, 400, "Invalid version"),
    ("update", {"state": {"desired": {"x": 1}}, "version": 1.5}, 400, "Invalid version"),
    ("update", {"state": {"desired": {"x": 1}}, "clientToken": "t" * 65}, 400, "Invalid clientToken"),
    ("update", {"state": {"desired": {"x": 1}}, "clientToken": 12}, 400, "Invalid clientToken"),
    ("update", {"state": {"desired": DEEP7}}, 400, "JSON contains too many levels of nesting; maximum is 6"),
    ("update", {"state": {"reported": DEEP7}}, 400, "JSON contains too many levels of nesting; maximum is 6"),
    ("update", {"state": {"desired": {"big": "x" * 9000}}}, 413, "The payload exceeds the maximum size allowed"),
    ("update", b"{\"state\": {\"desired\": {\"x\": \"" + b"y" * 200_000 + b"\"}}}", 413,
     "The payload exceeds the maximum size allowed"),
    ("update", b"{\"state\": {\"desired\": {\"x\": \"\xff\xfe\"}}}", 415,
     "Unsupported documented encoding; supported encoding is UTF-8"),
    ("delete", {"version": "x"}, 400, "Invalid version"),
]


@pytest.mark.parametrize("operation,payload,code,message", ERRORS,
                         ids=["%s-%d-%s" % (e[0], e[2], e[3][:24].replace(" ", "_")) for e in ERRORS])
def test_every_documented_error_goes_to_rejected_with_its_code(agent, edge, shadow, operation, payload, code, message):
    online(agent, edge)
    name = "errors"
    if operation == "delete":
        shadow.accepted("update", {"state": {"reported": {"ok": 1}}}, name=name)
    token = None
    if isinstance(payload, dict):
        document = dict(payload)
        if "clientToken" not in document:
            token = document["clientToken"] = shadow.token()
        raw = json.dumps(document).encode()
    else:
        raw = payload
    since = shadow.obs.mark()
    shadow.send(operation, raw, name=name)
    reply = shadow.wait_for(operation + "/rejected", name=name, since=since,
                            what="the rejection of %r" % raw[:60])
    assert reply["code"] == code and reply["message"] == message, reply
    assert isinstance(reply["timestamp"], int)
    if token:
        assert reply["clientToken"] == token
    shadow.obs.assert_none(prefix(shadow.thing, name) + "/update/accepted", since=since, within=0.3,
                           why="a rejected request changes nothing")
    # The agent is unharmed and the shadow unchanged.
    state = shadow.accepted("update", {"state": {"reported": {"after": True}}}, name=name)
    assert state["version"] == (2 if operation == "delete" else 1)


def test_limits_at_the_edge_are_accepted_and_unknown_shadows_are_404(agent, edge, shadow):
    online(agent, edge)
    assert shadow.accepted("update", {"state": {"desired": DEEP6}, "clientToken": "t" * 64}, name="edge")["version"] == 1
    # 8 KB of state in total: two sections that fit alone but not together.
    shadow.accepted("update", {"state": {"desired": {"a": "x" * 5000}}}, name="size")
    assert shadow.rejected("update", {"state": {"reported": {"b": "x" * 5000}}}, name="size")["code"] == 413
    assert shadow.rejected("get", name="never")["message"] == "No shadow exists with name: 'never'"
    bad = shadow.rejected("get", name="bad.name")
    assert bad["code"] == 400 and "shadow name" in bad["detail"]


def test_two_hundred_concurrent_updates_from_several_clients(agent, edge, make_observer, broker, thing):
    online(agent, edge)
    clients = [ShadowClient(broker.port, thing, name="writer%d" % index).start() for index in range(4)]
    watcher = ShadowClient(broker.port, thing, name="watcher").start()
    name = "counter"
    try:
        since = watcher.obs.mark()
        failures = []

        def write(client, index):
            try:
                for step in range(50):
                    key = "c%d" % index
                    client.send("update", {"state": {"reported": {key: step, "last": "%d-%d" % (index, step)}},
                                           "clientToken": "%d-%d" % (index, step)}, name=name)
            except Exception as error:  # reported below: a thread's failure must fail the test
                failures.append(error)

        threads = [threading.Thread(target=write, args=(client, index)) for index, client in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not failures, failures
        accepted = watcher.obs.wait_count(prefix(thing, name) + "/update/accepted", None, 200, timeout=60,
                                          since=since, what="200 accepted updates")
        versions = [m.json["version"] for m in accepted]
        assert versions == list(range(1, 201)), "versions must increase by one per update, none lost"
        assert not watcher.obs.seen(prefix(thing, name) + "/update/rejected", since=since)
        # Each writer's own updates were applied in the order it sent them.
        for index in range(4):
            steps = [m.json["state"]["reported"]["c%d" % index] for m in accepted if "c%d" % index in m.json["state"]["reported"]]
            assert steps == list(range(50))
        # The final document is what applying the accepted updates in version order gives.
        expected = {}
        for message in accepted:
            expected.update(message.json["state"]["reported"])
        document = watcher.get(name=name)
        assert document["version"] == 200
        assert document["state"]["reported"] == expected
        assert expected == {"c0": 49, "c1": 49, "c2": 49, "c3": 49, "last": accepted[-1].json["state"]["reported"]["last"]}
    finally:
        for client in clients + [watcher]:
            client.close()


def test_shadows_survive_a_restart_and_a_kill_and_versions_never_go_back(agent, edge, shadow, shared_tmp):
    first = online(agent, edge)
    shadow.accepted("update", {"state": {"desired": {"mode": "eco"}, "reported": {"mode": "boost"}}}, name="heater")
    shadow.accepted("update", {"state": {"reported": {"mode": "eco"}}}, name="heater")
    shadow.accepted("update", {"state": {"desired": {"gone": 1}}}, name="tomb")
    shadow.accepted("delete", name="tomb")
    first.kill()  # no clean stop: what was accepted was already on disk

    since = edge.obs.mark()
    second = agent()
    edge.health(lambda report: report["status"] == "online", since=since, what="the restarted agent online")
    document = shadow.get(name="heater")
    assert document["version"] == 2
    assert document["state"]["desired"] == {"mode": "eco"} and document["state"]["reported"] == {"mode": "eco"}
    assert "delta" not in document["state"]
    assert shadow.rejected("get", name="tomb")["code"] == 404
    assert shadow.accepted("update", {"state": {"desired": {"back": 1}}}, name="tomb")["version"] == 2
    second.stop()


def test_no_payload_crashes_or_stalls_the_agent(agent, edge, shadow):
    """Random bytes, truncations of a valid request, 100,000 levels of nesting and 5 MB of
    payload: each request gets its rejection (or is accepted), and the agent keeps serving."""
    import random
    started = online(agent, edge)
    rng = random.Random(4)
    valid = json.dumps({"state": {"desired": {"a": [1, {"b": "c"}], "d": None}}, "clientToken": "v"}).encode()
    payloads = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))) for _ in range(60)]
    payloads += [valid[:cut] for cut in range(1, len(valid), 3)]
    payloads += [b"[" * 100_000, b"{\"state\":" * 50_000, b"\"" + b"\\u" * 1000, b"x" * (5 << 20), b"\x00" * 64]
    name = "fuzz"
    for index, payload in enumerate(payloads):
        operation = ("update", "get", "delete")[index % 3]
        since = shadow.obs.mark()
        shadow.send(operation, payload, name=name)
        shadow.wait_for(operation + "/+", name=name, since=since, what="a reply to payload #%d (%r…)" % (index, payload[:20]))
    assert h.process_alive(started.pid)
    assert shadow.accepted("update", {"state": {"reported": {"alive": True}}}, name=name)["state"] == {"reported": {"alive": True}}
