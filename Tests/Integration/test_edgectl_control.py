"""The agent's control topic and edgectl's commands on it (issue 14): `restart`, `stop` and
`start` a function, `logs` of a function or of the agent (the newest lines, --since, --follow,
--json), each answered on a reply topic, said on the events topic, rate-limited; a request that
is wrong is answered with what to fix. Real agents, a real broker, the edgectl binary."""

import json
import os
import select
import subprocess
import time
import uuid

import harness as h

LOGGER = '''
def handler(event, context):
    if event.get("crash"):
        import os
        os._exit(3)
    context.logger.info("handled n=%s", event.get("n"))
    return {"n": event.get("n")}
'''


def _edgectl(agent_bin):
    return str(agent_bin.with_name("edgectl"))


def _run(agent_bin, env, *args, timeout=60):
    full = {name: value for name, value in os.environ.items() if not name.startswith("EDGECTL_")}
    full.update(env)
    return subprocess.run([_edgectl(agent_bin)] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=full)


def _env(broker):
    return {"EDGECTL_HOST": "127.0.0.1", "EDGECTL_PORT": str(broker.port), "EDGECTL_TIMEOUT": "20"}


def _deploy_logger(agent, edge, tmp_path, **fields):
    agent()
    module = h.write_module(tmp_path / "src", "logfn", LOGGER)
    spec = h.python_function(module, "logfn.handler", subscriptions=["logs/+/in"], **fields)
    edge.deploy(h.document("logfn", 1, {"logfn": spec}))
    return spec


def test_logs_serves_the_newest_stamped_lines_of_a_function_and_of_the_agent(agent, broker, edge, tmp_path, agent_bin):
    _deploy_logger(agent, edge, tmp_path)
    for n in range(5):
        assert edge.send("logs/+/in", {"n": n}, "logfn")["status"] == "ok"
    env = _env(broker)
    last = _run(agent_bin, env, "logs", edge.thing, "logfn", "--lines", "3")
    assert last.returncode == 0, last
    lines = last.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["INFO logfn: handled n=%d" % n for n in (2, 3, 4)], lines
    # Each line is stamped by the agent, in UTC, when it read it.
    stamp = lines[0].split(" ", 1)[0]
    assert len(stamp) == 24 and stamp.endswith("Z") and abs(time.time() - _seconds(stamp)) < 120, stamp

    as_json = json.loads(_run(agent_bin, env, "logs", edge.thing, "logfn", "--json").stdout)
    assert as_json["thing"] == edge.thing and as_json["function"] == "logfn", as_json
    assert [line.split(" ", 1)[1] for line in as_json["lines"]][-5:] == ["INFO logfn: handled n=%d" % n for n in range(5)]
    future = _run(agent_bin, env, "logs", edge.thing, "logfn", "--since", "2999-01-01T00:00:00Z")
    assert future.returncode == 0 and future.stdout == "", future
    recent = _run(agent_bin, env, "logs", edge.thing, "logfn", "--since", "10m")
    assert recent.returncode == 0 and "handled n=4" in recent.stdout, recent

    own = _run(agent_bin, env, "logs", edge.thing)
    assert own.returncode == 0 and "connected to the broker" in own.stdout, own

    unknown = _run(agent_bin, env, "logs", edge.thing, "nosuch")
    assert unknown.returncode == 1 and "UnknownFunction" in unknown.stderr and "it has: logfn" in unknown.stderr, unknown
    wrong = _run(agent_bin, env, "logs", edge.thing, "logfn", "--since", "yesterday")
    assert wrong.returncode == 64 and "--since yesterday" in wrong.stderr, wrong


def _seconds(stamp):
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def test_logs_follow_prints_new_lines_as_they_come(agent, broker, edge, tmp_path, agent_bin):
    _deploy_logger(agent, edge, tmp_path)
    assert edge.send("logs/+/in", {"n": 1}, "logfn")["status"] == "ok"
    full = {name: value for name, value in os.environ.items() if not name.startswith("EDGECTL_")}
    full.update(_env(broker))
    follower = subprocess.Popen([_edgectl(agent_bin), "logs", edge.thing, "logfn", "--follow", "--lines", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full)
    try:
        seen = []
        pending = b""

        def read_until(text):
            # Raw reads of the pipe: a buffered readline could hold a second line that select() then never reports.
            nonlocal pending
            deadline = time.monotonic() + h.WAIT
            while time.monotonic() < deadline:
                ready, _, _ = select.select([follower.stdout], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(follower.stdout.fileno(), 65536)
                assert chunk, "edgectl logs --follow ended: %s" % follower.communicate(timeout=10)[1]
                pending += chunk
                *lines, pending = pending.split(b"\n")
                seen.extend(line.decode() for line in lines)
                if any(text in line for line in seen):
                    return
            follower.terminate()
            raise AssertionError("edgectl logs --follow did not print %r within %s s; it printed %r (stderr: %s)"
                                 % (text, h.WAIT, seen, follower.communicate(timeout=10)[1]))

        read_until("handled n=1")
        for n in (2, 3):
            assert edge.send("logs/+/in", {"n": n}, "logfn")["status"] == "ok"
        read_until("handled n=3")
        handled = [line.split(": ", 1)[1] for line in seen if "handled" in line]
        assert handled == ["handled n=1", "handled n=2", "handled n=3"], "every line once, in order: %r" % seen
    finally:
        follower.terminate()
        follower.wait(10)


def test_restart_replaces_the_processes_and_is_said_on_the_events_topic(agent, broker, edge, tmp_path, agent_bin, observer):
    _deploy_logger(agent, edge, tmp_path)
    before = edge.function_health("logfn", lambda f: f["state"] == "RUNNING" and f["pids"])["pids"]
    mark = observer.mark()
    restarted = _run(agent_bin, _env(broker), "restart", edge.thing, "logfn", "--json")
    assert restarted.returncode == 0, restarted
    answer = json.loads(restarted.stdout)
    assert answer["state"] == "RUNNING" and answer["previousPids"] == before, answer
    assert answer["pids"] and not set(answer["pids"]) & set(before), answer
    event = edge.event("control.restart", since=mark)
    assert event["function"] == "logfn" and event["outcome"] == "ok" and event["requestId"], event
    health = edge.function_health("logfn", lambda f: f["state"] == "RUNNING")
    assert health["restarts"] == 0, "an operator's restart is not a crash: %r" % health
    assert edge.send("logs/+/in", {"n": 9}, "logfn")["result"] == {"n": 9}

    plain = _run(agent_bin, _env(broker), "restart", edge.thing, "logfn")
    assert plain.returncode == 0 and plain.stdout.startswith("restarted logfn on %s: RUNNING (pid " % edge.thing), plain


def test_restart_rearms_a_broken_function_and_refuses_a_stopped_one(agent, broker, edge, tmp_path, agent_bin):
    _deploy_logger(agent, edge, tmp_path, restart={"maxFailures": 1})
    crashed = edge.send("logs/+/in", {"crash": True}, "logfn")
    assert crashed["status"] == "error" and crashed["error"]["type"] == "Crashed", crashed
    edge.function_health("logfn", lambda f: f["state"] == "BROKEN", what="logfn BROKEN")
    env = _env(broker)
    rearmed = _run(agent_bin, env, "restart", edge.thing, "logfn")
    assert rearmed.returncode == 0, rearmed
    assert edge.send("logs/+/in", {"n": 1}, "logfn")["status"] == "ok"

    assert _run(agent_bin, env, "stop", edge.thing, "logfn").returncode == 0
    refused = _run(agent_bin, env, "restart", edge.thing, "logfn")
    assert refused.returncode == 1 and "NotPossible" in refused.stderr and "edgectl start %s logfn" % edge.thing in refused.stderr, refused
    assert _run(agent_bin, env, "start", edge.thing, "logfn").returncode == 0
    # BROKEN again, with desired enabled already true: start re-arms it all the same.
    mark = edge.obs.mark()
    assert edge.send("logs/+/in", {"crash": True}, "logfn")["error"]["type"] == "Crashed"
    edge.function_health("logfn", lambda f: f["state"] == "BROKEN", what="logfn BROKEN again", since=mark)
    started = _run(agent_bin, env, "start", edge.thing, "logfn")
    assert started.returncode == 0 and "RUNNING" in started.stdout, started
    unknown = _run(agent_bin, env, "restart", edge.thing, "nosuch")
    assert unknown.returncode == 1 and "has no function nosuch (it has: logfn)" in unknown.stderr, unknown


def test_a_wrong_or_flooding_control_request_is_answered_with_what_to_fix(agent, broker, edge, observer):
    agent()
    edge.health(lambda m: m.get("connection", {}).get("delivering"), what="the agent subscribed")
    reply = "edgectl/replies/%s/%s" % (edge.thing, uuid.uuid4().hex)
    control = "edge/things/%s/control" % edge.thing
    observer.publish(control, b"not json", response_topic=reply)
    answer = observer.wait_for(reply, what="the answer to a request that is not JSON").json
    assert answer["status"] == "error" and answer["error"]["type"] == "InvalidRequest", answer
    assert "must be JSON" in answer["error"]["message"], answer
    observer.publish(control, json.dumps({"action": "reboot", "requestId": "r1", "replyTo": reply}).encode())
    answer = observer.wait_for(reply, lambda m: m.json.get("requestId") == "r1", what="the answer to an unknown action").json
    assert answer["error"]["message"].startswith('action "reboot" is not known: give one of restart, stop, start, logs'), answer
    observer.publish(control, json.dumps({"action": "restart", "requestId": "r2", "replyTo": reply}).encode())
    answer = observer.wait_for(reply, lambda m: m.json.get("requestId") == "r2", what="the answer to a restart of nothing").json
    assert answer["error"]["message"] == "function is missing: restart needs the function's name", answer
    observer.publish(control, json.dumps({"action": "logs", "requestId": "r3", "replyTo": "edge/things/%s/health" % edge.thing}).encode())
    edge.event("invoke.reply_refused", lambda e: e["replyTopic"].endswith("/health"))

    # A flood: at most 10 a second are served; the rest get one RateLimited answer a second.
    for n in range(40):
        observer.publish(control, json.dumps({"action": "logs", "requestId": "f%d" % n, "replyTo": reply}).encode())
    limited = observer.wait_for(reply, lambda m: m.json.get("error", {}).get("type") == "RateLimited",
                                what="a RateLimited answer to a flood of control requests").json
    assert "over 10 control requests a second" in limited["error"]["message"], limited
    health = edge.health(lambda m: m.get("status") == "online")
    assert health["status"] == "online"


FORGER = '''
def handler(event, context):
    # A function with a wide allow-list tries to reach the agents' control plane.
    context.publish("edge/things/%s/control" % context.thing_name,
                    {"action": "stop", "function": "forger", "replyTo": "forged/replies"}, qos=1)
    return {"tried": True}
'''


def test_a_function_cannot_reach_the_control_topic_and_a_retained_request_is_ignored(agent, broker, edge, tmp_path, observer):
    # A retained request would be carried out again at every connect: the agent ignores one that
    # comes retained (here: left on the topic before it first subscribes). Had it acted, the answer
    # (UnknownFunction: nothing is deployed yet) would be on the reply topic.
    reply = "edgectl/replies/%s/%s" % (edge.thing, uuid.uuid4().hex)
    control = "edge/things/%s/control" % edge.thing
    observer.publish(control, json.dumps({"action": "stop", "function": "forger", "replyTo": reply}).encode(), retain=True)
    running = agent()
    edge.health(lambda m: m.get("connection", {}).get("delivering"), what="the agent subscribed")
    observer.assert_none(reply, within=1.0, why="a retained control request")
    observer.publish(control, b"", retain=True)

    module = h.write_module(tmp_path / "src", "forger", FORGER)
    edge.deploy(h.document("forger", 1, {"forger": h.python_function(module, "forger.handler", subscriptions=["forge/+/in"],
                                                                     publish=["#"])}))
    since = observer.mark()
    assert edge.send("forge/+/in", {}, "forger")["status"] == "ok"
    log = running.state_dir / "logs" / "forger.log"
    refusal = h.poll_until(lambda: log.exists() and "control plane" in log.read_text() and log.read_text(), h.WAIT,
                           "the refused publish in %s" % log)
    assert "edge/things/%s/control" % edge.thing in refusal, refusal
    observer.assert_none(control, since=since, within=1.0, why="a function publishing into edge/")
    assert edge.send("forge/+/in", {}, "forger")["status"] == "ok", "the function runs on, not stopped by its own request"
