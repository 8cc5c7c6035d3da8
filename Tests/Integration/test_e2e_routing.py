"""Direct invocation (MQTT 5 response topic, 3.1.1 replyTo, unknown function) and thing groups."""

import json

import paho.mqtt.client as mqtt

import harness as h


def test_direct_invocation(agent, edge, echo_bin, make_observer, broker):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=[])}))
    invoke = edge.topics.invoke("echo")

    # MQTT 5: response topic and correlation data.
    reply = "replies/%s" % h.unique("v5-")
    correlation = b"\x00corr-\xff" + h.unique().encode()
    since = edge.obs.mark()
    edge.obs.publish(invoke, json.dumps({"v": 5}), response_topic=reply, correlation=correlation)
    answer = edge.obs.wait_for(reply, since=since, what="the answer on the MQTT 5 response topic")
    assert answer.correlation == correlation, answer.correlation
    assert answer.json["status"] == "ok" and answer.json["result"]["echo"] == {"v": 5}, answer.json
    assert answer.json["sourceTopic"] == invoke
    # ...and also on the function's output topic.
    edge.obs.wait_for(edge.topics.results("echo"), lambda m: m.json["invocationId"] == answer.json["invocationId"],
                      since=since, what="the same answer on the output topic")

    # MQTT 3.1.1: the event's replyTo field, published by a 3.1.1 client.
    legacy = make_observer(broker.port, name="v311", filters=(), protocol=mqtt.MQTTv311)
    reply311 = "replies/%s" % h.unique("v3-")
    since = edge.obs.mark()
    legacy.publish(invoke, json.dumps({"replyTo": reply311, "v": 3}))
    answer = edge.obs.wait_for(reply311, since=since, what="the answer on the event's replyTo topic")
    assert answer.json["status"] == "ok", answer.json
    assert answer.json["result"]["echo"] == {"replyTo": reply311, "v": 3}

    # An unknown function.
    since = edge.obs.mark()
    unknown_reply = "replies/%s" % h.unique("nx-")
    edge.obs.publish(edge.topics.invoke("nosuchfn"), json.dumps({"x": 1}), response_topic=unknown_reply,
                     correlation=b"nx")
    event = edge.event("invoke.unknown_function", lambda e: e["function"] == "nosuchfn", since=since)
    assert event["sourceTopic"] == edge.topics.invoke("nosuchfn")
    error = edge.obs.wait_for(unknown_reply, since=since, what="the UnknownFunction answer").json
    assert error["status"] == "error" and error["error"]["type"] == "UnknownFunction", error
    assert isinstance(error.get("timestamp"), int) and error["timestamp"] > 1_600_000_000_000, "results carry a timestamp: %s" % error


def test_group_and_thing_documents_merge(agent, edge, echo_bin, tmp_path):
    group_doc = h.document("group-g1", 1, {
        "a": h.native_function(echo_bin, version="1.0", subscriptions=["grp/+/a"]),
        "b": h.native_function(echo_bin, version="1.0", subscriptions=["grp/+/b"]),
    })
    thing_doc = h.document("thing-b", 1, {
        "b": h.native_function(echo_bin, version="2.0", subscriptions=["grp/+/b"]),
    })
    agent(groups=["g1"])
    # The thing's document first, then the group's: the merge adds a and keeps the thing's b
    # (the thing overrides per function), so b is not restarted. The other order, which replaces
    # a running b, is test_thing_document_overrides_a_running_group_function.
    edge.deploy(thing_doc)
    pid_b = edge.function_health("b", lambda f: f.get("pid"))["pid"]
    status = edge.deploy(group_doc, topic=h.Topics.group_deployment("g1"))
    assert {s["source"] for s in status["sources"]} == {"thing", "group/g1"}, status
    assert status["functions"]["a"]["version"] == "1.0" and status["functions"]["a"]["source"] == "group/g1", status
    assert status["functions"]["b"]["version"] == "2.0" and status["functions"]["b"]["source"] == "thing", status
    assert edge.function_health("b", lambda f: f.get("pid"))["pid"] == pid_b

    a = edge.send("grp/+/a", {"to": "a"}, "a")
    b = edge.send("grp/+/b", {"to": "b"}, "b")
    assert a["status"] == "ok" and a["version"] == "1.0", a
    assert b["status"] == "ok" and b["version"] == "2.0", b
    # A document for a group the agent is not in is ignored.
    since = edge.obs.mark()
    edge.publish_deployment(h.document("other", 1, {"c": h.native_function(echo_bin)}),
                            topic=h.Topics.group_deployment("g2"))
    edge.obs.assert_none(edge.topics.status, lambda m: m.json.get("deploymentId") == "other", since=since,
                         within=1.0, why="the agent is not in group g2")


def test_thing_document_overrides_a_running_group_function(agent, edge, echo_bin):
    agent(groups=["g1"])
    group_doc = h.document("group-g1", 1, {
        "a": h.native_function(echo_bin, version="1.0", subscriptions=["grp/+/a"]),
        "b": h.native_function(echo_bin, version="1.0", subscriptions=["grp/+/b"]),
    })
    edge.deploy(group_doc, topic=h.Topics.group_deployment("g1"))
    assert edge.send("grp/+/b", {"to": "b"}, "b")["version"] == "1.0"
    pid_a = edge.function_health("a", lambda f: f.get("pid"))["pid"]

    status = edge.deploy(h.document("thing-b", 1, {
        "b": h.native_function(echo_bin, version="2.0", subscriptions=["grp/+/b"]),
    }))
    assert status["functions"]["b"]["version"] == "2.0" and status["functions"]["b"]["source"] == "thing", status
    b = edge.send("grp/+/b", {"to": "b"}, "b")
    assert b["status"] == "ok" and b["version"] == "2.0", b
    a = edge.send("grp/+/a", {"to": "a"}, "a")
    assert a["status"] == "ok" and a["version"] == "1.0", a
    # The group's function a did not change: it kept running untouched.
    assert edge.function_health("a", lambda f: f.get("pid"))["pid"] == pid_a
