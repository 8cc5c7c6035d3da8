#!/usr/bin/env python3
"""The caps benchmark: what resource caps cost at function start, and what the agent itself
costs while it supervises capped functions. Run it through `bash scripts/bench.sh caps`, which
builds the binaries, compiles the echo function and makes the work folder; docs/benchmarks.md
says what each figure means.

1. Spawn to ready. Deployments are published and undeployed in rounds, each configuration once
   per round in a rotating order:
     off     a second agent started with `--cgroups off`: rlimits only, no cgroup at all
     cgroup  the agent with cgroups: one cgroup per instance, no limits written
     capped  the same agent, with limits (memoryMB 64, cpus 0.5, pids 32, openFiles 256)
   for three sets: the native echo function as N functions at once (each its own name), one
   echo function alone, and one Python function (the repo's runtime, a trivial handler). From
   each deployment: every `function.ready` event's `startupMs` (the agent's own figure) and the
   time from publishing the deployment to receiving its last `function.ready`.
2. Supervising: with N capped echo functions running, the agent's CPU (utime + stime from
   /proc/PID/stat over wall time) and memory (VmRSS, VmHWM, smaps_rollup Pss/Anonymous) over an
   idle window and a window under a steady load of MQTT events, the functions' memory and CPU,
   and the round trip of those events (publish to result, as this client sees it).

Every wait has a deadline and fails naming what it waited for. Everything started here is
stopped in `finally`, including the agents' cgroup subtrees. The environment variables are
listed in `SETTINGS` below and in benchmarks/README.md.
"""

import argparse
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

# The process and port helpers the end-to-end tests use, shared rather than written twice.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Tests"))
from harness import children_of, free_port, proc_stat  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CAPS = {"memoryMB": 64, "cpus": 0.5, "pids": 32, "openFiles": 256}
MODES = ("off", "cgroup", "capped")
MODE_LABELS = {
    "off": "no cgroup (agent --cgroups off)",
    "cgroup": "cgroup per instance, no limits",
    "capped": "cgroup + caps",
}
FINAL = ("SUCCEEDED", "FAILED", "ROLLED_BACK", "REJECTED")


class BenchError(Exception):
    """A failure with a message that says what went wrong; printed without a traceback."""


# ---------------------------------------------------------------------------------------------
# Settings (environment variables; BENCH_QUICK=1 changes the defaults to a short run)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

# name: (full default, quick default, meaning)
SETTINGS = {
    "BENCH_FUNCTIONS": (10, 10, "echo functions per deployment, and functions supervised"),
    "BENCH_ROUNDS": (5, 2, "rounds of spawn-to-ready (each: every configuration once)"),
    "BENCH_SINGLE_ROUNDS": (20, 5, "rounds of one echo function per deployment (0: skip it)"),
    "BENCH_PYTHON_ROUNDS": (10, 3, "rounds of one Python function per deployment (0: skip it)"),
    "BENCH_IDLE_SECONDS": (30, 5, "the idle window"),
    "BENCH_LOAD_SECONDS": (30, 5, "the window under load"),
    "BENCH_RATE": (200, 200, "events per second under load, spread over the functions"),
    "BENCH_SETTLE_SECONDS": (3, 1, "wait after the supervised functions are ready"),
    "BENCH_CGROUPS_OFF": (1, 1, "1: include the agent with --cgroups off as a baseline"),
    "BENCH_TIMEOUT": (60, 60, "deadline in seconds of each wait"),
}


def read_setting(settings, name):
    """A setting from the environment, or its full or quick default from `settings`
    (name: (full, quick, meaning)); the shadow benchmark reads its own table with it."""
    full, quick, _ = settings[name]
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return quick if QUICK else full
    try:
        value = float(raw)
    except ValueError:
        raise BenchError("%s=%r is not a number" % (name, raw))
    if value < 0:
        raise BenchError("%s=%r must not be negative" % (name, raw))
    return int(value) if value == int(value) else value


def setting(name):
    return read_setting(SETTINGS, name)


def wait_until(condition, timeout, what, interval=0.05):
    """Polls `condition()` until it returns something truthy, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def percentile(values, q):
    """Linear interpolation between the closest ranks (numpy's default); q in 0..100."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "median": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values), "mean": sum(values) / len(values)}


def tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no file %s)" % path


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (index 0 is the state, field 3)."""
    fields = proc_stat(pid)
    if fields is None:
        raise OSError("process %d is gone" % pid)
    return fields


def cpu_seconds(pid):
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime, all threads


def kv_kb(path, names):
    """Values in kB of the `Name:   123 kB` lines of a /proc file."""
    found = {}
    for line in Path(path).read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            found[key] = int(rest.split()[0])
    return found


def memory_of(pid):
    status = kv_kb("/proc/%d/status" % pid, ("VmRSS", "VmHWM", "Threads"))
    rollup = kv_kb("/proc/%d/smaps_rollup" % pid, ("Rss", "Pss", "Anonymous"))
    return {"vmRssKB": status.get("VmRSS"), "vmHwmKB": status.get("VmHWM"), "threads": status.get("Threads"),
            "rssKB": rollup.get("Rss"), "pssKB": rollup.get("Pss"), "anonymousKB": rollup.get("Anonymous"),
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def rss_kb(pid):
    try:
        return int(stat_fields(pid)[21]) * PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


def cgroup_mounts(with_options=False):
    """Mount points of every cgroup (v1) and cgroup2 filesystem, from /proc/self/mountinfo;
    with_options: (mount point, filesystem type, super options) instead."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        kind = right.split()
        if kind and kind[0] in ("cgroup", "cgroup2"):
            point = left.split()[4]
            mounts.append((point, kind[0], kind[2].split(",") if len(kind) > 2 else []) if with_options else point)
    return mounts


def remove_cgroup_tree(path):
    """Kills what is left in a cgroup directory tree and removes it, deepest first. Returns what
    could not be removed."""
    if not os.path.isdir(path):
        return []
    left = []
    for root, dirs, _ in os.walk(path, topdown=False):
        try:
            for pid in Path(root, "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(root)
                break
            except FileNotFoundError:
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    left.append("%s (%s)" % (root, error.strerror))
                    break
                time.sleep(0.05)
    return left


# ---------------------------------------------------------------------------------------------
# Processes: the broker and the agents


class Broker:
    def __init__(self, workdir):
        self.dir = Path(workdir) / "broker"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / "mosquitto.log"
        self.proc = None

    def start(self, pids_file, timeout):
        conf = self.dir / "mosquitto.conf"
        conf.write_text("# the caps benchmark's loopback broker\nlistener %d 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\nset_tcp_nodelay true\nmax_queued_messages 100000\nuser root\n"
                        % self.port)
        with open(self.log, "ab") as log:
            # A session of its own: a Ctrl-C reaches only the benchmark, which then stops it.
            self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        with open(pids_file, "a") as f:
            f.write("%d\n" % self.proc.pid)

        def accepting():
            if self.proc.poll() is not None:
                raise BenchError("mosquitto exited with code %s at start; its log:\n%s"
                                 % (self.proc.returncode, tail(self.log)))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return True
            except OSError:
                return False
        wait_until(accepting, timeout, "mosquitto to accept connections on 127.0.0.1:%d" % self.port)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Agent:
    def __init__(self, binary, name, thing, port, workdir, runtime_dir, python, cgroups, cgroup_root, health_interval=1):
        self.name = name
        self.thing = thing
        self.state = Path(workdir) / ("state-" + name)
        self.log = Path(workdir) / ("agent-" + name + ".log")
        self.cgroup_root = cgroup_root if cgroups != "off" else None
        self.args = [binary, "--thing-name", thing, "--broker-host", "127.0.0.1", "--broker-port", str(port),
                     "--state-dir", str(self.state), "--runtime-dir", str(runtime_dir), "--log-level", "info",
                     "--cgroups", cgroups]
        if health_interval is not None:  # None: the agent's default
            self.args += ["--health-interval", str(health_interval)]
        if self.cgroup_root:
            self.args += ["--cgroup-root", self.cgroup_root]
        if python:
            self.args += ["--python", python]
        self.proc = None
        self.revision = 0

    def start(self, pids_file):
        with open(self.log, "ab") as log:
            log.write(("=== %s\n" % " ".join(shlex.quote(a) for a in self.args)).encode())
            log.flush()
            # A session of its own: a Ctrl-C reaches only the benchmark, which stops the agent
            # with SIGTERM in order; if the benchmark is killed, scripts/bench.sh kills it.
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        with open(pids_file, "a") as f:
            f.write("%d\n" % self.proc.pid)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise BenchError("the agent %s exited with code %s; its log:\n%s"
                             % (self.name, self.proc.returncode, tail(self.log)))

    def subtree_dirs(self):
        """The agent's cgroup subtree in every hierarchy (empty with --cgroups off)."""
        if not self.cgroup_root:
            return []
        return [mount + self.cgroup_root for mount in cgroup_mounts() if os.path.isdir(mount + self.cgroup_root)]

    def subtree_cpu_seconds(self):
        """CPU time of everything in the agent's cgroup subtree (its functions), in nanosecond
        precision; None without one. /proc ticks (10 ms) are too coarse for 10 small functions."""
        if not self.cgroup_root:
            return None
        for point, kind, options in cgroup_mounts(with_options=True):
            directory = point + self.cgroup_root
            try:
                if kind == "cgroup" and "cpuacct" in options:
                    return int(Path(directory, "cpuacct.usage").read_text()) / 1e9
                if kind == "cgroup2" and os.path.exists(os.path.join(directory, "cpu.stat")):
                    for line in Path(directory, "cpu.stat").read_text().splitlines():
                        if line.startswith("usage_usec "):
                            return int(line.split()[1]) / 1e6
            except (OSError, ValueError):
                continue
        return None

    def instance_cgroups(self):
        found = []
        for directory in self.subtree_dirs():
            found += [os.path.join(directory, d) for d in os.listdir(directory)
                      if os.path.isdir(os.path.join(directory, d))]
        return found

    def stop(self, timeout):
        """SIGTERM and wait; the agent stops its functions and removes its subtree itself.
        Returns its exit code, or None when it was not running (any more)."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        functions = children_of(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise BenchError("the agent %s did not exit within %.0f s of SIGTERM (killed)" % (self.name, timeout))
        finally:
            for pid in functions:  # they die with the agent (parent-death signal); make sure
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

    def cleanup(self):
        """After stop (or instead of it, on failure): no process, no cgroup left."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in children_of(self.proc.pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.kill()
            self.proc.wait(10)
        left = []
        if self.cgroup_root:
            for mount in cgroup_mounts():
                left += remove_cgroup_tree(mount + self.cgroup_root)
        return left


# ---------------------------------------------------------------------------------------------
# MQTT: one client that records the agents' topics and the functions' results


class Message:
    __slots__ = ("topic", "json", "received")

    def __init__(self, topic, payload, received):
        self.topic = topic
        self.received = received
        try:
            self.json = json.loads(payload) if payload else None
        except ValueError:
            self.json = None


class Bus:
    def __init__(self, port):
        self.port = port
        self.messages = []
        self.cond = threading.Condition()
        self.results = {}  # sourceTopic -> (received, durationMs, status) for the load phase
        self.results_cond = threading.Condition()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="caps-bench-" + uuid.uuid4().hex[:8],
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(10000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        # paho leaves Nagle's algorithm on: small publishes would wait for the broker's delayed
        # ACK (up to 40 ms) and the round trips would measure that, not the agent.
        sock = client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if reason_code == 0:
            client.subscribe([("edge/things/#", 1)])
            self.connected.set()

    def _on_message(self, client, userdata, raw):
        now = time.monotonic()
        if raw.topic.endswith("/results"):
            try:
                result = json.loads(raw.payload)
                entry = (now, result.get("durationMs"), result.get("status"))
                with self.results_cond:
                    self.results[result["sourceTopic"]] = entry
                    self.results_cond.notify_all()
            except (ValueError, KeyError, TypeError):
                pass
            return
        message = Message(raw.topic, bytes(raw.payload), now)
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def start(self, timeout):
        self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=True)
        self.client.loop_start()
        if not self.connected.wait(timeout) or not self.subscribed.wait(timeout):
            raise BenchError("the benchmark's MQTT client could not connect and subscribe to 127.0.0.1:%d within "
                             "%.0f s" % (self.port, timeout))

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def find(self, topic, predicate, since):
        with self.cond:
            candidates = self.messages[since:]
        return [m for m in candidates if m.topic == topic and m.json is not None and _holds(predicate, m.json)]

    def wait_for(self, topic, predicate, since, timeout, what, count=1, check=None):
        """The first `count` messages on `topic` after `since` for which `predicate(json)` holds;
        `check()`, called at least twice a second, may raise to give up early."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if check is not None:
                    check()
                found = [m for m in self.messages[since:]
                         if m.topic == topic and m.json is not None and _holds(predicate, m.json)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("timed out after %.0f s waiting for %s (got %d of %d)"
                                     % (timeout, what, len(found), count))
                self.cond.wait(min(left, 0.5))

    def publish(self, topic, payload, qos=1, retain=False, timeout=10.0):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if retain or qos == 0:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise BenchError("the broker did not acknowledge a publish to %s within %.0f s" % (topic, timeout))
        return info


def _holds(predicate, document):
    try:
        return bool(predicate(document))
    except (KeyError, TypeError, AttributeError, IndexError):
        return False


# ---------------------------------------------------------------------------------------------
# Deployments


def echo_function(echo, sha256, limits=None, subscriptions=(), qos=1, output=None, **fields):
    """The native echo as a function: its subscriptions at `qos`, its results to `output` (a
    topic, at the same QoS) or the default results topic; `fields` add to the spec."""
    spec = {"version": "1.0.0", "command": ["echo"],
            "artifacts": [{"uri": "file://%s" % echo, "sha256": sha256, "name": "echo"}],
            "subscriptions": [{"topic": t, "qos": qos} for t in subscriptions]}
    if limits:
        spec["limits"] = dict(limits)
    if output:
        spec["output"] = {"topic": output, "qos": qos}
    spec.update(fields)
    return spec


def python_function(module, sha256, limits=None):
    spec = {"version": "1.0.0", "runtime": "python3", "handler": "bench_handler.handler",
            "artifacts": [{"uri": "file://%s" % module, "sha256": sha256}]}
    if limits:
        spec["limits"] = dict(limits)
    return spec


class Thing:
    """What the benchmark does with one agent: deploy, undeploy, read its events and health."""

    def __init__(self, bus, agent, timeout):
        self.bus = bus
        self.agent = agent
        self.timeout = timeout
        root = "edge/things/%s" % agent.thing
        self.deployment_topic = root + "/deployment"
        self.status_topic = root + "/deployment/status"
        self.events_topic = root + "/events"
        self.health_topic = root + "/health"

    def deploy(self, deployment_id, functions, expect_ready):
        """Publishes a deployment and waits for its `SUCCEEDED` and for `expect_ready` ready events.
        Returns (the ready events, seconds from publish to the last ready event seen)."""
        self.agent.check_alive()
        self.agent.revision += 1
        revision = self.agent.revision
        doc = {"deploymentId": deployment_id, "revision": revision, "functions": functions,
               "policy": {"healthySeconds": 0, "onFailure": "none"}}
        since = self.bus.mark()
        sent = time.monotonic()
        self.bus.publish(self.deployment_topic, json.dumps(doc), qos=1, retain=True)
        try:
            status = self.bus.wait_for(
                self.status_topic,
                lambda s: s["deploymentId"] == deployment_id and s["revision"] == revision and s["status"] in FINAL,
                since, self.timeout, "the final status of deployment %s revision %d on %s"
                % (deployment_id, revision, self.agent.name), check=self.agent.check_alive)[0].json
            if status["status"] != "SUCCEEDED":
                raise BenchError("deployment %s revision %d on %s ended %s: %s"
                                 % (deployment_id, revision, self.agent.name, status["status"], json.dumps(status)))
            ready = self.bus.wait_for(self.events_topic, lambda e: e["type"] == "function.ready", since,
                                      self.timeout, "%d function.ready events of %s on %s"
                                      % (expect_ready, deployment_id, self.agent.name), count=expect_ready,
                                      check=self.agent.check_alive)
        except BenchError as error:
            raise BenchError("%s\n--- the agent's log (%s), last lines:\n%s" % (error, self.agent.log, tail(self.agent.log)))
        failures = self.bus.find(self.events_topic, lambda e: e["type"] in ("function.crashed", "function.broken"), since)
        if failures:
            raise BenchError("functions failed during deployment %s on %s: %s"
                             % (deployment_id, self.agent.name, [m.json for m in failures[:3]]))
        return [m.json for m in ready], (max(m.received for m in ready) - sent) if ready else None

    def undeploy(self, deployment_id):
        """Deploys no function at all, then waits until no function process and no instance
        cgroup is left, so that rounds do not overlap."""
        self.deploy(deployment_id, {}, 0)
        wait_until(lambda: not children_of(self.agent.pid), self.timeout,
                   "the function processes of %s to exit after %s" % (self.agent.name, deployment_id))
        wait_until(lambda: not self.agent.instance_cgroups(), self.timeout,
                   "the instance cgroups of %s to be removed after %s" % (self.agent.name, deployment_id))

    def health(self, predicate, what, since=None):
        return self.bus.wait_for(self.health_topic, lambda h: h.get("status") == "online" and predicate(h),
                                 self.bus.mark() if since is None else since, self.timeout, what,
                                 check=self.agent.check_alive)[0].json


# ---------------------------------------------------------------------------------------------
# The measurements


def spawn_to_ready(things, modes, rounds, make_functions, label, per_deployment, log):
    """Rounds of deploy / collect startupMs / undeploy for each mode, in a rotating order."""
    samples = {mode: [] for mode in modes}
    walls = {mode: [] for mode in modes}
    for r in range(rounds):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            thing = things[mode]
            events, wall = thing.deploy("bench-%s-%s-r%d" % (label, mode, r + 1),
                                        make_functions(mode), per_deployment)
            samples[mode] += [float(e["startupMs"]) for e in events]
            walls[mode].append(wall * 1000.0)
            thing.undeploy("bench-%s-%s-r%d-stop" % (label, mode, r + 1))
        if rounds <= 5 or (r + 1) % 5 == 0 or r + 1 == rounds:
            log("  %s round %d/%d: %s" % (label, r + 1, rounds, ", ".join(
                "%s startupMs median %.2f" % (mode, percentile(samples[mode], 50)) for mode in modes)))
    return samples, walls


class Window:
    """CPU and memory of the agent (and the broker, and the functions) over one window."""

    def __init__(self, agent, broker_pid, function_pids):
        self.agent_pid = agent.pid
        self.broker_pid = broker_pid
        self.function_pids = function_pids
        self.samples = []
        # The functions' CPU: from their cgroups when the agent has them, else from /proc.
        if agent.subtree_cpu_seconds() is not None:
            self.functions_cpu = agent.subtree_cpu_seconds
            self.functions_cpu_source = "cgroup subtree"
        else:
            self.functions_cpu = lambda: sum(cpu_seconds(p) for p in function_pids)
            self.functions_cpu_source = "/proc/PID/stat"

    def begin(self):
        self.wall0 = time.monotonic()
        self.agent_cpu0 = cpu_seconds(self.agent_pid)
        self.broker_cpu0 = cpu_seconds(self.broker_pid)
        self.bench_cpu0 = time.process_time()
        self.functions_cpu0 = self.functions_cpu()
        self.sample()

    def sample(self):
        entry = memory_of(self.agent_pid)
        entry["t"] = round(time.monotonic() - self.wall0, 3)
        entry["functionsRssKB"] = sum(rss_kb(p) for p in self.function_pids)
        self.samples.append(entry)

    def end(self):
        self.sample()
        wall = time.monotonic() - self.wall0
        self.wall = wall

        def pct(cpu):
            return 100.0 * cpu / wall
        self.agent_cpu_pct = pct(cpu_seconds(self.agent_pid) - self.agent_cpu0)
        self.broker_cpu_pct = pct(cpu_seconds(self.broker_pid) - self.broker_cpu0)
        self.bench_cpu_pct = pct(time.process_time() - self.bench_cpu0)
        self.functions_cpu_pct = pct(self.functions_cpu() - self.functions_cpu0)

    def report(self):
        def series(key):
            return [s[key] for s in self.samples if s.get(key) is not None]
        out = {"seconds": round(self.wall, 2), "agentCpuPercent": round(self.agent_cpu_pct, 2),
               "brokerCpuPercent": round(self.broker_cpu_pct, 2),
               "benchmarkClientCpuPercent": round(self.bench_cpu_pct, 2),
               "functionsCpuPercent": round(self.functions_cpu_pct, 2),
               "functionsCpuSource": self.functions_cpu_source, "samples": self.samples}
        for key in ("vmRssKB", "rssKB", "pssKB", "anonymousKB", "functionsRssKB"):
            values = series(key)
            out[key] = {"start": values[0], "end": values[-1], "min": min(values), "max": max(values),
                        "median": percentile(values, 50)}
        out["vmHwmKB"] = self.samples[-1]["vmHwmKB"]
        out["threads"] = self.samples[-1]["threads"]
        out["fds"] = self.samples[-1]["fds"]
        return out


def run_window(seconds, window, during=None):
    """Samples memory every second for `seconds`; `during(deadline)` runs the load, if any."""
    window.begin()
    deadline = time.monotonic() + seconds
    if during is not None:
        stop = threading.Event()

        def sampler():
            while not stop.wait(1.0):
                window.sample()
        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            extra = during(deadline)
        finally:
            stop.set()
            thread.join(5)
        window.end()
        return extra
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(1.0, left))  # the idle window: nothing to wait on but the clock
        window.sample()
    window.end()
    return None


def generate_load(bus, functions, rate):
    """`during` for the load window: publishes events at `rate` per second, round robin over the
    functions, each on a topic of its own (bench/<fn>/<n>); returns the send times."""
    sent = {}

    def during(deadline):
        interval = 1.0 / rate
        start = time.monotonic()
        n = 0
        while True:
            due = start + n * interval
            now = time.monotonic()
            if due >= deadline:
                break
            if due > now:
                time.sleep(due - now)  # pacing to the target rate
            fn = functions[n % len(functions)]
            topic = "bench/%s/%d" % (fn, n)
            sent[topic] = time.monotonic()
            bus.client.publish(topic, '{"n": %d, "pad": "0123456789abcdef0123456789abcdef"}' % n, qos=1)
            n += 1
        return sent
    return during


def await_results(bus, sent, timeout):
    deadline = time.monotonic() + timeout
    with bus.results_cond:
        while True:
            left_over = [t for t in sent if t not in bus.results]
            if not left_over:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("timed out after %.0f s waiting for the results of %d of %d events (first: %s)"
                                 % (timeout, len(left_over), len(sent), left_over[:3]))
            bus.results_cond.wait(min(left, 0.5))
        results = {t: bus.results[t] for t in sent}
    round_trips = [(results[t][0] - sent[t]) * 1000.0 for t in sent]
    durations = [float(r[1]) for r in results.values() if r[1] is not None]
    errors = [t for t, r in results.items() if r[2] != "ok"]
    return round_trips, durations, errors


# ---------------------------------------------------------------------------------------------
# Output


def fmt_ms(value):
    return "—" if value is None else ("%.2f" % value)


def fmt_mb(kb):
    return "—" if kb is None else ("%.1f MB" % (kb / 1024.0))


def cpu_times():
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq, steal…)."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def machine():
    meminfo = kv_kb("/proc/meminfo", ("MemTotal",))
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)), "cpuModel": model, "memTotalMB": meminfo.get("MemTotal", 0) // 1024,
            "kernel": platform.release(), "os": _os_name(), "loadAverage": list(os.getloadavg())}


def _os_name():
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def startup_table(title, result, modes, note):
    """One table: per configuration, startupMs over all instances, and deploy → last ready over
    the rounds; then the differences between configurations."""
    lines = ["", title, ""]
    lines.append("| configuration (ms) | startupMs: n | min | median | p90 | max "
                 "| deploy → last ready: n | median | p90 | max |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        s, w = result[mode]["startupMs"], result[mode]["deployToLastReadyMs"]
        lines.append("| %s | %d | %s | %s | %s | %s | %d | %s | %s | %s |" % (
            MODE_LABELS[mode], s["n"], fmt_ms(s.get("min")), fmt_ms(s.get("median")), fmt_ms(s.get("p90")),
            fmt_ms(s.get("max")), w["n"], fmt_ms(w.get("median")), fmt_ms(w.get("p90")), fmt_ms(w.get("max"))))
    lines.append("")
    if note:
        lines += [note, ""]
    for a, b in (("capped", "cgroup"), ("capped", "off"), ("cgroup", "off")):
        if a in modes and b in modes:
            sa, sb = result[a]["startupMs"], result[b]["startupMs"]
            wa, wb = result[a]["deployToLastReadyMs"], result[b]["deployToLastReadyMs"]
            lines.append("- %s − %s: startupMs median %+.2f ms, p90 %+.2f ms, max %+.2f ms; "
                         "deploy → last ready median %+.2f ms" % (
                             a, b, sa["median"] - sb["median"], sa["p90"] - sb["p90"], sa["max"] - sb["max"],
                             wa["median"] - wb["median"]))
    return lines


def supervision_table(idle, load, functions, rate, load_stats):
    rows = [
        ("agent CPU, % of one core", "%.2f %%" % idle["agentCpuPercent"], "%.2f %%" % load["agentCpuPercent"]),
        ("agent VmRSS, start → end (max)",
         "%s → %s (%s)" % (fmt_mb(idle["vmRssKB"]["start"]), fmt_mb(idle["vmRssKB"]["end"]), fmt_mb(idle["vmRssKB"]["max"])),
         "%s → %s (%s)" % (fmt_mb(load["vmRssKB"]["start"]), fmt_mb(load["vmRssKB"]["end"]), fmt_mb(load["vmRssKB"]["max"]))),
        ("agent Anonymous (smaps_rollup: heap, stacks), start → end",
         "%s → %s" % (fmt_mb(idle["anonymousKB"]["start"]), fmt_mb(idle["anonymousKB"]["end"])),
         "%s → %s" % (fmt_mb(load["anonymousKB"]["start"]), fmt_mb(load["anonymousKB"]["end"]))),
        ("agent Pss (smaps_rollup), min – max",
         "%s – %s" % (fmt_mb(idle["pssKB"]["min"]), fmt_mb(idle["pssKB"]["max"])),
         "%s – %s" % (fmt_mb(load["pssKB"]["min"]), fmt_mb(load["pssKB"]["max"]))),
        ("agent VmHWM (peak RSS since start)", fmt_mb(idle["vmHwmKB"]), fmt_mb(load["vmHwmKB"])),
        ("agent threads / open fds", "%s / %s" % (idle["threads"], idle["fds"]), "%s / %s" % (load["threads"], load["fds"])),
        ("%d functions: total RSS, median" % functions, fmt_mb(idle["functionsRssKB"]["median"]),
         fmt_mb(load["functionsRssKB"]["median"])),
        ("%d functions: cgroup memory (health usage.memoryBytes), sum" % functions,
         fmt_mb(idle.get("cgroupMemoryKB")), fmt_mb(load.get("cgroupMemoryKB"))),
        ("%d functions: CPU, %% of one core (%s)" % (functions, idle["functionsCpuSource"]), "%.2f %%" % idle["functionsCpuPercent"],
         "%.2f %%" % load["functionsCpuPercent"]),
        ("mosquitto CPU, % of one core", "%.2f %%" % idle["brokerCpuPercent"], "%.2f %%" % load["brokerCpuPercent"]),
        ("benchmark client CPU, % of one core", "%.2f %%" % idle["benchmarkClientCpuPercent"],
         "%.2f %%" % load["benchmarkClientCpuPercent"]),
    ]
    rt, dur = load_stats["roundTripMs"], load_stats["agentDurationMs"]
    rows += [
        ("events (achieved rate)", "0", "%d (%.0f/s, target %s/s)" % (load_stats["events"], load_stats["achievedRate"], rate)),
        ("round trip publish → result, p50 / p90 / p99 / max",
         "—", "%s / %s / %s / %s ms" % (fmt_ms(rt["median"]), fmt_ms(rt["p90"]), fmt_ms(rt["p99"]), fmt_ms(rt["max"]))),
        ("agent-measured durationMs, p50 / p99", "—", "%s / %s ms" % (fmt_ms(dur["median"]), fmt_ms(dur["p99"]))),
        ("error results", "—", str(load_stats["errors"])),
    ]
    lines = ["| | idle %.0f s | load %.0f s |" % (idle["seconds"], load["seconds"]), "|---|---:|---:|"]
    lines += ["| %s | %s | %s |" % row for row in rows]
    return lines


# ---------------------------------------------------------------------------------------------
# Main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", required=True, help="the edge-agent binary")
    parser.add_argument("--edgectl", help="the edgectl binary (to validate the documents)")
    parser.add_argument("--echo", required=True, help="the compiled echo function")
    parser.add_argument("--runtime-dir", required=True, help="the folder holding python/edge_runtime.py")
    parser.add_argument("--python", help="the interpreter of Python functions; absent: skip them")
    parser.add_argument("--python-note", default="", help="why Python is skipped, when it is")
    parser.add_argument("--workdir", required=True, help="a folder every user can traverse (mode 0755)")
    parser.add_argument("--cgroup-root", required=True, help="the agent's cgroup subtree, e.g. /edge-bench-123")
    parser.add_argument("--out", required=True, help="where to write the figures (JSON)")
    parser.add_argument("--revision", default="unknown", help="the git revision the agent was built from")
    parser.add_argument("--command", default="bash scripts/bench.sh caps", help="how this run was started")
    args = parser.parse_args()

    if os.geteuid() != 0:
        raise BenchError("the caps benchmark runs the agent as root (cgroups, the function user edgefn): "
                         "run it as root, e.g. sudo bash scripts/bench.sh caps")
    functions = int(setting("BENCH_FUNCTIONS"))
    rounds = int(setting("BENCH_ROUNDS"))
    single_rounds = int(setting("BENCH_SINGLE_ROUNDS"))
    python_rounds = int(setting("BENCH_PYTHON_ROUNDS")) if args.python else 0
    idle_seconds = float(setting("BENCH_IDLE_SECONDS"))
    load_seconds = float(setting("BENCH_LOAD_SECONDS"))
    rate = float(setting("BENCH_RATE"))
    settle = float(setting("BENCH_SETTLE_SECONDS"))
    with_off = bool(setting("BENCH_CGROUPS_OFF"))
    timeout = float(setting("BENCH_TIMEOUT"))
    if functions < 1 or rounds < 1 or rate <= 0 or idle_seconds <= 0 or load_seconds <= 0:
        raise BenchError("BENCH_FUNCTIONS, BENCH_ROUNDS, BENCH_RATE and the windows must be positive")
    modes = MODES if with_off else MODES[1:]
    names = ["echo%02d" % (i + 1) for i in range(functions)]

    workdir = Path(args.workdir)
    pids_file = workdir / "pids"
    echo = Path(args.echo).resolve()
    echo_sha = _sha256(echo)
    module = workdir / "bench_handler.py"
    module.write_text("# the caps benchmark's Python function: as little as a handler can do\n"
                      "def handler(event, context):\n    return {\"echo\": event}\n")
    module.chmod(0o644)
    module_sha = _sha256(module)
    load_at_start = list(os.getloadavg())
    cpu_at_start = cpu_times()
    started = time.monotonic()
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def log(text):
        print("[%5.1fs] %s" % (time.monotonic() - started, text), flush=True)

    def echo_set(mode, subscriptions=False):
        limits = CAPS if mode == "capped" else None
        return {name: echo_function(echo, echo_sha, limits, ["bench/%s/+" % name] if subscriptions else ())
                for name in names}

    if args.edgectl:
        for mode in modes:
            doc = workdir / ("validate-%s.json" % mode)
            doc.write_text(json.dumps({"deploymentId": "validate", "revision": 1, "functions": echo_set(mode, True)}))
            checked = subprocess.run([args.edgectl, "validate", str(doc)], capture_output=True, text=True, timeout=timeout)
            if checked.returncode != 0:
                raise BenchError("edgectl validate refused the benchmark's %s deployment:\n%s%s"
                                 % (mode, checked.stdout, checked.stderr))

    broker = Broker(workdir)
    bus = None
    agents = {}
    problems = []
    startup = {}
    try:
        broker.start(pids_file, timeout)
        bus = Bus(broker.port)
        bus.start(timeout)
        run_id = uuid.uuid4().hex[:6]
        agents["cgroup"] = Agent(args.agent, "cgroups", "bench-%s-cg" % run_id, broker.port, workdir, args.runtime_dir,
                                 args.python, "auto", args.cgroup_root)
        if with_off:
            agents["off"] = Agent(args.agent, "off", "bench-%s-off" % run_id, broker.port, workdir, args.runtime_dir,
                                  args.python, "off", None)
        for agent in agents.values():
            agent.start(pids_file)
        things = {mode: Thing(bus, agents["off" if mode == "off" else "cgroup"], timeout) for mode in modes}
        health = {}
        for name, agent in agents.items():
            health[name] = things["off" if name == "off" else "cgroup"].health(
                lambda h: h.get("connection", {}).get("connected"), "the first health report of the agent %s" % agent.name)
        cgroups = health["cgroup"].get("cgroups")
        if not isinstance(cgroups, dict) or not cgroups.get("version"):
            raise BenchError("the agent with cgroups reports none in use (health cgroups: %s); its log:\n%s"
                             % (json.dumps(cgroups), tail(agents["cgroup"].log)))
        log("agents up: cgroups %s; %d functions per deployment, %d rounds"
            % (json.dumps(cgroups), functions, rounds))

        # 1. Spawn to ready
        def one_echo(mode):
            return {"echo": echo_function(echo, echo_sha, CAPS if mode == "capped" else None)}

        def one_python(mode):
            return {"py": python_function(module, module_sha, CAPS if mode == "capped" else None)}
        sets = [("echo%d" % functions, "echo-native, %d functions deployed at once" % functions, rounds, functions, echo_set)]
        if functions > 1:  # with BENCH_FUNCTIONS=1 the first set is this one already
            sets.append(("echo1", "echo-native, one function per deployment", single_rounds, 1, one_echo))
        if python_rounds:
            sets.append(("python1", "one Python function (runtime/python, trivial handler) per deployment",
                         python_rounds, 1, one_python))
        for key, title, set_rounds, per_deployment, make in sets:
            if not set_rounds:
                continue
            log("spawn to ready: %s, %d rounds" % (title, set_rounds))
            samples, walls = spawn_to_ready(things, list(modes), set_rounds, make, key, per_deployment, log)
            startup[key] = {"title": title, "rounds": set_rounds, "functionsPerDeployment": per_deployment,
                            "configurations": {mode: {"startupMs": summary(samples[mode]),
                                                      "deployToLastReadyMs": summary(walls[mode]),
                                                      "startupSamplesMs": [round(v, 3) for v in samples[mode]],
                                                      "deployToLastReadySamplesMs": [round(v, 3) for v in walls[mode]]}
                                               for mode in modes}}

        # 2. Supervising N capped functions
        if "off" in agents:
            code = agents["off"].stop(timeout)
            if code:
                problems.append("the agent off exited with code %d after SIGTERM" % code)
        agent = agents["cgroup"]
        thing = things["capped"]
        log("supervising %d capped echo functions: deploying" % functions)
        thing.deploy("bench-supervise", echo_set("capped", subscriptions=True), functions)
        function_pids = children_of(agent.pid)
        if len(function_pids) != functions:
            raise BenchError("expected %d function processes under the agent, found %d: %s"
                             % (functions, len(function_pids), function_pids))
        time.sleep(settle)  # let the deployment's own work (staging clean-up, health) finish first

        def cgroup_memory_kb():
            report = thing.health(lambda h: len(h["functions"]) == functions and all(
                f.get("usage", {}).get("memoryBytes") is not None for f in h["functions"].values()),
                "a health report with the usage of all %d functions" % functions)
            return sum(f["usage"]["memoryBytes"] for f in report["functions"].values()) // 1024

        log("idle window: %.0f s" % idle_seconds)
        idle_window = Window(agent, broker.pid, function_pids)
        run_window(idle_seconds, idle_window)
        idle = idle_window.report()
        idle["cgroupMemoryKB"] = cgroup_memory_kb()
        agent.check_alive()

        log("load window: %.0f s at %.0f events/s over %d functions" % (load_seconds, rate, functions))
        load_window = Window(agent, broker.pid, function_pids)
        sent = run_window(load_seconds, load_window, generate_load(bus, names, rate))
        round_trips, durations, errors = await_results(bus, sent, timeout)
        load = load_window.report()
        load["cgroupMemoryKB"] = cgroup_memory_kb()
        agent.check_alive()
        restarted = set(children_of(agent.pid)) != set(function_pids)
        load_stats = {"events": len(sent), "achievedRate": len(sent) / load["seconds"],
                      "roundTripMs": summary(round_trips), "agentDurationMs": summary(durations),
                      "errors": len(errors), "functionsReplaced": restarted}
        final_health = thing.health(lambda h: len(h["functions"]) == functions, "the health after the load")
        log("done measuring; stopping")
    except BenchError:
        for agent in agents.values():
            if agent.proc is not None:
                print("--- %s (%s), last lines:\n%s" % (agent.name, agent.log, tail(agent.log, 15)), file=sys.stderr)
        raise
    finally:
        for agent in agents.values():
            try:
                code = agent.stop(timeout)
                if code:
                    problems.append("the agent %s exited with code %d after SIGTERM" % (agent.name, code))
                elif code == 0:
                    # A clean stop removes the subtree the agent made: say so if it did not.
                    problems += ["the agent %s left its cgroup %s behind after a clean stop" % (agent.name, left)
                                 for left in agent.subtree_dirs()]
            except BenchError as error:
                problems.append(str(error))
            problems += ["cgroup that could not be removed: %s" % left for left in agent.cleanup()]
        if bus is not None:
            bus.close()
        broker.stop()
    for problem in problems:
        print("warning: %s" % problem, file=sys.stderr)

    # 3. Report
    info = machine()
    info["cgroups"] = cgroups
    info["loadAverageAtStart"] = load_at_start
    spent = [b - a for a, b in zip(cpu_at_start, cpu_times())]
    # Time the hypervisor gave to others while this VM wanted to run: figures are slower then.
    info["cpuStealPercent"] = round(100.0 * spent[7] / max(1, sum(spent[:8])), 2) if len(spent) > 7 else None
    info["cpuBusyPercent"] = round(100.0 * (sum(spent[:8]) - spent[3] - spent[4]) / max(1, sum(spent[:8])), 1)
    users = sorted({f.get("user") for f in final_health["functions"].values() if f.get("user")})
    figures = {
        "benchmark": "caps",
        "date": started_wall,
        "command": args.command,
        "agentRevision": args.revision,
        "machine": info,
        "settings": {"functions": functions, "rounds": rounds, "singleRounds": single_rounds,
                     "pythonRounds": python_rounds, "idleSeconds": idle_seconds, "loadSeconds": load_seconds,
                     "rate": rate, "caps": CAPS, "healthIntervalSeconds": 1, "quick": QUICK,
                     "python": args.python or None, "pythonNote": args.python_note or None,
                     "functionUser": users},
        "spawnToReady": startup,
        "supervision": {"functions": functions, "idle": idle, "load": load, "loadStats": load_stats,
                        "healthAfterLoad": {name: {k: f.get(k) for k in ("restarts", "invocations", "errors",
                                                                         "latencyMs", "usage", "user")}
                                            for name, f in final_health["functions"].items()}},
        "durationSeconds": round(time.monotonic() - started, 1),
        "problems": problems,
    }

    lines = ["", "# edge-agent caps benchmark", ""]
    lines.append("- machine: %d CPUs (%s), %d MB RAM, Linux %s, %s" % (
        info["nproc"], info["cpuModel"] or "?", info["memTotalMB"], info["kernel"], info["os"]))
    lines.append("- load average (1, 5, 15 min) at start %s, at end %s; all CPUs %.1f %% busy, %s %% steal%s" % (
        " ".join("%.2f" % v for v in load_at_start), " ".join("%.2f" % v for v in info["loadAverage"]),
        info["cpuBusyPercent"], info["cpuStealPercent"],
        ": the machine was busy with other work, the figures are noisier"
        if max(load_at_start[0], info["loadAverage"][0]) > 0.5 * info["nproc"] else ""))
    lines.append("- cgroups in use (health): %s, controllers %s" % (
        cgroups.get("version"), ", ".join(cgroups.get("controllers") or [])))
    lines.append("- agent: %s, release build; functions run as %s" % (args.revision, ", ".join(users) or "?"))
    lines.append("- run: %s UTC, %.0f s; caps: memoryMB %d, cpus %s, pids %d, openFiles %d" % (
        started_wall, figures["durationSeconds"], CAPS["memoryMB"], CAPS["cpus"], CAPS["pids"], CAPS["openFiles"]))
    lines += ["", "## Spawn to ready", "",
              "startupMs: the agent's figure in each `function.ready` event, from the return of its spawn "
              "(fork, cgroup join and exec done) to the function's `ready` line.",
              "deploy → last ready: one per deployment, seen by the benchmark over MQTT, from publishing "
              "the deployment to receiving its last `function.ready` (validation, staging, cgroup set-up, "
              "spawns, MQTT)."]
    for key, entry in startup.items():
        note = "Interpreter: %s." % args.python if key == "python1" else ""
        lines += startup_table("### %s, %d rounds" % (entry["title"], entry["rounds"]),
                               {mode: entry["configurations"][mode] for mode in modes}, modes, note)
    if not python_rounds:
        lines += ["", "Python function: skipped (%s)" % (args.python_note or "BENCH_PYTHON_ROUNDS=0")]
    lines += ["", "## Supervising %d capped echo functions (health every 1 s)" % functions, ""]
    lines += supervision_table(idle, load, functions, rate, load_stats)
    if load_stats["functionsReplaced"]:
        lines += ["", "note: the set of function processes changed during the windows (a restart?)"]
    for problem in problems:
        lines += ["", "warning: %s" % problem]
    lines += ["", "reproduce (as root, from the repository): `%s`" % args.command]
    text = "\n".join(lines)
    print(text)
    print("\nfigures written to %s" % args.out)
    figures["table"] = text
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def _sha256(path):
    import hashlib
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


if __name__ == "__main__":
    def stopped(number, frame):
        print("caps benchmark stopped by signal %d: cleaning up" % number, file=sys.stderr, flush=True)
        sys.exit(128 + number)  # SystemExit: the `finally` blocks stop what was started
    signal.signal(signal.SIGTERM, stopped)
    try:
        sys.exit(main())
    except BenchError as error:
        print("caps benchmark failed: %s" % error, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("caps benchmark interrupted", file=sys.stderr)
        sys.exit(130)
