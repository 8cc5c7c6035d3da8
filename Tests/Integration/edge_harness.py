"""Helpers for the end-to-end tests: a real Mosquitto, the real edge-agent binary, an MQTT
observer that records everything, and builders for deployment documents.

Synchronisation rule: nothing here sleeps to let something happen. Every wait is on the event
itself (a message, a process exit, a file, a log line) with a deadline that fails with a
message naming what was awaited.

Functions may run as another user than the tests (edgefn, when the agent is root): what they
must reach (state directories, modules, executables) lives under a world-traversable base per
session (shared_path), and Python functions get an interpreter every user can run
(function_python). Tests that need root or cgroups say so with require_root/require_cgroups,
which skip, or fail under CI=true.
"""

import base64
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO / "runtime"
DEFAULT_AGENT_BIN = REPO / ".build" / "debug" / "edge-agent"

WAIT = 20.0  # default deadline for positive waits, generous for a loaded CI machine
QUIET = 2.0  # default bounded window for "nothing must arrive" checks

# Pass `--cgroup-root /edge-e2e/<thing>` to every agent, so each test's cgroups are its own and
# teardown can find what is left of them. Off until the agent has the flag.
CGROUP_ROOT_FLAG = True
CGROUP_PARENT = "edge-e2e"

# The unprivileged user functions run as when the agent runs as root (scripts/setup.sh makes it).
FUNCTION_USER = "edgefn"
# The interpreter for Python functions: readable by every user, with numpy and onnxruntime.
DEFAULT_FUNCTION_PYTHON = "/opt/edge-agent/python/bin/python3"


class HarnessError(AssertionError):
    pass


def agent_binary():
    """The edge-agent to test: $EDGE_AGENT_BIN, else what `swift build` produces."""
    path = Path(os.environ.get("EDGE_AGENT_BIN") or DEFAULT_AGENT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise HarnessError(
            "edge-agent binary not found at %s: run `swift build` first (from %s), "
            "or point EDGE_AGENT_BIN at a built edge-agent" % (path, REPO))
    return path


def function_python():
    """The interpreter for Python functions: $EDGE_FUNCTION_PYTHON, else the venv scripts/setup.sh
    makes. It must import numpy and onnxruntime as the user functions run as (when we are root)."""
    path = os.environ.get("EDGE_FUNCTION_PYTHON") or DEFAULT_FUNCTION_PYTHON
    fix = ("run scripts/setup.sh (it makes %s, readable by every user, from requirements-functions.txt), "
           "or point EDGE_FUNCTION_PYTHON at such an interpreter" % DEFAULT_FUNCTION_PYTHON)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise HarnessError("the function interpreter %s is missing: %s" % (path, fix))
    as_user = FUNCTION_USER if os.geteuid() == 0 and user_exists(FUNCTION_USER) else None
    check = subprocess.run([path, "-c", "import numpy, onnxruntime"], capture_output=True, text=True, cwd="/",
                           user=as_user, timeout=120)
    if check.returncode != 0:
        raise HarnessError("the function interpreter %s cannot import numpy and onnxruntime%s: %s\n%s"
                           % (path, " as user %s" % as_user if as_user else "", fix, tail(check.stderr, 5)))
    return Path(path)


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ---------------------------------------------------------------------------------------------
# Files a function must reach
#
# pytest's tmp_path is under /tmp/pytest-of-<user> (mode 0700): a function running as another
# user (edgefn) cannot reach it. State directories and every file a function reads live instead
# under one base per session, /tmp/edge-e2e-XXXX (0711), in a folder per test (0711).

_shared = {"base": None, "test": None}


def make_shared_base():
    """Creates the session's base folder (0711) and returns it."""
    base = Path(tempfile.mkdtemp(prefix="edge-e2e-", dir="/tmp"))
    base.chmod(0o711)
    _shared["base"] = base
    return base


def remove_shared_base():
    base, _shared["base"], _shared["test"] = _shared["base"], None, None
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


def begin_shared_test(name):
    """A folder (0711) of its own under the base for the test `name`; the default for shared_path."""
    if _shared["base"] is None:
        raise HarnessError("no shared base folder: make_shared_base() was not called")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80]
    folder = Path(tempfile.mkdtemp(prefix=safe + "-", dir=_shared["base"]))
    folder.chmod(0o711)
    _shared["test"] = folder
    return folder


def end_shared_test():
    _shared["test"] = None


def shared_location(path):
    """Where `path` goes so that a function's user can reach it: `path` itself when it is under the
    shared base, else an entry of the same name in the current test's shared folder (so
    `tmp_path / "src"` becomes <test folder>/src). The folders above it, up to the base, are
    created (0711); `path` itself is not. Without a current test (the harness used on its own),
    `path` as given."""
    path = Path(path)
    base, test = _shared["base"], _shared["test"]
    if test is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    if base is not None and path.is_absolute() and _is_under(path, base):
        target = path
    else:
        target = test / path.name
    missing = []
    cursor = target.parent
    while not cursor.exists():
        missing.append(cursor)
        cursor = cursor.parent
    for folder in reversed(missing):
        folder.mkdir()
        folder.chmod(0o711)
    return target


def shared_path(directory=None, mode=0o711):
    """The folder `directory` names, placed by shared_location and created with `mode`; without
    `directory`, the current test's shared folder."""
    if directory is None:
        if _shared["test"] is None:
            raise HarnessError("shared_path() without a folder needs a current test")
        return _shared["test"]
    target = shared_location(directory)
    target.mkdir(exist_ok=True)
    target.chmod(mode)
    return target


def _is_under(path, base):
    try:
        Path(path).resolve().relative_to(Path(base).resolve())
        return True
    except ValueError:
        return False


def world_writable_dir(name):
    """A folder in the current test's shared folder that any user may create files in (sticky, 1777)."""
    return shared_path(name, mode=0o1777)


def require(condition, reason):
    """Skips the test with `reason` unless `condition`; under CI=true a skip is a failure, so CI
    never passes by skipping what it was meant to run."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("%s (CI=true: this test must run in CI, so the missing prerequisite is a failure)" % reason,
                    pytrace=False)
    pytest.skip(reason)


def require_root():
    require(os.geteuid() == 0, "needs root (the agent must be root to switch users and manage cgroups)")


def require_function_user():
    """Root, and the user functions run as by default (scripts/setup.sh creates it)."""
    require_root()
    require(user_exists(FUNCTION_USER), "needs the system user %s: run scripts/setup.sh" % FUNCTION_USER)
    return pwd.getpwnam(FUNCTION_USER)


def poll_until(condition, timeout, what, interval=0.02):
    """Polls `condition()` until it returns something truthy; fails naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)  # a bounded poll on a condition, not a synchronising sleep


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def unique(prefix="x"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


# ---------------------------------------------------------------------------------------------
# The broker


class Broker:
    """A real mosquitto on 127.0.0.1, restartable on the same port."""

    def __init__(self, workdir, port=None, tls=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls  # dict(ca=, cert=, key=, require_certificate=bool) or None
        self.proc = None
        self.log_path = self.workdir / "mosquitto.log"
        self.conf_path = self.workdir / "mosquitto.conf"
        self.starts = 0

    def _config(self):
        lines = [
            "listener %d 127.0.0.1" % self.port,
            "allow_anonymous true",
            "persistence false",
            "user root",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if self.tls:
            lines += [
                "cafile %s" % self.tls["ca"],
                "certfile %s" % self.tls["cert"],
                "keyfile %s" % self.tls["key"],
                "require_certificate %s" % ("true" if self.tls.get("require_certificate") else "false"),
                "use_identity_as_username %s" % ("true" if self.tls.get("require_certificate") else "false"),
                "tls_version tlsv1.2",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.conf_path.write_text(self._config())
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(b"=== start %d on port %d\n" % (self.starts, self.port))
        log.flush()
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf_path)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            if self.proc.poll() is not None:
                raise HarnessError("mosquitto exited with code %s at start; its log:\n%s"
                                   % (self.proc.returncode, self.log_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError as error:
                last_error = error
            if time.monotonic() >= deadline:
                self.stop()
                raise HarnessError("mosquitto did not accept connections on 127.0.0.1:%d within %.0f s "
                                   "(last error: %s); its log:\n%s" % (self.port, timeout, last_error, self.log_text()))
            time.sleep(0.02)  # bounded retry loop on the port, with the deadline above

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"

    def wait_log(self, text, count=1, timeout=WAIT, what=None):
        return poll_until(lambda: self.log_text().count(text) >= count, timeout,
                          what or "%r in the broker's log" % text)


# ---------------------------------------------------------------------------------------------
# Processes


def children_of(pid):
    """Live (non-zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = proc_stat(int(entry))
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def process_alive(pid):
    """True while `pid` exists and is not a zombie."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline_of(pid):
    try:
        return Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, session, ...), or
    None once it is gone. The name is in parentheses and may hold spaces: parsed after the last ')'."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def session_members(sid):
    """Live (not zombie) pids whose session id is `sid`: a function and everything it started that
    did not leave its session."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields and int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry))
    return found


def cpu_ticks(pid):
    """utime + stime of `pid` in clock ticks, or None once it is gone."""
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else None


def uids_of(pid):
    """The real, effective, saved and filesystem uids of `pid` (the Uid line of /proc/<pid>/status)."""
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(v) for v in line.split()[1:5]]
    raise HarnessError("no Uid line in /proc/%d/status" % pid)


def open_fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Cgroups

KNOWN_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "io", "devices", "freezer",
                        "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}


class CgroupMount:
    def __init__(self, version, mountpoint, root, controllers):
        self.version = version          # "v1" or "v2"
        self.mountpoint = Path(mountpoint)
        self.root = root                # the hierarchy's path seen at the mount point
        self.controllers = controllers

    def directory(self, cgroup_path):
        """The folder of `cgroup_path` (absolute from the hierarchy's root), or None when this
        mount does not show it."""
        root = self.root.rstrip("/")
        if cgroup_path != root and not cgroup_path.startswith(root + "/"):
            return None
        return self.mountpoint / cgroup_path[len(root):].lstrip("/")

    def __repr__(self):
        return "<%s %s %s>" % (self.version, self.mountpoint, ",".join(self.controllers) or "-")


def _unescape_mount(text):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def cgroup_mounts():
    """Every cgroup v1 and v2 hierarchy mounted here, from /proc/self/mountinfo."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail_fields = left.split(), right.split()
        if not tail_fields or tail_fields[0] not in ("cgroup", "cgroup2"):
            continue
        root, mountpoint = _unescape_mount(fields[3]), _unescape_mount(fields[4])
        if tail_fields[0] == "cgroup2":
            try:
                controllers = Path(mountpoint, "cgroup.controllers").read_text().split()
            except OSError:
                controllers = []
            mounts.append(CgroupMount("v2", mountpoint, root, controllers))
        else:
            options = tail_fields[2].split(",") if len(tail_fields) > 2 else []
            mounts.append(CgroupMount("v1", mountpoint, root, [o for o in options if o in KNOWN_V1_CONTROLLERS]))
    return mounts


def _writable(mount):
    probe = mount.mountpoint / ("%s-probe-%s" % (CGROUP_PARENT, uuid.uuid4().hex[:8]))
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        probe.rmdir()
    except OSError:
        pass
    return True


def require_cgroups(controllers=("memory", "cpu", "pids")):
    """Root, and writable cgroups with `controllers`: all of them in one v2 hierarchy, or each in a
    v1 hierarchy of its own. Skips otherwise (a failure under CI=true, see require()); returns
    {"v1": bool, "v2": bool}: which of the two could serve."""
    require_root()
    mounts = cgroup_mounts()
    v2 = any(m.version == "v2" and set(controllers) <= set(m.controllers) and _writable(m) for m in mounts)
    v1 = all(any(m.version == "v1" and c in m.controllers and _writable(m) for m in mounts) for c in controllers)
    require(v1 or v2, "needs writable cgroups (v2, or v1 hierarchies) with the controllers %s; mounted: %s"
            % (", ".join(controllers), mounts or "no cgroup file system"))
    return {"v1": v1, "v2": v2}


def cgroup_root(thing):
    """The --cgroup-root the harness gives the agent of `thing`."""
    return "/%s/%s" % (CGROUP_PARENT, thing)


def cgroup_of(pid, controller, version):
    """The folder of the cgroup `pid` is in for `controller` ("memory", "cpu", "pids"), in the
    hierarchy of `version` ("v1" or "v2", as the agent's health says)."""
    try:
        lines = Path("/proc/%d/cgroup" % pid).read_text().splitlines()
    except OSError as error:
        raise HarnessError("cannot read the cgroups of pid %d: %s" % (pid, error))
    for line in lines:
        _, names, path = line.split(":", 2)
        if version == "v2" and names == "":
            candidates = [m for m in cgroup_mounts() if m.version == "v2"]
            candidates.sort(key=lambda m: controller not in m.controllers)
        elif version == "v1" and controller in names.split(","):
            candidates = [m for m in cgroup_mounts() if m.version == "v1" and controller in m.controllers]
        else:
            continue
        for mount in candidates:
            directory = mount.directory(path)
            if directory is not None and directory.is_dir():
                return directory
    raise HarnessError("pid %d is in no %s cgroup with %s that is mounted here: %s"
                       % (pid, version, controller, lines))


def cgroup_tree_procs(directory):
    """Every pid in the cgroup `directory` and the cgroups below it."""
    pids = set()
    for folder, _, _ in os.walk(directory):
        try:
            pids.update(int(p) for p in Path(folder, "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def remove_cgroups(thing, timeout=10.0):
    """Teardown, best effort: the cgroups an agent of `thing` left under its --cgroup-root, in every
    hierarchy, removed bottom-up after killing whatever is still in them."""
    seen = set()
    for mount in cgroup_mounts():
        top = mount.directory(cgroup_root(thing))
        if top is None or top in seen:
            continue
        seen.add(top)
        deadline = time.monotonic() + timeout
        while top.is_dir() and time.monotonic() < deadline:
            for folder, _, _ in os.walk(top, topdown=False):
                for pid in cgroup_tree_procs(folder):
                    if pid != os.getpid():
                        kill_quietly(pid)
                try:
                    os.rmdir(folder)
                except OSError:
                    pass
            if top.exists():
                time.sleep(0.05)  # bounded retry: killed processes leave their cgroup as they exit
        try:
            top.parent.rmdir()  # the shared /edge-e2e parent, once no agent uses it
        except OSError:
            pass


class Agent:
    """One run of the real edge-agent binary."""

    def __init__(self, binary, thing, broker_port, state_dir, log_path, health_interval=2, extra_args=(),
                 broker_host="127.0.0.1", groups=(), runtime_dir=RUNTIME_DIR):
        self.thing = thing
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_path)
        self.args = [str(binary), "--thing-name", thing, "--broker-host", broker_host,
                     "--broker-port", str(broker_port), "--state-dir", str(state_dir),
                     "--runtime-dir", str(runtime_dir), "--health-interval", str(health_interval),
                     "--log-level", "debug"]
        for group in groups:
            self.args += ["--thing-group", group]
        if CGROUP_ROOT_FLAG:
            self.args += ["--cgroup-root", cgroup_root(thing)]
        self.args += list(extra_args)
        self.proc = None
        self.known_children = set()

    def start(self):
        log = open(self.log_path, "ab")
        log.write(("=== %s\n" % " ".join(self.args)).encode())
        log.flush()
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no agent log)"

    def wait_log(self, pattern, timeout=WAIT, what=None, count=1):
        """Waits until `pattern` (a regex) matches at least `count` times in the agent's log."""
        regex = re.compile(pattern)

        def found():
            return len(regex.findall(self.log_text())) >= count
        try:
            return poll_until(found, timeout, what or "agent log line /%s/" % pattern)
        except HarnessError as error:
            raise HarnessError("%s\n--- agent log tail:\n%s" % (error, tail(self.log_text(), 40)))

    def children(self):
        pids = children_of(self.proc.pid) if self.proc and self.proc.poll() is None else []
        self.known_children.update(pids)
        return pids

    def wait_exit(self, timeout=WAIT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("edge-agent (pid %d) did not exit within %.0f s" % (self.proc.pid, timeout))

    def stop(self, timeout=30.0):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise HarnessError("edge-agent did not exit within %.0f s of SIGTERM (killed)" % timeout)

    def kill(self):
        """SIGKILL, then wait; remembers its function processes so cleanup can end them."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.children()
        self.proc.kill()
        self.proc.wait(10)

    def cleanup(self):
        """Teardown: stop the agent and end any function process it left behind."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.stop(timeout=30)
                except HarnessError:
                    pass
        finally:
            for pid in self.known_children:
                if process_alive(pid):
                    try:
                        os.killpg(pid, signal.SIGKILL)  # functions run in a session of their own
                    except OSError:
                        kill_quietly(pid)
            # What left the process group but not the session (setpgid) goes too.
            if self.known_children:
                for entry in os.listdir("/proc"):
                    fields = proc_stat(int(entry)) if entry.isdigit() else None
                    if fields and int(fields[3]) in self.known_children and int(entry) != os.getpid():
                        kill_quietly(int(entry))


def tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# The MQTT observer


class Message:
    def __init__(self, raw, index):
        self.index = index
        self.topic = raw.topic
        self.payload = bytes(raw.payload)
        self.retain = bool(raw.retain)
        self.qos = raw.qos
        props = getattr(raw, "properties", None)
        self.correlation = getattr(props, "CorrelationData", None) if props else None
        self.response_topic = getattr(props, "ResponseTopic", None) if props else None
        self.received = time.monotonic()
        try:
            self.json = json.loads(self.payload) if self.payload else None
        except ValueError:
            self.json = None

    def __repr__(self):
        text = self.payload[:400].decode(errors="replace")
        return "<%s%s %s>" % (self.topic, " (retained)" if self.retain else "", text)


class Observer:
    """An MQTT 5 client that subscribes to everything before the test acts and records it all."""

    def __init__(self, port, name="observer", tls=None, filters=("#",), protocol=mqtt.MQTTv5):
        self.port = port
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.filters = list(filters)
        self.protocol = protocol
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique(name + "-"),
                                  protocol=protocol)
        if tls:
            self.client.tls_set(ca_certs=tls["ca"], certfile=tls.get("cert"), keyfile=tls.get("key"))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code == 0 and self.filters:
            client.subscribe([(f, 1) for f in self.filters])
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subscribed.set()

    def _on_message(self, client, userdata, raw):
        with self.cond:
            self.messages.append(Message(raw, len(self.messages)))
            self.cond.notify_all()

    def start(self, timeout=10.0):
        if self.protocol == mqtt.MQTTv5:
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=True)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            raise HarnessError("the MQTT observer could not connect to 127.0.0.1:%d within %.0f s" % (self.port, timeout))
        if self.filters and not self.subscribed.wait(timeout):
            raise HarnessError("the MQTT observer's subscription to %s was not acknowledged" % self.filters)
        return self

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def mark(self):
        """An index: waits given `since=mark` consider only messages received after it."""
        with self.cond:
            return len(self.messages)

    def seen(self, topic, predicate=None, since=0):
        with self.cond:
            candidates = list(self.messages[since:])
        return [m for m in candidates if mqtt.topic_matches_sub(topic, m.topic)
                and (predicate is None or _safe(predicate, m))]

    def wait_for(self, topic, predicate=None, timeout=WAIT, what=None, since=0):
        """The first message on `topic` (a filter) after `since` that satisfies `predicate(msg)`."""
        deadline = time.monotonic() + timeout
        position = since
        with self.cond:
            while True:
                while position < len(self.messages):
                    message = self.messages[position]
                    position += 1
                    if mqtt.topic_matches_sub(topic, message.topic) and (predicate is None or _safe(predicate, message)):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        recent = [m for m in self.messages[since:] if mqtt.topic_matches_sub(topic, m.topic)][-5:]
        raise HarnessError("timed out after %.1f s waiting for %s on %s; last messages on that topic:\n  %s"
                           % (timeout, what or "a matching message", topic,
                              "\n  ".join(repr(m) for m in recent) or "(none)"))

    def wait_count(self, topic, predicate, count, timeout=WAIT, what=None, since=0):
        """Waits until at least `count` messages match; returns them."""
        def enough():
            found = self.seen(topic, predicate, since)
            return found if len(found) >= count else None
        try:
            return poll_until(enough, timeout, what or "%d messages on %s" % (count, topic))
        except HarnessError as error:
            recent = self.seen(topic, None, since)[-5:]
            raise HarnessError("%s; got %d; last messages:\n  %s" % (
                error, len(self.seen(topic, predicate, since)), "\n  ".join(repr(m) for m in recent) or "(none)"))

    def assert_none(self, topic, predicate=None, within=QUIET, since=0, why=""):
        """A bounded negative wait: fails if a matching message arrives within `within` seconds."""
        try:
            message = self.wait_for(topic, predicate, timeout=within, since=since)
        except HarnessError:
            return
        raise AssertionError("unexpected message on %s (%s): %r" % (topic, why, message))

    def publish(self, topic, payload, qos=1, retain=False, response_topic=None, correlation=None, timeout=10.0):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        properties = None
        if response_topic is not None or correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos > 0:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise HarnessError("publish to %s was not acknowledged within %.0f s" % (topic, timeout))
        return info


def _safe(predicate, message):
    try:
        return bool(predicate(message))
    except (KeyError, TypeError, AttributeError, IndexError):
        return False


# ---------------------------------------------------------------------------------------------
# Topics and documents


class Topics:
    def __init__(self, thing):
        self.thing = thing
        self.root = "edge/things/%s" % thing
        self.deployment = self.root + "/deployment"
        self.status = self.root + "/deployment/status"
        self.health = self.root + "/health"
        self.events = self.root + "/events"

    def results(self, fn):
        return "%s/functions/%s/results" % (self.root, fn)

    def invoke(self, fn):
        return "%s/functions/%s/invoke" % (self.root, fn)

    @staticmethod
    def group_deployment(group):
        return "edge/groups/%s/deployment" % group


def artifact(path, **extra):
    path = Path(path).resolve()
    entry = {"uri": "file://%s" % path, "sha256": sha256_of(path)}
    entry.update(extra)
    return entry


def example_deployment(name):
    """examples/NAME/deployment.json as shipped, with `__EXAMPLE_DIR__` replaced by the folder's
    absolute path (what scripts/deploy-example.sh does for an example with pinned digests)."""
    folder = REPO / "examples" / name
    return json.loads((folder / "deployment.json").read_text().replace("__EXAMPLE_DIR__", str(folder)))


def stale_digests(document):
    """The file:// artifacts of a deployment document whose sha256 no longer matches the file."""
    stale = []
    for function in document["functions"].values():
        for item in function.get("artifacts", []):
            if item["uri"].startswith("file://") and sha256_of(item["uri"][len("file://"):]) != item["sha256"]:
                stale.append(item["uri"])
    return stale


def native_function(echo_path, version="1", subscriptions=("sensors/+/x",), **fields):
    """The compiled echo example as a native function."""
    spec = {
        "version": version,
        "command": ["echo"],
        "artifacts": [artifact(echo_path, name="echo")],
        "subscriptions": [{"topic": t, "qos": 1} for t in subscriptions],
    }
    spec.update(fields)
    return spec


def python_function(module_path, handler, version="1", subscriptions=(), **fields):
    spec = {
        "version": version,
        "runtime": "python3",
        "handler": handler,
        "artifacts": [artifact(module_path)],
        "subscriptions": [{"topic": t, "qos": 1} for t in subscriptions],
    }
    spec.update(fields)
    return spec


def document(deployment_id, revision, functions, **policy):
    doc = {"deploymentId": deployment_id, "revision": revision, "functions": functions}
    merged = {"healthySeconds": 0}
    merged.update(policy)
    doc["policy"] = merged
    return doc


def write_module(directory, name, source):
    """Writes a Python handler module `name`.py (0644) into the folder `directory` names, placed
    where a function's user can read it (see shared_path); returns its path."""
    path = shared_path(directory) / ("%s.py" % name)
    path.write_text(source)
    path.chmod(0o644)
    return path


FINAL = ("SUCCEEDED", "FAILED", "ROLLED_BACK", "REJECTED")


class Edge:
    """What a test drives: the observer, the thing's topics and the deployment helpers."""

    def __init__(self, observer, thing):
        self.obs = observer
        self.thing = thing
        self.topics = Topics(thing)

    def publish_deployment(self, doc, topic=None, raw=None):
        """Publishes a deployment retained with QoS 1 (`raw` bytes/str instead of a document)."""
        payload = raw if raw is not None else json.dumps(doc)
        self.obs.publish(topic or self.topics.deployment, payload, qos=1, retain=True)

    def deploy(self, doc, expect="SUCCEEDED", topic=None, timeout=WAIT):
        """Publishes `doc` and waits for its final status; asserts it is `expect`; returns it."""
        since = self.obs.mark()
        self.publish_deployment(doc, topic=topic)
        status = self.final_status(doc["deploymentId"], doc["revision"], since=since, timeout=timeout)
        assert status["status"] == expect, "deployment %s r%s ended %s, expected %s: %s" % (
            doc["deploymentId"], doc["revision"], status["status"], expect, json.dumps(status, indent=1))
        return status

    def final_status(self, deployment_id, revision, since=0, timeout=WAIT):
        message = self.obs.wait_for(
            self.topics.status,
            lambda m: m.json["deploymentId"] == deployment_id and m.json["revision"] == revision
            and m.json["status"] in FINAL,
            timeout=timeout, since=since,
            what="a final deployment status for %s revision %s" % (deployment_id, revision))
        return message.json

    def health(self, predicate, timeout=WAIT, what="a health report", since=0):
        return self.obs.wait_for(self.topics.health, lambda m: predicate(m.json), timeout=timeout,
                                 since=since, what=what).json

    def function_health(self, fn, predicate=lambda f: True, timeout=WAIT, what=None, since=0):
        report = self.health(lambda h: h["status"] == "online" and predicate(h["functions"][fn]), timeout=timeout,
                             what=what or "health of function %s" % fn, since=since)
        return report["functions"][fn]

    def event(self, type_, predicate=lambda e: True, timeout=WAIT, since=0):
        return self.obs.wait_for(self.topics.events, lambda m: m.json["type"] == type_ and predicate(m.json),
                                 timeout=timeout, since=since, what="event %s" % type_).json

    def send(self, topic_template, event, fn, timeout=WAIT, qos=1):
        """Publishes `event` on a topic made unique from `topic_template` ('+' replaced by a nonce)
        and waits for the function's result for exactly that source topic."""
        topic = topic_template.replace("+", unique("e"), 1)
        assert topic != topic_template, "the template needs a '+' to make the topic unique"
        since = self.obs.mark()
        payload = event if isinstance(event, (bytes, str)) else json.dumps(event)
        self.obs.publish(topic, payload, qos=qos)
        return self.obs.wait_for(self.topics.results(fn), lambda m: m.json["sourceTopic"] == topic,
                                 timeout=timeout, since=since,
                                 what="the result of %s for an event on %s" % (fn, topic)).json


def b64(data):
    return base64.b64encode(data).decode()


def make_tls_material(directory, client_names=("client",)):
    """A CA, a server certificate for 127.0.0.1/localhost and client certificates, with openssl."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        result = subprocess.run(list(args), cwd=d, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError("openssl failed: %s\n%s" % (" ".join(args), result.stderr))

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=edge-test-ca")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    material = {"ca": str(d / "ca.crt"), "server_cert": str(d / "server.crt"), "server_key": str(d / "server.key")}
    for name in client_names:
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s.key" % name, "-out", "%s.csr" % name,
            "-subj", "/CN=%s" % name)
        run("openssl", "x509", "-req", "-in", "%s.csr" % name, "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "%s.crt" % name, "-days", "2", "-extfile", "client.ext")
        material[name] = {"cert": str(d / ("%s.crt" % name)), "key": str(d / ("%s.key" % name))}
    return material


def copy_executable(source, directory, name=None):
    """Copies `source` (0755) into the folder `directory` names, placed where a function's user can
    read it (see shared_path); returns its path."""
    target = shared_path(directory) / (name or Path(source).name)
    shutil.copy2(source, target)
    target.chmod(0o755)
    return target
