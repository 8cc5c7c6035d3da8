"""Deployments of the native echo function: bring-up, replacement, rejection, re-delivery,
artifact digests."""

import json
import re
import time

import paho.mqtt.client as mqtt

import harness as h


def test_native_deployment_comes_up_and_answers(agent, edge, echo_bin):
    a = agent()
    status = edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")}))
    assert status["functions"]["echo"]["version"] == "1"
    assert status["functions"]["echo"]["state"] == "RUNNING"

    fn = edge.function_health("echo", lambda f: f["state"] == "RUNNING" and f.get("pid"),
                              what="health showing echo RUNNING with a pid")
    assert fn["pid"] in a.children(), "the reported pid %s is not a child of the agent (%s)" % (fn["pid"], a.children())
    assert fn["version"] == "1"

    result = edge.send("sensors/+/x", {"temp": 21.5, "tags": ["a", "b"]}, "echo")
    assert result["status"] == "ok", result
    assert result["function"] == "echo" and result["version"] == "1" and result["thing"] == edge.thing
    assert result["result"] == {"echo": {"temp": 21.5, "tags": ["a", "b"]}}
    assert result["sourceTopic"].startswith("sensors/") and result["invocationId"]

    raw = b"\x00\xffnot json\n"
    result = edge.send("sensors/+/x", raw, "echo")
    assert result["status"] == "ok", result
    assert result["result"]["payloadBase64"] == h.b64(raw)
    assert result["result"]["echo"] is None

    failed = edge.send("sensors/+/x", {"fail": True}, "echo")
    assert failed["status"] == "error"
    assert failed["error"]["type"] == "EchoFailure" and failed["error"]["message"] == "asked to fail"
    assert "result" not in failed


def test_second_deployment_replaces_the_first(agent, edge, echo_bin):
    a = agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")}))
    old_pid = edge.function_health("echo", lambda f: f["state"] == "RUNNING" and f.get("pid"))["pid"]
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "1"

    since = edge.obs.mark()
    status = edge.deploy(h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")}))
    assert status["functions"]["echo"]["version"] == "2"
    result = edge.send("sensors/+/x", {"n": 2}, "echo")
    assert result["status"] == "ok" and result["version"] == "2", result
    assert result["result"]["echo"] == {"n": 2}

    h.poll_until(lambda: not h.process_alive(old_pid), 10, "the version-1 process %d to be gone" % old_pid)
    new_pid = edge.function_health("echo", lambda f: f["version"] == "2" and f.get("pid"), since=since)["pid"]
    assert new_pid != old_pid
    assert old_pid not in a.children()


def test_malformed_and_invalid_documents_are_rejected(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")}))

    # Not JSON at all.
    since = edge.obs.mark()
    edge.publish_deployment(None, raw='{"deploymentId": "broken", "revision": 2, ')
    rejected = edge.obs.wait_for(edge.topics.status, lambda m: m.json["status"] == "REJECTED", since=since,
                                 what="REJECTED for a malformed document").json
    assert rejected["errors"], rejected
    assert rejected["errors"][0]["path"] == "(document)"
    assert rejected["errors"][0]["message"], rejected
    assert edge.send("sensors/+/x", {"still": 1}, "echo")["version"] == "1"

    # Valid JSON, three problems: a wrong type, an unknown field, a missing digest.
    bad = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")})
    bad["functions"]["echo"]["limits"] = {"memoryMB": "lots"}
    bad["functions"]["echo"]["colour"] = "blue"
    del bad["functions"]["echo"]["artifacts"][0]["sha256"]
    since = edge.obs.mark()
    edge.publish_deployment(bad)
    rejected = edge.obs.wait_for(edge.topics.status, lambda m: m.json["status"] == "REJECTED", since=since,
                                 what="REJECTED for an invalid document").json
    paths = {e["path"]: e for e in rejected["errors"]}
    assert "functions.echo.limits.memoryMB" in paths, paths
    assert paths["functions.echo.limits.memoryMB"]["value"] == '"lots"'
    assert "functions.echo.colour" in paths, paths
    assert "functions.echo.artifacts[0].sha256" in paths, paths
    assert rejected["deploymentId"] == "echo-v2" and rejected["revision"] == 2
    edge.event("deployment.rejected", lambda e: e["deploymentId"] == "echo-v2", since=since)

    result = edge.send("sensors/+/x", {"still": 2}, "echo")
    assert result["status"] == "ok" and result["version"] == "1", result

    # The rejected revision was not marked seen: the fixed document at revision 2 applies. (It
    # adds a function rather than replacing echo, so this check stands apart from replacement.)
    fixed = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="1"),
                                      "other": h.native_function(echo_bin, version="2", subscriptions=["other/+/x"])})
    edge.deploy(fixed)
    assert edge.send("other/+/x", {"n": 3}, "other")["version"] == "2"


def test_redelivery_is_ignored_and_an_older_revision_refused_as_a_replay(agent, edge, echo_bin):
    a = agent()
    v1 = h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")})
    # Revision 2 adds a function and leaves echo as it is (no replacement involved).
    v2 = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="1"),
                                   "other": h.native_function(echo_bin, version="2", subscriptions=["other/+/x"])})
    edge.deploy(v1)
    edge.deploy(v2)
    pid = edge.function_health("other", lambda f: f["version"] == "2" and f.get("pid"))["pid"]
    ignored = r"deployment revision already seen; ignored"

    # The same revision again: read and ignored (the debug log line is the positive signal that it
    # was processed), and no new attempt starts.
    since = edge.obs.mark()
    edge.publish_deployment(v2)
    a.wait_log(ignored, what="the agent to ignore revision 2 delivered again")
    # Negative wait: an IN_PROGRESS would show the document being applied again.
    edge.obs.assert_none(edge.topics.status, lambda m: m.json["status"] == "IN_PROGRESS", since=since,
                         why="revision 2 was already seen")

    # An older revision is a replay (or a stale document): refused out loud, naming what was seen.
    since = edge.obs.mark()
    edge.publish_deployment(v1)
    refused = edge.final_status("echo-v1", 1, since=since)
    assert refused["status"] == "REJECTED", refused
    assert [e["path"] for e in refused["errors"]] == ["revision"], refused
    assert "older than revision 2 (echo-v2) already seen" in refused["errors"][0]["message"], refused
    edge.obs.assert_none(edge.topics.status, lambda m: m.json["status"] == "IN_PROGRESS", since=since,
                         why="revision 1 is older than what runs")
    edge.publish_deployment(v2)
    a.wait_log(ignored, count=2, what="revision 2 retained again, and ignored")

    # Force a reconnect (a client takes over the agent's client id): on re-subscribing the agent
    # gets the retained document (revision 2 again) once more and must ignore it.
    seen_before = len(re.findall(ignored, a.log_text()))
    since = edge.obs.mark()
    intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=edge.thing, protocol=mqtt.MQTTv5)
    intruder.connect("127.0.0.1", edge.obs.port)
    intruder.loop_start()
    try:
        edge.health(lambda j: j["status"] == "online" and j["connection"]["reconnects"] >= 1, since=since,
                    what="health after the agent reconnected")
        a.wait_log(ignored, count=seen_before + 1, what="the re-delivered retained document to be ignored")
    finally:
        intruder.disconnect()
        intruder.loop_stop()
    edge.obs.assert_none(edge.topics.status, lambda m: m.json["status"] == "IN_PROGRESS", since=since,
                         why="the re-delivered revision was already seen")
    result = edge.send("other/+/x", {"n": 1}, "other")
    assert result["status"] == "ok" and result["version"] == "2", result
    assert edge.function_health("other")["pid"] == pid


def test_sha256_mismatch_fails_and_leaves_running_deployment(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")}))
    pid = edge.function_health("echo", lambda f: f["state"] == "RUNNING" and f.get("pid"))["pid"]

    bad = h.document("echo-v2", 2, {"echo": h.native_function(echo_bin, version="2")})
    bad["functions"]["echo"]["artifacts"][0]["sha256"] = "0" * 64
    status = edge.deploy(bad, expect="FAILED")
    assert "functions.echo.artifacts[0]" in status["reason"], status
    assert "echo" in status.get("functions", {}) and status["functions"]["echo"]["version"] == "1", status

    result = edge.send("sensors/+/x", {"after": "mismatch"}, "echo")
    assert result["status"] == "ok" and result["version"] == "1", result
    assert edge.function_health("echo", lambda f: f["state"] == "RUNNING")["pid"] == pid


def test_timeout_replaces_the_instance(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, timeoutMs=300)}))
    pid = edge.function_health("echo", lambda f: f["state"] == "RUNNING" and f.get("pid"))["pid"]

    since = edge.obs.mark()
    result = edge.send("sensors/+/x", {"sleepMs": 2000}, "echo")
    assert result["status"] == "error", result
    assert result["error"]["type"] == "Timeout", result
    assert result["durationMs"] < 1500, "the Timeout came after %s ms, not near timeoutMs 300" % result["durationMs"]
    edge.event("function.timeout", lambda e: e["function"] == "echo" and e["timeoutMs"] == 300, since=since)

    answer = edge.send("sensors/+/x", {"after": "timeout"}, "echo")
    assert answer["status"] == "ok" and answer["result"]["echo"] == {"after": "timeout"}, answer
    h.poll_until(lambda: not h.process_alive(pid), 10, "the timed-out instance %d to be gone" % pid)
    health = edge.function_health("echo", lambda f: f["timeouts"] >= 1 and f.get("pid"), since=since)
    assert health["pid"] != pid


def test_a_burst_of_revisions_gets_a_final_status_each_and_the_last_one_runs(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("burst", 1, {"echo": h.native_function(echo_bin, version="1")}))
    since = edge.obs.mark()
    for revision in range(2, 12):
        edge.publish_deployment(h.document("burst", revision, {"echo": h.native_function(echo_bin, version=str(revision))}))
    finals = {revision: edge.final_status("burst", revision, since=since) for revision in range(2, 12)}
    assert finals[11]["status"] == "SUCCEEDED", finals[11]
    for revision, status in finals.items():
        assert status["status"] in ("SUCCEEDED", "SUPERSEDED"), (revision, status)
        if status["status"] == "SUPERSEDED":
            assert status["supersededBy"]["revision"] > revision, status
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "11"


NEVER_READY = '''
import time

time.sleep(600)  # at import: this function never says ready


def handler(event, context):
    return event
'''


def test_a_revision_that_never_gets_ready_is_superseded_by_the_next_at_once(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("stuck", 1, {"echo": h.native_function(echo_bin, version="1")}))
    module = h.write_module(h.shared_path("src"), "stuck", NEVER_READY)
    since = edge.obs.mark()
    edge.publish_deployment(h.document("stuck", 2, {"echo": h.python_function(module, "stuck.handler", version="2",
                                                                               subscriptions=("sensors/+/x",),
                                                                               startTimeoutMs=600000)}))
    edge.event("function.started", lambda e: e["function"] == "echo" and e["version"] == "2", since=since)
    asked = time.monotonic()
    edge.publish_deployment(h.document("stuck", 3, {"echo": h.native_function(echo_bin, version="3")}))
    second = edge.final_status("stuck", 2, since=since, timeout=20)
    assert second["status"] == "SUPERSEDED" and second["supersededBy"] == {"deploymentId": "stuck", "revision": 3}, second
    third = edge.final_status("stuck", 3, since=since, timeout=20)
    assert third["status"] == "SUCCEEDED", third
    # Without superseding, revision 3 would wait for revision 2's 600 s start timeout.
    took = time.monotonic() - asked
    assert took < 10, "revision 3 succeeded %.1f s after it was published" % took
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "3"


def test_an_empty_message_that_was_not_retained_removes_nothing(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("keep", 1, {"echo": h.native_function(echo_bin)}))
    since = edge.obs.mark()
    edge.obs.publish(edge.topics.deployment, b"", retain=False)
    ignored = edge.event("deployment.ignored", since=since)
    assert ignored["topic"] == edge.topics.deployment and "retained" in ignored["reason"], ignored
    assert edge.send("sensors/+/x", {"n": 1}, "echo")["version"] == "1", "the deployment is still applied"
    # A retained empty message is the way to remove it.
    edge.obs.publish(edge.topics.deployment, b"", retain=True)
    edge.health(lambda j: "echo" not in j["functions"], since=since, what="the function removed by the retained clear")


def test_a_function_that_exits_at_start_printing_nothing_says_so_and_its_log_exists(agent, edge, tmp_path):
    """The status points at the function's log: that file exists, and the reason says what
    happened (the exit code) and that nothing was printed, rather than sending the operator to a
    log that is not there (issue 14)."""
    script = tmp_path / "quiet"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    a = agent()
    spec = {"version": "1", "command": ["quiet"], "artifacts": [h.artifact(script, name="quiet")],
            "restart": {"maxFailures": 1}}
    status = edge.deploy(h.document("quiet", 1, {"quiet": spec}), expect="ROLLED_BACK")
    reason = status["reason"]
    assert "exited with code 3, printing nothing before sending ready" in reason, reason
    log = a.state_dir / "logs" / "quiet.log"
    assert "(see %s)" % log in reason, reason
    assert log.exists() and log.stat().st_size == 0, "the log the status names exists, empty"
