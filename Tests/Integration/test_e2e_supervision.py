"""Supervision: crash loops, rollback, bounded queues."""

import json

import harness as h

CRASHER = "#!/bin/sh\necho 'crasher: giving up at once' >&2\nexit 3\n"


def crasher(tmp_path, name="crash.sh"):
    path = tmp_path / "crasher" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CRASHER)
    path.chmod(0o755)
    return path


def crashing_function(tmp_path, version, subscriptions=("crash/+/in",), **fields):
    script = crasher(tmp_path)
    spec = {"version": version, "command": ["crash.sh"], "artifacts": [h.artifact(script)],
            "subscriptions": [{"topic": t, "qos": 1} for t in subscriptions]}
    spec.update(fields)
    return spec


def test_crash_loop_becomes_broken(agent, edge, tmp_path):
    agent()
    spec = crashing_function(tmp_path, "1", restart={"maxFailures": 2, "backoffMs": 50})
    since = edge.obs.mark()
    status = edge.deploy(h.document("crash-v1", 1, {"crashy": spec}, onFailure="none"), expect="FAILED")
    assert "crashy" in status["reason"] and "BROKEN" in status["reason"], status
    assert status["functions"]["crashy"]["state"] == "BROKEN", status

    broken = edge.event("function.broken", lambda e: e["function"] == "crashy", since=since)
    assert broken["version"] == "1" and broken["failures"] == 2, broken
    crashes = edge.obs.seen(edge.topics.events, lambda m: m.json["type"] == "function.crashed", since=since)
    assert [m.json["failures"] for m in crashes] == [1, 2], crashes
    fn = edge.function_health("crashy", lambda f: f["state"] == "BROKEN", what="health showing crashy BROKEN")
    assert fn["pids"] == [] and "pid" not in fn, fn
    assert fn["lastError"], fn

    result = edge.send("crash/+/in", {"n": 1}, "crashy")
    assert result["status"] == "error" and result["error"]["type"] == "Broken", result
    assert "crashy" in result["error"]["message"]


def test_failed_replacement_rolls_back(agent, edge, tmp_path, echo_bin):
    agent()
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, version="1")}))
    assert edge.send("sensors/+/x", {"n": 0}, "echo")["version"] == "1"

    v2 = crashing_function(tmp_path, "2", subscriptions=["sensors/+/x"])
    status = edge.deploy(h.document("echo-v2", 2, {"echo": v2}, healthySeconds=1), expect="ROLLED_BACK")
    assert "function echo (2)" in status["reason"], status
    assert "restored" in status["reason"], status
    assert status["functions"]["echo"]["version"] == "1", status

    result = edge.send("sensors/+/x", {"after": "rollback"}, "echo")
    assert result["status"] == "ok" and result["version"] == "1", result
    assert result["result"]["echo"] == {"after": "rollback"}
    edge.function_health("echo", lambda f: f["state"] == "RUNNING" and f["version"] == "1" and f.get("pid"),
                         what="echo 1 RUNNING again")


def test_queue_overflow_answers_queue_full(agent, edge, echo_bin):
    agent()
    edge.deploy(h.document("q-v1", 1, {"echo": h.native_function(echo_bin, queueSize=1, timeoutMs=10000)}))

    since = edge.obs.mark()
    burst = 8
    for n in range(burst):
        edge.obs.publish("sensors/b%d/x" % n, json.dumps({"sleepMs": 300, "n": n}), qos=1)
    # Every event is answered, one way or the other.
    results = edge.obs.wait_count(edge.topics.results("echo"), lambda m: m.json["sourceTopic"].startswith("sensors/b"),
                                  burst, since=since, timeout=30, what="an answer for each of the %d events" % burst)
    kinds = [m.json["status"] if m.json["status"] == "ok" else m.json["error"]["type"] for m in results]
    assert kinds.count("QueueFull") >= 1, kinds
    assert kinds.count("ok") >= 2, kinds  # the one running and the one queued
    assert set(kinds) <= {"ok", "QueueFull"}, kinds

    edge.event("function.queue_overflow", lambda e: e["function"] == "echo" and e["queueSize"] == 1, since=since)
    dropped = kinds.count("QueueFull")
    fn = edge.function_health("echo", lambda f: f["queue"]["dropped"] > 0, since=since,
                              what="health with queue.dropped > 0")
    assert fn["queue"]["capacity"] == 1
    # The count settles at the number of QueueFull answers.
    edge.function_health("echo", lambda f: f["queue"]["dropped"] == dropped, since=since,
                         what="health with queue.dropped == %d" % dropped)


def test_health_counts_answered_events_within_a_second_without_waiting_for_the_interval(agent, edge, echo_bin):
    """A function's counters reach health about a second after they move, though only changes of
    state make an immediate report (the interval here is a minute)."""
    agent(health_interval=60)
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin, subscriptions=["sensors/+/x"])}))
    for n in range(5):
        edge.send("sensors/+/x", {"n": n}, "echo")
    edge.function_health("echo", lambda f: f["invocations"] >= 5, timeout=5,
                         what="health counting the 5 answered events, a second after them (not the 60 s interval)")
