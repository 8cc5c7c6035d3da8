"""Python functions through edge_runtime.py: context, errors, the publish allow-list, output floods."""

import json

import harness as h

HANDLER = '''
class InputRejected(Exception):
    pass


def handler(event, context):
    if isinstance(event, dict) and event.get("boom"):
        raise InputRejected("cannot handle %s" % event["boom"])
    return {
        "event": event,
        "function": context.function_name,
        "version": context.function_version,
        "thing": context.thing_name,
        "config": context.config,
        "topic": context.topic,
        "remainingPositive": context.get_remaining_time_in_millis() > 0,
    }
'''


def test_python_function_answers_with_context_and_errors(agent, edge, tmp_path):
    agent()
    module = h.write_module(tmp_path / "src", "ctxfn", HANDLER)
    spec = h.python_function(module, "ctxfn.handler", version="3.1", subscriptions=["py/+/in"],
                             config={"threshold": 0.8, "labels": ["a"]})
    edge.deploy(h.document("py-v1", 1, {"pyfn": spec}))

    result = edge.send("py/+/in", {"x": 1}, "pyfn")
    assert result["status"] == "ok", result
    body = result["result"]
    assert body["event"] == {"x": 1}
    assert body["function"] == "pyfn" and body["version"] == "3.1" and body["thing"] == edge.thing
    assert body["config"] == {"threshold": 0.8, "labels": ["a"]}
    assert body["topic"] == result["sourceTopic"]
    assert body["remainingPositive"] is True
    assert result["version"] == "3.1"

    failed = edge.send("py/+/in", {"boom": "this"}, "pyfn")
    assert failed["status"] == "error", failed
    assert failed["error"] == {"type": "InputRejected", "message": "cannot handle this"}, failed

    # The instance survives a handler exception.
    assert edge.send("py/+/in", {"x": 2}, "pyfn")["result"]["event"] == {"x": 2}


PUBLISHER = '''
def handler(event, context):
    # The forbidden one first: the agent handles the requests in order, so once the allowed one
    # has arrived the forbidden one would have arrived before it.
    context.publish("forbidden/" + context.thing_name, {"leak": event["n"]}, qos=1)
    context.publish("alerts/" + context.thing_name + "/seen", {"seen": event["n"]}, qos=1)
    return {"published": 2}
'''


def test_publish_allow_list(agent, edge, tmp_path):
    a = agent()
    module = h.write_module(tmp_path / "src", "pubfn", PUBLISHER)
    spec = h.python_function(module, "pubfn.handler", subscriptions=["py/+/in"], publish=["alerts/{thing}/#"])
    edge.deploy(h.document("pub-v1", 1, {"pubfn": spec}))

    since = edge.obs.mark()
    result = edge.send("py/+/in", {"n": 7}, "pubfn")
    assert result["status"] == "ok", result
    allowed = edge.obs.wait_for("alerts/%s/seen" % edge.thing, since=since, what="the allowed publish")
    assert allowed.json == {"seen": 7}

    log = a.state_dir / "logs" / "pubfn.log"
    refusal = h.poll_until(lambda: log.exists() and "refused" in log.read_text() and log.read_text(), 10,
                           "the refusal in %s" % log)
    assert "forbidden/%s" % edge.thing in refusal and "allow-list" in refusal, refusal
    # Bounded negative wait: the refusal is logged, so the agent has decided; nothing may have
    # been (or be) published on the forbidden topic.
    edge.obs.assert_none("forbidden/#", since=since, within=1.0, why="outside the publish allow-list")


FLOOD = '''
import sys
import threading
import time

_flood = None


def _write_for(seconds):
    chunk = ("x" * 1023 + "\\n") * 64   # 64 KiB of lines
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sys.stdout.write(chunk)
    sys.stdout.flush()


def handler(event, context):
    global _flood
    if event.get("flood"):
        _flood = threading.Thread(target=_write_for, args=(event["flood"],), daemon=True)
        _flood.start()
        return {"flooding": True}
    return {"pong": event.get("n"), "flooding": _flood is not None and _flood.is_alive()}
'''


def test_output_flood_is_capped_and_agent_stays_responsive(agent, edge, tmp_path, echo_bin):
    a = agent()
    module = h.write_module(tmp_path / "src", "floodfn", FLOOD)
    functions = {
        "floodfn": h.python_function(module, "floodfn.handler", subscriptions=["flood/+/in"]),
        "echo": h.native_function(echo_bin),
    }
    edge.deploy(h.document("flood-v1", 1, functions))

    # The function floods stdout from a thread for 2 s; its handler keeps answering meanwhile.
    assert edge.send("flood/+/in", {"flood": 2}, "floodfn")["result"] == {"flooding": True}
    logs = a.state_dir / "logs"
    h.poll_until(lambda: (logs / "floodfn.log.2").exists(), 10, "the flood to rotate floodfn.log twice")

    # While the flood goes on, both the flooding function and another one answer.
    pong = edge.send("flood/+/in", {"n": 1}, "floodfn", timeout=10)
    assert pong["status"] == "ok" and pong["result"] == {"pong": 1, "flooding": True}, pong
    check_log_cap(logs)
    echo = edge.send("sensors/+/x", {"during": "flood"}, "echo", timeout=10)
    assert echo["status"] == "ok", echo
    check_log_cap(logs)

    # Once the flood is over (the function says so), the files are the capped set.
    h.poll_until(lambda: edge.send("flood/+/in", {"n": 2}, "floodfn", timeout=10)["result"]["flooding"] is False,
                 15, "the flood thread to finish")
    files = sorted(p.name for p in logs.glob("floodfn.log*"))
    assert files == ["floodfn.log", "floodfn.log.1", "floodfn.log.2"], files
    check_log_cap(logs)


def check_log_cap(logs):
    """Every floodfn log file is at most 1 MiB and at most two rotated ones exist. The agent
    rotates while we look, so a file listed may be renamed before its stat: skip those."""
    sizes = {}
    for path in logs.glob("floodfn.log*"):
        try:
            sizes[path.name] = path.stat().st_size
        except FileNotFoundError:
            continue
    assert set(sizes) <= {"floodfn.log", "floodfn.log.1", "floodfn.log.2"}, sizes
    assert all(size <= 1 << 20 for size in sizes.values()), "over the 1 MiB cap: %s" % sizes


def test_python_interpreter_given_by_path(agent, edge, tmp_path, python_launcher):
    """`--python /abs/path/python3` (a venv interpreter, not the first python3 on the function's
    PATH) must run with its own standard library and site-packages."""
    import subprocess

    agent(python=python_launcher)
    prefix = subprocess.run([python_launcher, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                            text=True, check=True).stdout.strip()
    module = h.write_module(tmp_path / "src", "whichpy",
                            "import sys\n\ndef handler(event, context):\n"
                            "    return {'prefix': sys.prefix, 'executable': sys.executable}\n")
    edge.deploy(h.document("py-path", 1, {"whichpy": h.python_function(module, "whichpy.handler",
                                                                        subscriptions=["py/+/in"])}))
    result = edge.send("py/+/in", {}, "whichpy")
    assert result["status"] == "ok", result
    assert result["result"]["prefix"] == prefix, result
