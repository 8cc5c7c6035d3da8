"""The classic shadow's desired state applied by the agent, end to end: configuration live over
the runtime protocol, functions disabled and enabled, limits tightened, a BROKEN function re-armed,
the agent's log level and health interval, what cannot apply reported under `problems`, and a
function's own named shadow through the runtime protocol."""

import json
import subprocess

import pytest

import harness as h

CONFIGURED = '''
import edge_runtime

seen = []


def on_config(config, context):
    seen.append(dict(config))


def handler(event, context):
    import os
    return {"config": dict(context.config), "pid": os.getpid(), "hooks": seen}
'''

RESTARTING = CONFIGURED + '''
LIVE_CONFIG = False
'''

FRAGILE = '''
import os


def init(context):
    if os.path.exists(context.config["marker"]):
        raise RuntimeError("the marker file says fail")


def handler(event, context):
    return {"ok": True}
'''

SHADOWED = '''
import edge_runtime


def handler(event, context):
    if event.get("stale"):
        try:
            context.shadow.update(reported={"never": 1}, version=0)
        except edge_runtime.ShadowError as error:
            return {"code": error.code, "message": error.message}
    if event.get("get_missing"):
        try:
            context.shadow.get()
        except edge_runtime.ShadowError as error:
            return {"code": error.code}
    accepted = context.shadow.update(reported={"count": event["n"]})
    return {"accepted": accepted, "document": context.shadow.get()}
'''


def desire(shadow, desired):
    """Updates the classic shadow's desired state; returns the accepted reply."""
    return shadow.accepted("update", {"state": {"desired": desired}})


def deploy_python(edge, tmp_path, name, source, revision=1, **fields):
    module = h.write_module(tmp_path / ("src%d" % revision), name, source)
    spec = h.python_function(module, "%s.handler" % name, subscriptions=["cfg/+/%s" % name], **fields)
    edge.deploy(h.document("%s-v%d" % (name, revision), revision, {name: spec}))
    return spec


def invoke(edge, name, event=None):
    return edge.send("cfg/+/%s" % name, event or {}, name)


def test_configuration_changes_live_without_a_restart_and_context_sees_them(agent, edge, shadow, tmp_path):
    agent()
    deploy_python(edge, tmp_path, "live", CONFIGURED, config={"threshold": 0.5, "label": "a"})
    first = invoke(edge, "live")["result"]
    assert first["config"] == {"threshold": 0.5, "label": "a"}

    desire(shadow, {"functions": {"live": {"config": {"threshold": 0.9}}}})
    document = shadow.wait_state(lambda d: d.reported["functions"]["live"]["config"]["threshold"] == 0.9,
                                 what="reported config.threshold 0.9")
    assert document["state"]["reported"]["functions"]["live"]["config"] == {"threshold": 0.9, "label": "a"}
    assert "delta" not in document["state"], document["state"].get("delta")
    after = invoke(edge, "live")["result"]
    assert after["config"] == {"threshold": 0.9, "label": "a"}
    assert after["pid"] == first["pid"], "a live configuration change must not restart the function"
    assert after["hooks"] == [{"threshold": 0.9, "label": "a"}], "on_config runs once with the new configuration"

    # null removes the override: the deployment's value is back, still live.
    desire(shadow, {"functions": {"live": {"config": {"threshold": None}}}})
    shadow.wait_state(lambda d: d.reported["functions"]["live"]["config"]["threshold"] == 0.5, what="threshold back to 0.5")
    again = invoke(edge, "live")["result"]
    assert again["config"]["threshold"] == 0.5 and again["pid"] == first["pid"]


def test_a_function_that_cannot_take_live_configuration_is_restarted(agent, edge, shadow, tmp_path):
    agent()
    deploy_python(edge, tmp_path, "rigid", RESTARTING, config={"threshold": 0.5})
    first = invoke(edge, "rigid")["result"]
    desire(shadow, {"functions": {"rigid": {"config": {"threshold": 0.7}}}})
    shadow.wait_state(lambda d: d.reported["functions"]["rigid"]["config"]["threshold"] == 0.7
                      and d.reported["functions"]["rigid"]["state"] == "RUNNING", what="rigid restarted with 0.7")
    after = h.poll_until(lambda: (lambda r: r if r["result"]["config"]["threshold"] == 0.7 else None)(invoke(edge, "rigid")),
                         h.WAIT, "the restarted function answering with threshold 0.7")["result"]
    assert after["pid"] != first["pid"], "LIVE_CONFIG = False: the function is restarted, not sent a config message"
    assert after["hooks"] == []


def test_disable_and_enable_a_function_from_the_shadow(agent, edge, shadow, tmp_path, echo_bin):
    agent()
    spec = h.native_function(echo_bin, subscriptions=["cfg/+/echo"])
    edge.deploy(h.document("echo-v1", 1, {"echo": spec}))
    assert invoke(edge, "echo", {"n": 1})["status"] == "ok"
    pid = edge.function_health("echo", lambda f: f["state"] == "RUNNING")["pid"]

    desire(shadow, {"functions": {"echo": {"enabled": False}}})
    document = shadow.wait_state(lambda d: d.reported["functions"]["echo"]["state"] == "DISABLED", what="echo DISABLED")
    assert document["state"]["reported"]["functions"]["echo"]["enabled"] is False
    assert "delta" not in document["state"]
    health = edge.function_health("echo", lambda f: f["state"] == "DISABLED" and not f["pids"])
    assert health["pids"] == []
    h.poll_until(lambda: not h.process_alive(pid), h.WAIT, "the disabled function's process gone")
    # Its subscriptions are dropped; a direct invocation says why it does not run.
    since = edge.obs.mark()
    edge.obs.publish(edge.topics.invoke("echo"), json.dumps({"n": 2}))
    answer = edge.obs.wait_for(edge.topics.results("echo"), since=since, what="the answer of a disabled function").json
    assert answer["status"] == "error" and answer["error"]["type"] == "Disabled", answer
    assert "enabled" in answer["error"]["message"]

    desire(shadow, {"functions": {"echo": {"enabled": True}}})
    shadow.wait_state(lambda d: d.reported["functions"]["echo"]["state"] == "RUNNING"
                      and d.reported["functions"]["echo"]["enabled"] is True, what="echo RUNNING again")
    assert invoke(edge, "echo", {"n": 3})["result"] == {"echo": {"n": 3}}


def test_limits_are_tightened_within_what_the_deployment_allows(agent, edge, shadow, tmp_path, echo_bin):
    h.require_cgroups(("memory",))
    agent()
    spec = h.native_function(echo_bin, subscriptions=["cfg/+/echo"], limits={"memoryMB": 128, "openFiles": 256})
    edge.deploy(h.document("echo-v1", 1, {"echo": spec}))

    desire(shadow, {"functions": {"echo": {"limits": {"memoryMB": 64}}}})
    shadow.wait_state(lambda d: d.reported["functions"]["echo"]["limits"]["memoryMB"] == 64
                      and d.reported["functions"]["echo"]["state"] == "RUNNING", what="memoryMB 64 reported")
    # The new instance runs in a cgroup capped at 64 MB.
    edge.function_health("echo", lambda f: f["limits"].get("memoryMB") == 64 and f["state"] == "RUNNING"
                         and f["usage"].get("memoryLimitBytes") == 64 << 20, what="echo capped at 64 MB")
    assert invoke(edge, "echo", {"n": 1})["status"] == "ok"

    # Above the deployment's cap: not applied, said under problems, the delta stays.
    desire(shadow, {"functions": {"echo": {"limits": {"memoryMB": 512, "pids": 0}}}})
    document = shadow.wait_state(lambda d: "functions.echo.limits.memoryMB" in d.reported.get("problems", {}),
                                 what="a problem for memoryMB above the deployment")
    problems = document["state"]["reported"]["problems"]
    assert "deployment allows (128)" in problems["functions.echo.limits.memoryMB"]
    assert "functions.echo.limits.pids" in problems, problems
    assert document["state"]["delta"]["functions"]["echo"]["limits"]["memoryMB"] == 512
    assert document["state"]["reported"]["functions"]["echo"]["limits"]["memoryMB"] == 128

    # Removing the override clears the problem.
    desire(shadow, {"functions": {"echo": {"limits": None}}})
    document = shadow.wait_state(lambda d: "problems" not in d.reported, what="problems cleared")
    assert document["state"]["reported"]["functions"]["echo"]["limits"]["memoryMB"] == 128


def test_a_broken_function_is_rearmed_from_the_shadow(agent, edge, shadow, tmp_path, shared_tmp):
    agent()
    marker = h.shared_path(shared_tmp / "marker") / "fail"
    marker.write_text("fail")
    module = h.write_module(tmp_path / "src", "fragile", FRAGILE)
    spec = h.python_function(module, "fragile.handler", subscriptions=["cfg/+/fragile"], config={"marker": str(marker)},
                             restart={"maxFailures": 2, "backoffMs": 0})
    edge.deploy(h.document("fragile-v1", 1, {"fragile": spec}, onFailure="none"), expect="FAILED")
    edge.function_health("fragile", lambda f: f["state"] == "BROKEN", what="fragile BROKEN")
    shadow.wait_state(lambda d: d.reported["functions"]["fragile"]["state"] == "BROKEN", what="BROKEN reported")

    marker.unlink()
    since = edge.obs.mark()
    desire(shadow, {"functions": {"fragile": {"enabled": True}}})
    edge.event("function.started", lambda e: e["function"] == "fragile", since=since)
    shadow.wait_state(lambda d: d.reported["functions"]["fragile"]["state"] == "RUNNING", what="fragile re-armed")
    assert invoke(edge, "fragile")["result"] == {"ok": True}


def test_agent_settings_and_unknown_keys_from_the_shadow(agent, edge, shadow, echo_bin):
    started = agent(health_interval=2)
    edge.health(lambda report: report["status"] == "online")
    desire(shadow, {"agent": {"logLevel": "warning", "healthIntervalSeconds": 3600},
                    "functions": {"ghost": {"enabled": False}}, "dashboard": {"theme": "dark"}})
    document = shadow.wait_state(lambda d: d.reported["agent"]["logLevel"] == "warning", what="logLevel warning reported")
    reported = document["state"]["reported"]
    assert reported["agent"]["healthIntervalSeconds"] == 3600
    assert "no function named ghost" in reported["problems"]["functions.ghost"]
    assert "dashboard" not in reported.get("problems", {}), "keys outside agent and functions are left to others"
    assert "delta" not in document["state"] or set(document["state"]["delta"]) <= {"functions", "dashboard"}
    since = edge.obs.mark()
    edge.obs.assert_none(edge.topics.health, within=5, since=since, why="the health interval is 3600 s now")
    # At warning, a deployment's info lines are not written.
    edge.deploy(h.document("echo-v1", 1, {"echo": h.native_function(echo_bin)}))
    after_change = started.log_text().split("log level changed by the shadow", 1)[1]
    assert " info " not in after_change, after_change

    # An invalid value is not applied: the configuration's level (debug here) holds, and the problem is reported.
    shadow.accepted("update", {"state": {"desired": {"agent": {"logLevel": "loud", "healthIntervalSeconds": 0}}}})
    document = shadow.wait_state(lambda d: "agent.logLevel" in d.reported.get("problems", {}), what="a bad logLevel reported")
    reported = document["state"]["reported"]
    assert "must be one of" in reported["problems"]["agent.logLevel"]
    assert "agent.healthIntervalSeconds" in reported["problems"]
    assert reported["agent"] == {"logLevel": "debug", "healthIntervalSeconds": 2, "version": reported["agent"]["version"]}


def test_a_function_gets_and_updates_its_own_named_shadow(agent, edge, shadow, tmp_path):
    agent()
    deploy_python(edge, tmp_path, "counter", SHADOWED)
    missing = invoke(edge, "counter", {"get_missing": True})["result"]
    assert missing == {"code": 404}
    since = shadow.obs.mark()
    first = invoke(edge, "counter", {"n": 1})["result"]
    assert first["accepted"]["state"] == {"reported": {"count": 1}} and first["accepted"]["version"] == 1
    assert first["document"]["state"]["reported"] == {"count": 1}
    # Seen by any MQTT client on the named shadow's topics.
    accepted = shadow.wait_for("update/accepted", name="counter", since=since)
    assert accepted["state"] == {"reported": {"count": 1}}
    assert shadow.get(name="counter")["state"]["reported"] == {"count": 1}
    second = invoke(edge, "counter", {"n": 2})["result"]
    assert second["accepted"]["version"] == 2
    stale = invoke(edge, "counter", {"stale": True})["result"]
    assert stale == {"code": 409, "message": "Version conflict"}


def test_the_shadow_holds_across_an_agent_restart(agent, edge, shadow, tmp_path, echo_bin):
    first = agent()
    spec = h.native_function(echo_bin, subscriptions=["cfg/+/echo"])
    edge.deploy(h.document("echo-v1", 1, {"echo": spec}))
    desire(shadow, {"functions": {"echo": {"enabled": False}}})
    shadow.wait_state(lambda d: d.reported["functions"]["echo"]["state"] == "DISABLED", what="echo DISABLED")
    first.stop()

    since = edge.obs.mark()
    agent()
    edge.health(lambda report: report["status"] == "online" and report["functions"].get("echo", {}).get("state") == "DISABLED",
                since=since, what="the restarted agent with echo still DISABLED")
    version = shadow.get()["version"]
    assert version >= 2


def test_the_worked_example_with_mosquitto_pub_and_edgectl(agent, edge, shadow, tmp_path, broker, thing, agent_bin):
    """docs/shadows.md's worked example, with the tools it uses."""
    agent()
    deploy_python(edge, tmp_path, "digits", CONFIGURED, config={"threshold": 0.5})
    first = invoke(edge, "digits")["result"]
    request = '{"state": {"desired": {"functions": {"digits": {"config": {"threshold": 0.9}}}}}, "clientToken": "op-1"}'
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                    "-t", "$aws/things/%s/shadow/update" % thing, "-m", request], check=True, timeout=30)
    shadow.wait_state(lambda d: d.reported["functions"]["digits"]["config"]["threshold"] == 0.9, what="threshold 0.9 reported")
    after = invoke(edge, "digits")["result"]
    assert after["config"]["threshold"] == 0.9 and after["pid"] == first["pid"]

    edgectl = [str(agent_bin.with_name("edgectl")), "shadow"]
    where = ["--thing", thing, "--port", str(broker.port), "--host", "127.0.0.1", "--timeout", "20"]
    got = subprocess.run(edgectl + ["get"] + where, capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    document = json.loads(got.stdout)
    assert "delta" not in document["state"]
    assert document["state"]["desired"]["functions"]["digits"]["config"] == {"threshold": 0.9}
    stale = subprocess.run(edgectl + ["update"] + where + ["--desired", '{"x": 1}', "--version", "1"],
                           capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1 and "rejected: 409 Version conflict" in stale.stderr, (stale.stdout, stale.stderr)
    named = subprocess.run(edgectl + ["update"] + where + ["--name", "notes", "--reported", '{"seen": true}'],
                           capture_output=True, text=True, timeout=60)
    assert named.returncode == 0 and json.loads(named.stdout)["version"] == 1, named.stderr


def test_configs_too_large_for_the_shadow_together_are_left_out_of_reported_and_it_says_so(agent, edge, shadow, echo_bin):
    # Each config is within a function's 4 KiB; three of them do not fit the classic shadow's 8 KB.
    agent()
    functions = {}
    for n in range(3):
        functions["echo%d" % n] = h.native_function(echo_bin, subscriptions=["big/%d/+" % n],
                                                    config={"table": "x" * 3000, "n": n})
    edge.deploy(h.document("big-configs", 1, functions))
    document = shadow.wait_state(lambda d: "reported" in d.reported.get("problems", {}),
                                 what="reported saying its configs were left out")
    reported = document["state"]["reported"]
    assert "left out of reported" in reported["problems"]["reported"], reported["problems"]
    for n in range(3):
        entry = reported["functions"]["echo%d" % n]
        assert "config" not in entry and entry["state"] == "RUNNING", entry
    # Smaller configs fit again: they come back and the problem goes.
    for n in range(3):
        functions["echo%d" % n]["config"] = {"n": n}
    edge.deploy(h.document("big-configs", 2, functions))
    shadow.wait_state(lambda d: "problems" not in d.reported and d.reported["functions"]["echo2"].get("config") == {"n": 2},
                      what="the configs back in reported")
