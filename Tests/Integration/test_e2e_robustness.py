"""Bad input from the network or from a function never wedges the agent (found in review)."""

import json

import harness as h


def test_invalid_response_topic_does_not_block_other_output(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    since = edge.obs.mark()
    # An MQTT 5 response topic with a wildcard cannot be published to: the agent must ignore it...
    edge.obs.publish(edge.topics.invoke("echo"), json.dumps({"v": 1}), response_topic="replies/#")
    answer = edge.obs.wait_for(edge.topics.results("echo"), lambda m: m.json["sourceTopic"] == edge.topics.invoke("echo"),
                               since=since, what="the result of the invocation with a wildcard response topic")
    assert answer.json["status"] == "ok", answer.json
    # ...and everything after it still goes out.
    for n in range(3):
        result = edge.send("sensors/+/x", {"n": n}, "echo")
        assert result["status"] == "ok" and result["result"]["echo"] == {"n": n}, result


def test_oversized_event_is_refused_and_the_function_keeps_running(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    big = json.dumps({"blob": "x" * (3_500_000)})
    result = edge.send("sensors/+/x", big, "echo", timeout=30)
    assert result["status"] == "error" and result["error"]["type"] == "PayloadTooLarge", result
    after = edge.send("sensors/+/x", {"small": True}, "echo")
    assert after["status"] == "ok", after
    fn = edge.function_health("echo", lambda f: f["state"] == "RUNNING")
    assert fn["restarts"] == 0, fn


def test_redeploying_rearms_a_broken_function(agent, edge, tmp_path, shared_tmp):
    agent()
    # Where the function (running as edgefn) can see it.
    marker = shared_tmp / "fail-while-this-exists"
    marker.write_text("")
    script = tmp_path / "flaky" / "flaky.sh"
    script.parent.mkdir()
    # Crashes while the marker exists; otherwise stands in for a function (never sends ready, so
    # it is told apart by its state, not by answers).
    script.write_text('#!/bin/sh\nif [ -e "$MARKER" ]; then exit 3; fi\nexec sleep 600\n')
    script.chmod(0o755)
    spec = {"version": "1", "command": ["flaky.sh"], "artifacts": [h.artifact(script)],
            "environment": {"MARKER": str(marker)}, "startTimeoutMs": 60000,
            "restart": {"maxFailures": 1, "backoffMs": 0}}
    edge.deploy(h.document("flaky-v1", 1, {"flaky": spec}, onFailure="none"), expect="FAILED")
    edge.function_health("flaky", lambda f: f["state"] == "BROKEN", what="flaky BROKEN")

    marker.unlink()
    since = edge.obs.mark()
    edge.publish_deployment(h.document("flaky-v1", 2, {"flaky": spec}, onFailure="none"))
    started = edge.event("function.started", lambda e: e["function"] == "flaky", since=since)
    fn = edge.function_health("flaky", lambda f: f["state"] == "STARTING" and f.get("pid") == started["pid"],
                              since=since, what="flaky started again after the redeployment")
    assert fn["restarts"] == 0, fn
