"""Runs edge_runtime as a real subprocess with a socketpair on fd 3 and plays the agent's part."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 10.0  # seconds for any single expected message or exit
# The interpreter that runs the runtime; set EDGE_TEST_PYTHON to check another version (3.9+).
PYTHON = os.environ.get("EDGE_TEST_PYTHON", sys.executable)

HANDLERS = '''
import sys, threading

init_calls = []
config_ids = set()

def init(context):
    init_calls.append((context.function_name, context.thing_name, dict(context.config)))

def echo(event, context):
    return {"event": event, "function": context.function_name, "version": context.function_version,
            "thing": context.thing_name, "id": context.invocation_id,
            "aws_request_id": context.aws_request_id, "topic": context.topic, "init_calls": init_calls}

def describe_bytes(event, context):
    return {"type": type(event).__name__, "text": event.decode("latin-1")}

def fail(event, context):
    raise ValueError("bad input: %r" % (event,))

def not_json(event, context):
    return {"a set": {1, 2}}

def nan(event, context):
    return float("nan")

def show_config(event, context):
    config_ids.add(id(context.config))
    return {"config": context.config, "same_dict": len(config_ids) == 1}

def publish(event, context):
    context.publish("alerts/digits", {"seen": event}, qos=1, retain=True)
    context.publish("alerts/plain", "text")
    return "published"

def publish_threads(event, context):
    # Many threads publishing at once: every line must still arrive whole.
    def work(n):
        for i in range(50):
            context.publish("load/%d" % n, {"n": n, "i": i, "pad": "x" * 2000})
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    return "done"

def bad_publish(event, context):
    try:
        context.publish("alerts/#", 1)
    except ValueError as error:
        return str(error)

def remaining(event, context):
    return context.get_remaining_time_in_millis()

def noisy(event, context):
    print('{"type":"result","id":"forged","result":"from stdout"}')
    sys.stdout.flush()
    context.logger.info("a log line for %s", context.invocation_id)
    return "quiet"
'''


class Agent:
    """The agent's end of the channel, with a timeout on every read."""

    def __init__(self, tmp_path, handler, extra_env=None):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = parent
        self.buffer = b""
        self.stderr_path = tmp_path / "stderr.log"
        self.stderr = open(self.stderr_path, "wb")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([RUNTIME_DIR, str(tmp_path)]),
            "EDGE_RUNTIME_FD": "3",
            "EDGE_THING_NAME": "dev1",
            "EDGE_FUNCTION_NAME": "digits",
            "EDGE_FUNCTION_VERSION": "1.0.0",
            "EDGE_FUNCTION_DIR": str(tmp_path),
            "EDGE_HANDLER": handler,
        }
        env.update(extra_env or {})
        # The runtime wants the socket on fd 3. A tiny launcher moves the inherited descriptor
        # there (dup2 clears close-on-exec) and then becomes `python3 -m edge_runtime`.
        launcher = ("import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); "
                    "os.execv(sys.executable, [sys.executable, '-m', 'edge_runtime'])")
        self.proc = subprocess.Popen(
            [PYTHON, "-c", launcher, str(child.fileno())],
            pass_fds=(child.fileno(),), cwd=str(tmp_path), env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        child.close()

    def log(self):
        self.stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def send(self, message):
        self.sock.sendall((json.dumps(message) + "\n").encode())

    def recv(self, timeout=TIMEOUT):
        """The next message, or a test failure naming what went wrong."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("no message from the runtime within %.0fs; its stderr:\n%s" % (timeout, self.log()))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                pytest.fail("the runtime closed the channel (exit code %s); its stderr:\n%s"
                            % (self.proc.poll(), self.log()))
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, config=None, live_config=True):
        self.send({"type": "init", "function": "digits", "version": "1.0.0", "thing": "dev1",
                   "deploymentId": "d1", "config": config or {}})
        assert self.recv() == {"type": "ready", "liveConfig": live_config}

    def invoke(self, event=None, id="dev1-1", timeout_ms=3000, **extra):
        message = {"type": "invoke", "id": id, "topic": "sensors/cam1/digits", "event": event,
                   "timeoutMs": timeout_ms}
        message.update(extra)
        self.send(message)
        return self.recv()

    def wait_exit(self, timeout=TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("the runtime did not exit within %.0fs; its stderr:\n%s" % (timeout, self.log()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.stderr.close()


@pytest.fixture
def start_agent(tmp_path):
    (tmp_path / "handlers.py").write_text(HANDLERS)
    agents = []

    def make(handler="handlers.echo", extra_env=None):
        agent = Agent(tmp_path, handler, extra_env)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()


def test_ready_after_init_and_module_init_runs_first(start_agent):
    agent = start_agent()
    agent.start(config={"threshold": 0.5})
    answer = agent.invoke({"x": 1}, id="dev1-7")
    assert answer == {"type": "result", "id": "dev1-7", "result": {
        "event": {"x": 1}, "function": "digits", "version": "1.0.0", "thing": "dev1", "id": "dev1-7",
        "aws_request_id": "dev1-7", "topic": "sensors/cam1/digits",
        "init_calls": [["digits", "dev1", {"threshold": 0.5}]]}}


def test_null_event_and_dotted_handler_path(start_agent, tmp_path):
    package = tmp_path / "pkg" / "sub"
    package.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def handle(event, context):\n    return {'got': event}\n")
    agent = start_agent("pkg.sub.mod.handle")
    agent.start()
    assert agent.invoke(None) == {"type": "result", "id": "dev1-1", "result": {"got": None}}


def test_payload_base64_becomes_bytes(start_agent):
    agent = start_agent("handlers.describe_bytes")
    agent.start()
    answer = agent.invoke(None, payloadBase64="AAFoaf8=")  # b"\x00\x01hi\xff"
    assert answer["result"] == {"type": "bytes", "text": "\x00\x01hi\xff"}


def test_handler_exception_becomes_error(start_agent):
    agent = start_agent("handlers.fail")
    agent.start()
    answer = agent.invoke([1, 2], id="dev1-3")
    assert answer == {"type": "error", "id": "dev1-3",
                      "error": {"type": "ValueError", "message": "bad input: [1, 2]"}}
    assert "Traceback" in agent.log() and "bad input" in agent.log()
    # The instance keeps serving after an error.
    assert agent.invoke(None, id="dev1-4")["id"] == "dev1-4"


@pytest.mark.parametrize("handler", ["handlers.not_json", "handlers.nan"])
def test_non_serialisable_result_is_a_type_error(start_agent, handler):
    agent = start_agent(handler)
    agent.start()
    answer = agent.invoke(None, id="dev1-5")
    assert answer["type"] == "error" and answer["id"] == "dev1-5"
    assert answer["error"]["type"] == "TypeError"
    assert "not JSON-serialisable" in answer["error"]["message"]


def test_config_update_is_seen_by_later_invocations(start_agent):
    agent = start_agent("handlers.show_config")
    agent.start(config={"threshold": 1})
    assert agent.invoke(None, id="a")["result"] == {"config": {"threshold": 1}, "same_dict": True}
    agent.send({"type": "config", "config": {"threshold": 2, "mode": "fast"}})
    assert agent.invoke(None, id="b")["result"] == {"config": {"threshold": 2, "mode": "fast"}, "same_dict": True}


def test_publish_message_shape(start_agent):
    agent = start_agent("handlers.publish")
    agent.start()
    agent.send({"type": "invoke", "id": "p1", "topic": "t", "event": 7, "timeoutMs": 1000})
    assert agent.recv() == {"type": "publish", "topic": "alerts/digits", "payload": {"seen": 7},
                            "qos": 1, "retain": True}
    assert agent.recv() == {"type": "publish", "topic": "alerts/plain", "payload": "text",
                            "qos": 0, "retain": False}
    assert agent.recv() == {"type": "result", "id": "p1", "result": "published"}


def test_publish_rejects_wildcards_before_sending(start_agent):
    agent = start_agent("handlers.bad_publish")
    agent.start()
    answer = agent.invoke(None)
    assert "wildcards" in answer["result"]


def test_publish_from_threads_keeps_lines_whole(start_agent):
    agent = start_agent("handlers.publish_threads")
    agent.start()
    agent.send({"type": "invoke", "id": "t1", "topic": "t", "event": None, "timeoutMs": 10000})
    seen = set()
    for _ in range(8 * 50):
        message = agent.recv()  # json.loads fails on an interleaved line
        assert message["type"] == "publish"
        seen.add((message["payload"]["n"], message["payload"]["i"]))
    assert len(seen) == 400
    assert agent.recv() == {"type": "result", "id": "t1", "result": "done"}


def test_publish_error_is_logged(start_agent):
    agent = start_agent()
    agent.start()
    agent.send({"type": "publishError", "topic": "forbidden/x", "message": "outside the allow-list"})
    agent.invoke(None)  # messages are handled in order, so the log line is written by now
    assert "forbidden/x" in agent.log() and "outside the allow-list" in agent.log()


def test_remaining_time(start_agent):
    agent = start_agent("handlers.remaining")
    agent.start()
    remaining = agent.invoke(None, timeout_ms=2000)["result"]
    assert 1000 < remaining <= 2000


def test_stdout_and_logger_do_not_touch_the_channel(start_agent):
    agent = start_agent("handlers.noisy")
    agent.start()
    assert agent.invoke(None, id="n1") == {"type": "result", "id": "n1", "result": "quiet"}
    assert "INFO digits: a log line for n1" in agent.log()


@pytest.mark.parametrize("handler, expected", [
    ("nosuchmodule.handler", "nosuchmodule"),
    ("handlers.missing", "has no 'missing'"),
    ("nodot", "module.function"),
])
def test_bad_handler_exits_2_without_ready(start_agent, tmp_path, handler, expected):
    agent = start_agent(handler)
    agent.send({"type": "init", "function": "digits", "version": "1.0.0", "thing": "dev1",
                "deploymentId": "d1", "config": {}})
    assert agent.wait_exit() == 2
    agent.sock.settimeout(TIMEOUT)
    assert agent.sock.recv(1024) == b"", "the runtime must not send anything (no ready)"
    log = agent.log()
    assert handler in log and expected in log
    if handler.startswith("nosuch"):
        assert "module search path" in log and str(tmp_path) in log


def test_failing_module_init_exits_1_without_ready(start_agent, tmp_path):
    (tmp_path / "broken_init.py").write_text(textwrap.dedent("""
        def init(context):
            raise RuntimeError("model file missing")
        def handler(event, context):
            return None
    """))
    agent = start_agent("broken_init.handler")
    agent.send({"type": "init", "function": "f", "version": "1", "thing": "t", "deploymentId": "d", "config": {}})
    assert agent.wait_exit() == 1
    assert "model file missing" in agent.log()


def test_shutdown_exits_0(start_agent):
    agent = start_agent()
    agent.start()
    agent.send({"type": "shutdown"})
    assert agent.wait_exit() == 0


def test_eof_exits_0(start_agent):
    agent = start_agent()
    agent.start()
    agent.sock.shutdown(socket.SHUT_WR)
    assert agent.wait_exit() == 0


def test_eof_before_init_exits_0(start_agent):
    agent = start_agent()
    agent.sock.shutdown(socket.SHUT_WR)
    assert agent.wait_exit() == 0


# --- live configuration and the function's shadow --------------------------------------------

LIVE_HANDLERS = '''
import threading
import edge_runtime

on_config_calls = []

def on_config(config, context):
    on_config_calls.append({"config": dict(config), "same_dict": config is context.config})
    if config.get("explode"):
        raise ValueError("on_config exploded on %r" % (config,))

def show(event, context):
    return {"config": context.config, "on_config_calls": on_config_calls}

def shadow_script(event, context):
    # event: a list of steps, each ["get"] or ["update", {keyword arguments}]
    results = []
    for step in event:
        try:
            if step[0] == "get":
                results.append({"document": context.shadow.get()})
            else:
                results.append({"document": context.shadow.update(**step[1])})
        except edge_runtime.ShadowError as error:
            results.append({"rejected": [error.code, error.message, error.detail, str(error)]})
    return {"results": results, "config": context.config, "on_config_calls": on_config_calls}

def shadow_uncaught(event, context):
    return context.shadow.get()

def shadow_from_thread(event, context):
    box = {}
    def work():
        try:
            context.shadow.get()
            box["text"] = "no error"
        except RuntimeError as error:
            box["text"] = "RuntimeError: %s" % error
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    return box.get("text", "thread did not finish")
'''

DOCUMENT = {"state": {"reported": {"temp": 21}}, "metadata": {}, "version": 4, "timestamp": 1700000000}


@pytest.fixture
def live_agent(start_agent, tmp_path):
    (tmp_path / "live_handlers.py").write_text(LIVE_HANDLERS)

    def make(function="show"):
        return start_agent("live_handlers." + function)

    return make


def test_ready_live_config_true_by_default(start_agent, tmp_path):
    (tmp_path / "explicit_live.py").write_text("LIVE_CONFIG = True\ndef handler(event, context):\n    return 1\n")
    agent = start_agent()  # handlers.py has no LIVE_CONFIG
    agent.send({"type": "init", "function": "digits", "version": "1.0.0", "thing": "dev1",
                "deploymentId": "d1", "config": {}})
    assert agent.recv() == {"type": "ready", "liveConfig": True}
    explicit = start_agent("explicit_live.handler")
    explicit.start(live_config=True)


def test_ready_live_config_false_when_module_says_so(start_agent, tmp_path):
    (tmp_path / "restart_me.py").write_text("LIVE_CONFIG = False\ndef handler(event, context):\n    return 'ok'\n")
    agent = start_agent("restart_me.handler")
    agent.send({"type": "init", "function": "digits", "version": "1.0.0", "thing": "dev1",
                "deploymentId": "d1", "config": {}})
    assert agent.recv() == {"type": "ready", "liveConfig": False}
    assert agent.invoke(None)["result"] == "ok"  # it still serves


def test_config_message_updates_context_and_calls_on_config_once(live_agent):
    agent = live_agent()
    agent.start(config={"threshold": 1})
    assert agent.invoke(None, id="a")["result"] == {"config": {"threshold": 1}, "on_config_calls": []}
    agent.send({"type": "config", "config": {"threshold": 2, "mode": "fast"}})
    assert agent.invoke(None, id="b")["result"] == {
        "config": {"threshold": 2, "mode": "fast"},
        "on_config_calls": [{"config": {"threshold": 2, "mode": "fast"}, "same_dict": True}]}
    # A key missing from the new config is gone (replaced, not merged).
    agent.send({"type": "config", "config": {"mode": "slow"}})
    result = agent.invoke(None, id="c")["result"]
    assert result["config"] == {"mode": "slow"}
    assert [call["config"] for call in result["on_config_calls"]] == [
        {"threshold": 2, "mode": "fast"}, {"mode": "slow"}]


def test_on_config_exception_is_logged_and_runtime_keeps_serving(live_agent):
    agent = live_agent()
    agent.start(config={"threshold": 1})
    agent.send({"type": "config", "config": {"explode": True}})
    answer = agent.invoke(None, id="after")
    assert answer["type"] == "result" and answer["id"] == "after"
    # The config is still replaced before on_config runs.
    assert answer["result"]["config"] == {"explode": True}
    assert len(answer["result"]["on_config_calls"]) == 1
    log = agent.log()
    assert "on_config" in log and "on_config exploded" in log and "Traceback" in log
    # Later config messages are still applied and on_config still called.
    agent.send({"type": "config", "config": {"threshold": 3}})
    result = agent.invoke(None, id="later")["result"]
    assert result["config"] == {"threshold": 3}
    assert len(result["on_config_calls"]) == 2


def test_shadow_get_and_update_round_trip(live_agent):
    agent = live_agent("shadow_script")
    agent.start()
    steps = [
        ["get"],
        ["update", {"reported": {"temp": 22}, "version": 4}],
        ["update", {"desired": {"fan": "on", "mode": None}, "client_token": "tok-1"}],
        ["update", {"reported": {"a": 1}, "desired": {"b": 2}}],
    ]
    agent.send({"type": "invoke", "id": "s1", "topic": "t", "event": steps, "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-1"}
    agent.send({"type": "shadow.accepted", "id": "shadow-1", "document": DOCUMENT})
    assert agent.recv() == {"type": "shadow.update", "id": "shadow-2",
                            "state": {"reported": {"temp": 22}}, "version": 4}
    doc2 = {"state": {"reported": {"temp": 22}}, "version": 5}
    agent.send({"type": "shadow.accepted", "id": "shadow-2", "document": doc2})
    assert agent.recv() == {"type": "shadow.update", "id": "shadow-3",
                            "state": {"desired": {"fan": "on", "mode": None}}, "clientToken": "tok-1"}
    doc3 = {"state": {"desired": {"fan": "on", "mode": None}}, "version": 6, "clientToken": "tok-1"}
    agent.send({"type": "shadow.accepted", "id": "shadow-3", "document": doc3})
    assert agent.recv() == {"type": "shadow.update", "id": "shadow-4",
                            "state": {"reported": {"a": 1}, "desired": {"b": 2}}}
    doc4 = {"state": {"reported": {"a": 1}, "desired": {"b": 2}}, "version": 7}
    agent.send({"type": "shadow.accepted", "id": "shadow-4", "document": doc4})
    answer = agent.recv()
    assert answer["type"] == "result" and answer["id"] == "s1"
    assert answer["result"]["results"] == [{"document": DOCUMENT}, {"document": doc2},
                                           {"document": doc3}, {"document": doc4}]
    # Ids keep counting across invocations.
    agent.send({"type": "invoke", "id": "s2", "topic": "t", "event": [["get"]], "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-5"}
    agent.send({"type": "shadow.accepted", "id": "shadow-5", "document": doc4})
    assert agent.recv()["result"]["results"] == [{"document": doc4}]


def test_shadow_rejected_raises_shadow_error(live_agent):
    agent = live_agent("shadow_script")
    agent.start()
    steps = [["update", {"reported": {"temp": 1}, "version": 2}], ["get"]]
    agent.send({"type": "invoke", "id": "r1", "topic": "t", "event": steps, "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.update", "id": "shadow-1",
                            "state": {"reported": {"temp": 1}}, "version": 2}
    agent.send({"type": "shadow.rejected", "id": "shadow-1",
                "error": {"code": 409, "message": "Version conflict", "detail": "the shadow is at version 5"}})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-2"}
    agent.send({"type": "shadow.rejected", "id": "shadow-2",
                "error": {"code": 404, "message": "No shadow exists with name: 'digits'"}})
    answer = agent.recv()
    assert answer["type"] == "result" and answer["id"] == "r1"
    assert answer["result"]["results"] == [
        {"rejected": [409, "Version conflict", "the shadow is at version 5",
                      "409 Version conflict: the shadow is at version 5"]},
        {"rejected": [404, "No shadow exists with name: 'digits'", None,
                      "404 No shadow exists with name: 'digits'"]},
    ]


def test_uncaught_shadow_error_becomes_invocation_error(live_agent):
    agent = live_agent("shadow_uncaught")
    agent.start()
    agent.send({"type": "invoke", "id": "u1", "topic": "t", "event": None, "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-1"}
    agent.send({"type": "shadow.rejected", "id": "shadow-1",
                "error": {"code": 409, "message": "Version conflict", "detail": "d"}})
    assert agent.recv() == {"type": "error", "id": "u1",
                            "error": {"type": "ShadowError", "message": "409 Version conflict: d"}}
    # Still serving: the next invocation sends the next request.
    agent.send({"type": "invoke", "id": "u2", "topic": "t", "event": None, "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-2"}
    agent.send({"type": "shadow.accepted", "id": "shadow-2", "document": DOCUMENT})
    assert agent.recv() == {"type": "result", "id": "u2", "result": DOCUMENT}


def test_config_and_invoke_before_shadow_reply(live_agent):
    agent = live_agent("shadow_script")
    agent.start(config={"threshold": 1})
    agent.send({"type": "invoke", "id": "c1", "topic": "t", "event": [["get"]], "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-1"}
    # Before the reply: a new configuration (applied at once) and a second invocation (kept).
    agent.send({"type": "config", "config": {"threshold": 9}})
    agent.send({"type": "invoke", "id": "c2", "topic": "t", "event": [], "timeoutMs": 5000})
    agent.send({"type": "shadow.accepted", "id": "shadow-1", "document": DOCUMENT})
    first = agent.recv()
    assert first["type"] == "result" and first["id"] == "c1"
    assert first["result"] == {"results": [{"document": DOCUMENT}], "config": {"threshold": 9},
                               "on_config_calls": [{"config": {"threshold": 9}, "same_dict": True}]}
    second = agent.recv()
    assert second["type"] == "result" and second["id"] == "c2"
    assert second["result"]["config"] == {"threshold": 9}
    assert len(second["result"]["on_config_calls"]) == 1  # on_config was not called a second time


def test_shutdown_before_shadow_reply_exits_after_the_result(live_agent):
    agent = live_agent("shadow_script")
    agent.start()
    agent.send({"type": "invoke", "id": "x1", "topic": "t", "event": [["get"]], "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-1"}
    agent.send({"type": "shutdown"})
    agent.send({"type": "shadow.accepted", "id": "shadow-1", "document": DOCUMENT})
    answer = agent.recv()
    assert answer["type"] == "result" and answer["id"] == "x1"
    assert answer["result"]["results"] == [{"document": DOCUMENT}]
    assert agent.wait_exit() == 0
    agent.sock.settimeout(TIMEOUT)
    assert agent.sock.recv(1024) == b"", "nothing after the result"


def test_shadow_from_another_thread_raises_runtime_error(live_agent):
    agent = live_agent("shadow_from_thread")
    agent.start()
    # No shadow request line may precede the result.
    answer = agent.invoke(None, id="th1")
    assert answer["type"] == "result" and answer["id"] == "th1"
    assert answer["result"].startswith("RuntimeError: ")
    assert "thread" in answer["result"]
    # The runtime keeps serving.
    assert agent.invoke(None, id="th2")["id"] == "th2"


def test_on_config_using_the_shadow_while_the_handler_waits_for_its_reply(start_agent, tmp_path):
    # The Shadow docstring allows on_config to use the shadow. When a config message arrives while
    # the handler waits for its own reply, on_config's request is nested inside the handler's; the
    # agent answers in order, so the nested wait reads the handler's reply first and must keep it.
    (tmp_path / "nested.py").write_text(textwrap.dedent("""
        seen = []
        def on_config(config, context):
            seen.append(context.shadow.get())
        def handler(event, context):
            return {"handler": context.shadow.get(), "on_config": seen}
    """))
    agent = start_agent("nested.handler")
    agent.start()
    agent.send({"type": "invoke", "id": "n1", "topic": "t", "event": None, "timeoutMs": 5000})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-1"}
    agent.send({"type": "config", "config": {"k": 1}})
    assert agent.recv() == {"type": "shadow.get", "id": "shadow-2"}
    agent.send({"type": "shadow.accepted", "id": "shadow-1", "document": {"version": 1}})
    agent.send({"type": "shadow.accepted", "id": "shadow-2", "document": {"version": 2}})
    assert agent.recv() == {"type": "result", "id": "n1",
                            "result": {"handler": {"version": 1}, "on_config": [{"version": 2}]}}
