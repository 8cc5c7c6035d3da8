"""The Python runtime of edge-agent: runs a Lambda-style handler behind the runtime protocol.

The agent starts it as ``python3 -m edge_runtime`` in the function's directory, with
``EDGE_HANDLER=module.function`` and a connected socket on fd 3 (``EDGE_RUNTIME_FD``). Both
sides exchange one JSON object per line; docs/runtime-protocol.md is the contract.

Lifecycle: read ``init`` -> import the handler -> call the module's optional ``init(context)``
-> send ``ready`` -> answer each ``invoke`` with ``result`` or ``error`` until ``shutdown`` or
end of file (exit 0). A ``config`` message replaces ``context.config`` in place and calls the
module's optional ``on_config(config, context)``; a module that sets ``LIVE_CONFIG = False`` is
restarted by the agent instead. ``context.shadow`` gets and updates the function's own named
shadow.

Exit codes: 0 on shutdown or end of file; 2 when the handler cannot be loaded (import error,
missing or non-callable function, malformed EDGE_HANDLER); 1 for any other failure before
``ready`` (a failing ``init(context)``, a first message that is not ``init``) or a broken
channel. Nothing but protocol lines is written to fd 3; diagnostics go to stderr.

Standard library only, Python 3.9+.
"""

import base64
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback

MAX_LINE_BYTES = 4 * 1024 * 1024  # the protocol's limit on one line, newline included


def _log(text):
    """A runtime diagnostic on stderr (the function's error log)."""
    print("edge_runtime: " + text, file=sys.stderr, flush=True)


# One encoder for every line: json.dumps with options builds a new one on each call.
# allow_nan=False because NaN/Infinity are not JSON and the agent would treat the line as a
# protocol error; encoding raises ValueError (or TypeError) instead. ASCII only, no newlines.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _encode(message):
    """One protocol line."""
    return (_ENCODER.encode(message) + "\n").encode("ascii")


class ProtocolError(Exception):
    pass


class ShadowError(Exception):
    """A shadow request the agent refused: `code` and `message` as AWS IoT's shadow service
    gives them (400, 404, 409 Version conflict, 413...), `detail` naming the field and the fix."""

    def __init__(self, code, message, detail=None):
        super().__init__("%s %s%s" % (code, message, ": " + detail if detail else ""))
        self.code = code
        self.message = message
        self.detail = detail


class Shadow:
    """The function's own named shadow (named after the function), in the AWS IoT Device Shadow
    document shape. Call it from the handler, init() or on_config(): the thread the runtime
    calls them on."""

    def __init__(self, runtime):
        self._runtime = runtime

    def get(self):
        """The whole document: state (desired, reported, delta), metadata, version, timestamp.
        Raises ShadowError (404 when it does not exist yet)."""
        return self._runtime.shadow_request({"type": "shadow.get"})

    def update(self, reported=None, desired=None, version=None, client_token=None):
        """Merges `reported` and/or `desired` into the shadow (a None value inside deletes that key).
        With `version`, the update is refused with 409 unless the shadow is at that version.
        Returns what AWS's /update/accepted carries (state as sent, metadata, the new version)."""
        state = {}
        if reported is not None:
            state["reported"] = reported
        if desired is not None:
            state["desired"] = desired
        message = {"type": "shadow.update", "state": state}
        if version is not None:
            message["version"] = version
        if client_token is not None:
            message["clientToken"] = client_token
        return self._runtime.shadow_request(message)


class Channel:
    """The fd-3 connection to the agent: a buffered line reader and a locked line writer."""

    def __init__(self, fd):
        self._fd = fd
        # open() works for sockets and pipes alike; closefd=False leaves fd 3 to the process.
        self._reader = open(fd, "rb", closefd=False)
        self._write_lock = threading.Lock()

    def read(self):
        """The next message as a dict, or None at end of file."""
        line = self._reader.readline(MAX_LINE_BYTES)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) == MAX_LINE_BYTES:
                raise ProtocolError("a line from the agent is longer than 4 MiB")
            return None  # the agent closed the channel in the middle of a line
        message = json.loads(line)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError("not a JSON object with a string \"type\": %.200r" % line)
        return message

    def send(self, message):
        """Writes one message as a whole line. Thread-safe: handlers may publish from threads."""
        line = _encode(message)
        if len(line) > MAX_LINE_BYTES:
            raise ValueError("message is %d bytes; a protocol line may be at most 4 MiB" % len(line))
        self.write_line(line)

    def write_line(self, line):
        """Writes an already encoded line; the lock keeps lines from different threads whole."""
        with self._write_lock:
            view = memoryview(line)
            while view:  # os.write may write less than asked on a socket
                written = os.write(self._fd, view)
                view = view[written:]


class Context:
    """What a handler gets besides the event; shaped like AWS Lambda's context."""

    __slots__ = ("_runtime", "function_name", "function_version", "thing_name", "deployment_id", "invocation_id",
                 "topic", "config", "logger", "shadow", "_deadline", "__dict__")

    def __init__(self, runtime, invocation_id=None, topic=None, timeout_ms=None, received=None):
        self._runtime = runtime
        self.function_name = runtime.function_name
        self.function_version = runtime.function_version
        self.thing_name = runtime.thing_name
        self.deployment_id = runtime.deployment_id
        self.invocation_id = invocation_id
        self.topic = topic
        # The same dict for every context; `config` messages update it in place.
        self.config = runtime.config
        self.logger = runtime.logger
        self.shadow = runtime.shadow
        self._deadline = None
        if timeout_ms is not None and received is not None:
            self._deadline = received + timeout_ms / 1000.0

    # AWS Lambda spellings, so existing handlers run unchanged.
    @property
    def aws_request_id(self):
        return self.invocation_id

    def get_remaining_time_in_millis(self):
        """Milliseconds left before the agent times this invocation out (never negative).
        None in the context given to init(), which has no deadline."""
        if self._deadline is None:
            return None
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def publish(self, topic, payload, qos=0, retain=False):
        """Asks the agent to publish `payload` (any JSON value) to `topic`. Only topics matching the
        function's `publish` filters are allowed; a refusal arrives later as a `publishError`,
        which the runtime logs. Raises TypeError/ValueError for arguments the agent would reject."""
        if not isinstance(topic, str) or not topic:
            raise ValueError("publish topic must be a non-empty string")
        if "+" in topic or "#" in topic:
            raise ValueError("publish topic cannot contain MQTT wildcards: %r" % topic)
        if qos not in (0, 1) or isinstance(qos, bool):
            raise ValueError("publish qos must be 0 or 1, not %r" % (qos,))
        if not isinstance(retain, bool):
            raise TypeError("publish retain must be a bool, not %r" % (retain,))
        self._runtime.channel.send({"type": "publish", "topic": topic, "payload": payload,
                                    "qos": qos, "retain": retain})


def _make_logger(name):
    """A logger named after the function that writes to stderr (the function's log). No time:
    the agent stamps every line of the log as it reads it."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # no second copy through a root logger the handler may configure
    return logger


class LoadError(Exception):
    pass


def load_handler(spec):
    """Imports `module.path.function` and returns (module, function); LoadError explains failures."""
    module_name, _, function_name = (spec or "").rpartition(".")
    if not module_name or not function_name:
        raise LoadError("EDGE_HANDLER=%r is not of the form module.function" % (spec,))
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        # Any exception while importing (ImportError, SyntaxError, an error at module level).
        traceback.print_exc(file=sys.stderr)
        raise LoadError("cannot import module %r for EDGE_HANDLER=%r: %s: %s\n  module search path: %s"
                        % (module_name, spec, type(error).__name__, error, os.pathsep.join(sys.path)))
    function = getattr(module, function_name, None)
    if function is None:
        raise LoadError("module %r (%s) has no %r for EDGE_HANDLER=%r"
                        % (module_name, getattr(module, "__file__", "?"), function_name, spec))
    if not callable(function):
        raise LoadError("EDGE_HANDLER=%r names a %s, not a function" % (spec, type(function).__name__))
    return module, function


class Runtime:
    def __init__(self, channel):
        self.channel = channel
        env = os.environ
        self.function_name = env.get("EDGE_FUNCTION_NAME", "function")
        self.function_version = env.get("EDGE_FUNCTION_VERSION", "")
        self.thing_name = env.get("EDGE_THING_NAME", "")
        self.deployment_id = None
        self.config = {}
        self.logger = None
        # Holds nothing but the runtime: one for every context.
        self.shadow = Shadow(self)
        self.handler = None
        self.on_config = None
        # Messages read while waiting for a shadow reply, for the main loop to handle next.
        self._pending = []
        self._shutdown_requested = False
        self._requests = 0
        # Shadow requests still waiting (on_config may make one inside another's wait) and the
        # replies a nested wait read for an outer one.
        self._waiting = set()
        self._replies = {}
        self._thread = threading.get_ident()

    def start(self):
        """init message -> import -> init(context) -> ready. Returns an exit code or None."""
        message = self.channel.read()
        if message is None:
            return 0
        if message["type"] != "init":
            _log("expected an init message first, got %r" % message["type"])
            return 1
        # The environment is authoritative, but init carries the same facts; fill any gaps.
        self.function_name = os.environ.get("EDGE_FUNCTION_NAME") or message.get("function") or "function"
        self.function_version = os.environ.get("EDGE_FUNCTION_VERSION") or message.get("version") or ""
        self.thing_name = os.environ.get("EDGE_THING_NAME") or message.get("thing") or ""
        self.deployment_id = message.get("deploymentId")
        self._replace_config(message.get("config"))
        self.logger = _make_logger(self.function_name)

        spec = os.environ.get("EDGE_HANDLER", "")
        try:
            module, self.handler = load_handler(spec)
        except LoadError as error:
            _log(str(error))
            return 2
        on_config = getattr(module, "on_config", None)
        self.on_config = on_config if callable(on_config) else None
        module_init = getattr(module, "init", None)
        if callable(module_init):
            try:
                module_init(Context(self))
            except Exception:
                _log("init(context) of %r failed:" % module.__name__)
                traceback.print_exc(file=sys.stderr)
                return 1
        self.channel.send({"type": "ready", "liveConfig": bool(getattr(module, "LIVE_CONFIG", True))})
        return None

    def serve(self):
        """Handles messages until shutdown or end of file; returns the exit code."""
        while not self._shutdown_requested:
            message = self._pending.pop(0) if self._pending else self.channel.read()
            if message is None:
                return 0
            kind = message["type"]
            if kind == "invoke":
                self.invoke(message)
            elif kind == "shutdown":
                return 0
            else:
                self._aside(message)
        return 0

    def _aside(self, message):
        """A message that needs no answer: a new configuration, a refused publish."""
        kind = message["type"]
        if kind == "config":
            self._replace_config(message.get("config"))
            if self.on_config is not None:
                try:
                    self.on_config(self.config, Context(self))
                except Exception:
                    _log("on_config(config, context) failed:")
                    traceback.print_exc(file=sys.stderr)
        elif kind == "publishError":
            _log("publish to %r refused: %s" % (message.get("topic"), message.get("message")))
        else:
            _log("ignoring an unknown message type %r" % kind)

    def shadow_request(self, message):
        """Sends a shadow request and reads until its reply; messages read meanwhile are handled
        (config) or kept for the main loop (invoke, shutdown)."""
        if threading.get_ident() != self._thread:
            raise RuntimeError("context.shadow works only on the thread the runtime calls the handler on")
        self._requests += 1
        request_id = "shadow-%d" % self._requests
        self._waiting.add(request_id)
        try:
            self.channel.send(dict(message, id=request_id))
            return self._await_shadow_reply(request_id)
        finally:
            self._waiting.discard(request_id)

    def _await_shadow_reply(self, request_id):
        while True:
            reply = self._replies.pop(request_id, None)
            if reply is None:
                reply = self.channel.read()
            if reply is None:
                raise ShadowError(500, "Internal service failure", "the agent closed the runtime channel")
            kind = reply["type"]
            if kind in ("shadow.accepted", "shadow.rejected") and reply.get("id") == request_id:
                if kind == "shadow.accepted":
                    return reply.get("document")
                error = reply.get("error") or {}
                raise ShadowError(error.get("code", 500), error.get("message", "Internal service failure"), error.get("detail"))
            if kind in ("shadow.accepted", "shadow.rejected") and reply.get("id") in self._waiting:
                self._replies[reply["id"]] = reply  # an outer request's reply, read by a nested wait
            elif kind == "shutdown":
                self._shutdown_requested = True
            elif kind == "invoke":
                self._pending.append(reply)
            else:
                self._aside(reply)

    def invoke(self, message):
        received = time.monotonic()
        invocation_id = message.get("id")
        if "payloadBase64" in message:
            event = base64.b64decode(message["payloadBase64"])  # a non-JSON MQTT payload, as bytes
        else:
            event = message.get("event")
        context = Context(self, invocation_id, message.get("topic"), message.get("timeoutMs"), received)
        try:
            result = self.handler(event, context)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            self._send_error(invocation_id, type(error).__name__, str(error))
            return
        try:
            line = _encode({"type": "result", "id": invocation_id, "result": result})
        except (TypeError, ValueError) as error:  # e.g. a numpy scalar, a set, bytes, NaN
            text = "the handler's result is not JSON-serialisable: %s" % error
            _log("invocation %s: %s" % (invocation_id, text))
            self._send_error(invocation_id, "TypeError", text)
            return
        if len(line) > MAX_LINE_BYTES:
            self._send_error(invocation_id, "ResultTooLarge",
                             "the handler's result is %d bytes as JSON; the limit is 4 MiB" % len(line))
            return
        self.channel.write_line(line)

    def _send_error(self, invocation_id, error_type, text):
        self.channel.send({"type": "error", "id": invocation_id, "error": {"type": error_type, "message": text}})

    def _replace_config(self, config):
        if not isinstance(config, dict):
            config = {}
        self.config.clear()
        self.config.update(config)


def main():
    # When run with -m this module is __main__; make `import edge_runtime` in a handler return
    # this same module (and so the same Context class) rather than a second copy.
    sys.modules.setdefault("edge_runtime", sys.modules[__name__])
    # stdout goes to a log file; line buffering keeps a handler's prints in step with stderr.
    try:
        sys.stdout.reconfigure(line_buffering=True)
    except (AttributeError, ValueError):
        pass

    fd = int(os.environ.get("EDGE_RUNTIME_FD", "3"))
    try:
        channel = Channel(fd)
    except OSError as error:
        _log("cannot open the runtime channel on fd %d: %s" % (fd, error))
        return 1
    runtime = Runtime(channel)
    try:
        code = runtime.start()
        if code is not None:
            return code
        return runtime.serve()
    except (ProtocolError, json.JSONDecodeError, UnicodeDecodeError) as error:
        _log("protocol error from the agent: %s" % error)
        return 1
    except BrokenPipeError:
        return 0  # the agent is gone: same as end of file
    except OSError as error:
        _log("runtime channel failed: %s" % error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
