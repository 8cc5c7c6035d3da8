"""Inputs from anyone on the broker cannot reach into the agent's control plane or break a
function: reply topics are confined, subscriptions into the agent's topics are refused at
deployment, a deployment with a key given twice is refused naming it, and an answer may nest
deeper than the event it echoes (issue 12, "Inputs that cannot break functions")."""

import json

import harness as h

DEEP_ECHO = '''
def handler(event, context):
    return {"wrapped": {"event": event}}
'''


def test_a_reply_topic_in_the_agents_namespace_is_refused_and_reported(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    attacks = [
        # MQTT 3.1.1 style, inside the event: the thing's own retained deployment topic.
        ({"replyTo": edge.topics.deployment, "n": 1}, None, edge.topics.deployment),
        # MQTT 5 style: the retained status topic.
        ({"n": 2}, edge.topics.status, edge.topics.status),
        # Another thing's control topic, and AWS IoT's reserved shadow topics.
        ({"replyTo": "edge/things/other-thing/deployment", "n": 3}, None, "edge/things/other-thing/deployment"),
        ({"replyTo": "$aws/things/%s/shadow/update" % edge.thing, "n": 4}, None, "$aws/things/%s/shadow/update" % edge.thing),
    ]
    for event, response_topic, target in attacks:
        since = edge.obs.mark()
        edge.obs.publish(edge.topics.invoke("echo"), json.dumps(event), response_topic=response_topic)
        refused = edge.event("invoke.reply_refused", lambda e, t=target: e["replyTopic"] == t, since=since)
        assert refused["sourceTopic"] == edge.topics.invoke("echo"), refused
        assert "reserved" in refused["reason"] or "edge/ namespace" in refused["reason"], refused
        # The answer still goes to the function's own output topic.
        answer = edge.obs.wait_for(edge.topics.results("echo"), lambda m, n=event["n"]: m.json["result"]["echo"]["n"] == n,
                                   since=since, what="the answer on the output topic")
        assert answer.json["invocationId"] == refused["invocationId"], (answer.json, refused)
        edge.obs.assert_none(target, since=since, why="a reply topic in the agent's namespace must never be published to")
    # The last status published is still the deployment's own, and so is the retained one.
    status = edge.obs.seen(edge.topics.status)[-1].json
    assert status["status"] == "SUCCEEDED" and status["deploymentId"] == "echo-v1", status


def test_a_subscription_into_the_agents_topics_rejects_the_deployment(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    since = edge.obs.mark()
    edge.publish_deployment(h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2",
                                                                                  subscriptions=["edge/#"])}))
    status = edge.final_status("echo-v2", 2, since=since)
    assert status["status"] == "REJECTED", status
    error = status["errors"][0]
    assert error["path"] == "functions.echo.subscriptions[0].topic", status
    assert "takes in the agent's own topics" in error["message"], status
    assert edge.send("sensors/+/x", {"still": 1}, "echo")["version"] == "1"


def test_a_deployment_with_a_key_given_twice_is_rejected_naming_it(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    doc = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")})
    text = json.dumps(doc)
    # "version" a second time inside the function, after everything else.
    twice = text.replace('"version": "2"', '"version": "2", "command": ["echo"], "version": "3"', 1)
    assert twice != text
    since = edge.obs.mark()
    edge.publish_deployment(None, raw=twice)
    rejected = edge.obs.wait_for(edge.topics.status, lambda m: m.json["status"] == "REJECTED", since=since,
                                 what="REJECTED for a document with a key given twice").json
    messages = " ".join(e["message"] for e in rejected["errors"])
    assert 'appears twice in functions.echo' in messages, rejected
    assert edge.send("sensors/+/x", {"still": 1}, "echo")["version"] == "1"


def test_an_answer_may_nest_deeper_than_the_event_it_echoes(agent, edge, tmp_path):
    agent()
    module = h.write_module(tmp_path / "src", "deepfn", DEEP_ECHO)
    edge.deploy(h.document("deep-v1", 1, {"deep": h.python_function(module, "deepfn.handler", subscriptions=["deep/+/in"])}))
    event = 1
    for _ in range(62):
        event = {"a": event}
    # Three times: a protocol error each time would have made the function BROKEN.
    for _ in range(3):
        result = edge.send("deep/+/in", event, "deep")
        assert result["status"] == "ok", result
        assert result["result"]["wrapped"]["event"] == event
    fn = edge.function_health("deep", lambda f: f["state"] == "RUNNING")
    assert fn["restarts"] == 0, fn
