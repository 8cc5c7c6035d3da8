"""The shadow benchmark: what the AWS IoT Device Shadow MQTT API served by the agent costs, seen
by MQTT clients, and what it costs the agent. Run it through `bash scripts/bench.sh shadow`,
which builds the binaries and makes the work folder; docs/benchmarks.md says what each figure
means. One agent (`--cgroups off`: the shadow path does not touch cgroups, and nothing here needs
root) and one Mosquitto on a free loopback port, both started here.

1. Round trips, one request in flight: N updates of a named shadow, each a small reported state
   published with QoS 1, each timed from its publish to its `/update/accepted` (matched by
   clientToken); then N gets of the same shadow to their `/get/accepted`. A warm-up of each kind
   comes first and is not counted. As a baseline, the atomic write the agent does for every
   accepted update (temporary file, fsync, rename, fsync of the folder), timed in Python on the
   same filesystem.
2. Pipelined updates: M updates published back to back, without waiting for replies, by C clients
   at once, each on a named shadow of its own; from the first publish to the last
   `/update/accepted`, updates per second; every reply checked: none rejected, the versions of
   each shadow 1..M/C in order. Repeated in B bursts, each on new shadows.
3. Live configuration: a Python function (the repo's runtime, a handler that returns
   context.config) is deployed with config {"n": 0}; then K times the classic shadow's
   desired.functions.cfg.config.n is set to i, timed from that publish to its `/update/accepted`,
   to the first direct invocation answering config.n == i (invocations sent one after the other
   from the publish on, each with a deadline), and to the `/update/documents` whose
   current.state.reported.functions.cfg.config.n == i.
4. The agent's memory (VmRSS, VmHWM, smaps_rollup Anonymous and Pss) at start and after every
   stage, whether it keeps growing, and the size of <stateDir>/shadows on disk.

Every wait has a deadline and fails naming what it waited for. Everything started here is
stopped in `finally`. The environment variables are listed in `SETTINGS` below and in
benchmarks/README.md.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from harness import (HarnessError, Observer, cpu_seconds, cpu_times, memory_of, poll_until, python_function,
                     sha256_of, tail)
from harness.shadow_client import prefix

from .driver import add_common_arguments, run
from .figures import cpu_shares, fmt_mb, fmt_ms, machine, machine_line, summary, write_figures
from .launch import bench_agent, bench_broker
from .settings import QUICK, BenchError, read_setting
from .thing import Thing, things_observer, validate

FUNCTION = "cfg"  # the Python function of part 3
# What still counts as steady. One request in flight: Anonymous from the first quarter of the
# updates to the last (a leak of a few dozen bytes per update shows over 1,500 updates). Bursts:
# the peak (VmHWM) from the middle burst to the last; after a burst the heap holds whatever the
# allocator kept of the backlog, which moves by a megabyte or more from burst to burst, so the
# peak, not the level after each burst, says whether it keeps growing.
UPDATES_TOLERANCE_KB = 256
BURSTS_TOLERANCE_KB = 512


# ---------------------------------------------------------------------------------------------
# Settings (environment variables; BENCH_QUICK=1 changes the defaults to a short run)

# name: (full default, quick default, meaning)
SETTINGS = {
    "BENCH_UPDATES": (2000, 300, "updates, then as many gets, one in flight at a time, on a named shadow"),
    "BENCH_WARMUP": (20, 20, "updates and gets sent first and not counted"),
    "BENCH_PIPELINED": (5000, 1000, "updates per burst, published back to back, spread over the clients"),
    "BENCH_CLIENTS": (4, 4, "clients publishing at once in a burst, each on a named shadow of its own"),
    "BENCH_BURSTS": (10, 3, "bursts of pipelined updates, each on new shadows"),
    "BENCH_CONFIG_ROUNDS": (20, 5, "live configuration changes through the classic shadow (0: skip)"),
    "BENCH_DISK_WRITES": (200, 50, "atomic writes of the disk baseline (0: skip)"),
    "BENCH_TIMEOUT": (60, 60, "deadline in seconds of each wait"),
}


def setting(name):
    return read_setting(SETTINGS, name)


# ---------------------------------------------------------------------------------------------
# Small helpers


def filesystem_of(path):
    """(mount point, filesystem type, source) of the mount holding `path`, from /proc/self/mountinfo."""
    path = os.path.realpath(path)
    best = ("/", "?", "?")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        point = left.split()[4].replace("\\040", " ")
        kind = right.split()
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]) and kind:
            best = (point, kind[0], kind[1] if len(kind) > 1 else "?")
    return best


def disk_baseline(folder, count):
    """The agent's atomic write, `count` times, in milliseconds each: a ~300-byte temporary file,
    fsync, rename over the previous one, fsync of the folder (EdgePOSIX Files.writeAtomically)."""
    folder.mkdir(mode=0o700, exist_ok=True)
    payload = json.dumps({"state": {"reported": {"seq": 0, "pad": "x" * 200}}, "version": 0}).encode()
    target, temporary = folder / "probe.json", folder / ("probe.json.tmp-%d" % os.getpid())
    samples = []
    for _ in range(count):
        started = time.monotonic()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, target)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        samples.append((time.monotonic() - started) * 1000.0)
    target.unlink()
    folder.rmdir()
    return samples


def folder_size(folder):
    """Files, bytes (their sizes) and kB allocated on disk under `folder`."""
    files, size, blocks = 0, 0, 0
    for root, _, names in os.walk(folder):
        for name in names:
            info = os.lstat(os.path.join(root, name))
            files += 1
            size += info.st_size
            blocks += info.st_blocks
    return {"files": files, "bytes": size, "allocatedKB": blocks // 2}


# ---------------------------------------------------------------------------------------------
# MQTT: shadow clients


class TimedShadowClient(Observer):
    """One MQTT 3.1.1 connection, as an AWS IoT Device SDK makes one: it subscribes to the reply
    topics it needs before it sends, and records when each reply arrives, by clientToken (or, for
    a function's answer, by the `token` its handler returns). `/update/documents` messages are
    kept in order of arrival. Nothing else is kept: a wait looks its reply up, it scans nothing."""

    def __init__(self, port, label, filters):
        super().__init__(port, name=label, filters=filters, protocol=mqtt.MQTTv311, for_load=True)
        self.replies = {}  # token -> (received, topic, document)
        self.documents = []  # (received, document) of /update/documents

    def _on_message(self, client, userdata, raw):
        now = time.monotonic()
        try:
            document = json.loads(raw.payload) if raw.payload else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            return
        with self.cond:
            if raw.topic.endswith("/update/documents"):
                self.documents.append((now, document))
            else:
                token = document.get("clientToken")
                if token is None and isinstance(document.get("result"), dict):
                    token = document["result"].get("token")
                if token is not None:
                    self.replies[token] = (now, raw.topic, document)
            self.cond.notify_all()

    def send(self, topic, payload):
        """QoS 1, not waiting for the broker; returns the time just before the publish."""
        sent = time.monotonic()
        self.client.publish(topic, payload, qos=1)
        return sent

    @staticmethod
    def _check(check, what):
        """Gives up early, naming what was awaited, when `check()` raises (the agent is gone)."""
        if check is not None:
            try:
                check()
            except HarnessError as error:
                raise BenchError("while waiting for %s: %s" % (what, error))

    def wait(self, token, timeout, what, check=None):
        """The reply carrying `token`, taken out: (received, topic, document)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while token not in self.replies:
                self._check(check, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("timed out after %.1f s waiting for %s" % (timeout, what))
                self.cond.wait(min(left, 0.5))
            return self.replies.pop(token)

    def wait_count(self, count, timeout, what, check=None):
        """Waits until `count` replies are held (a client used for one burst); returns them all."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.replies) < count:
                self._check(check, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("timed out after %.0f s waiting for %s (got %d of %d)"
                                     % (timeout, what, len(self.replies), count))
                self.cond.wait(min(left, 0.5))
            return dict(self.replies)

    def wait_document(self, predicate, since, timeout, what, check=None):
        """The first /update/documents message after the `since`-th for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for received, document in self.documents[since:]:
                    try:
                        if predicate(document):
                            return received, document
                    except (KeyError, TypeError, AttributeError):
                        pass
                since = len(self.documents)
                self._check(check, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
                self.cond.wait(min(left, 0.5))

    def mark(self):
        """An index for wait_document's `since`: the /update/documents messages received so far."""
        with self.cond:
            return len(self.documents)


# ---------------------------------------------------------------------------------------------
# The measurements


class Memory:
    """The agent's memory at named checkpoints."""

    def __init__(self, pid):
        self.pid = pid
        self.checkpoints = []

    def sample(self, label, requests):
        entry = memory_of(self.pid)
        entry["after"] = label
        entry["requests"] = requests
        self.checkpoints.append(entry)
        return entry

    def at(self, label):
        return next(c for c in self.checkpoints if c["after"] == label)


def round_trips(client, topic_prefix, operation, count, warmup, label, timeout, agent, on_quarter=None):
    """`warmup` + `count` requests, one in flight at a time: publish, wait for the reply with its
    clientToken. Returns (round trips in ms of the counted ones, problems, agent CPU s of them)."""
    problems = []
    samples = []
    version = None
    cpu0 = None
    topic = "%s/%s" % (topic_prefix, operation)
    quarter = max(1, count // 4)
    for i in range(warmup + count):
        if i == warmup:
            cpu0 = cpu_seconds(agent.pid)
        token = "%s-%d" % (label, i)
        if operation == "update":
            payload = json.dumps({"state": {"reported": {"seq": i, "temperature": 21.5 + (i % 10) / 10.0,
                                                         "status": "ok"}}, "clientToken": token})
        else:
            payload = json.dumps({"clientToken": token})
        sent = client.send(topic, payload)
        received, reply_topic, document = client.wait(
            token, timeout, "the reply to %s %d of %d (clientToken %s) on %s/accepted"
            % (operation, i + 1, warmup + count, token, topic), agent.check_alive)
        if not reply_topic.endswith("/accepted"):
            problems.append("%s %s was rejected: %s" % (operation, token, json.dumps(document)))
            continue
        if operation == "update":
            if version is not None and document.get("version") != version + 1:
                problems.append("update %s: version %s after %s" % (token, document.get("version"), version))
            version = document.get("version")
        if i >= warmup:
            samples.append((received - sent) * 1000.0)
            done = i - warmup + 1
            if on_quarter is not None and (done % quarter == 0 or done == count):
                on_quarter(done)
    cpu = cpu_seconds(agent.pid) - cpu0 if cpu0 is not None else 0.0
    return samples, problems, cpu, version


def burst(port, thing, number, run_id, updates, clients_count, timeout, agent, broker_pid):
    """`updates` updates published back to back by `clients_count` clients at once, each on a new
    named shadow; every reply awaited and checked."""
    per_client = updates // clients_count
    names = ["bench-b%d-%s-%d" % (number, run_id, c + 1) for c in range(clients_count)]
    clients = []
    try:
        for name in names:
            base = prefix(thing, name)
            clients.append(TimedShadowClient(port, "bench-burst", [base + "/update/accepted", base + "/update/rejected"]))
        for client in clients:
            client.start(timeout)
        # Prepared before the clock starts: the clients only publish.
        work = [[("b%dc%d-%d" % (number, c, i),
                  json.dumps({"state": {"reported": {"seq": i, "client": c, "status": "ok"}},
                              "clientToken": "b%dc%d-%d" % (number, c, i)}))
                 for i in range(per_client)] for c in range(clients_count)]
        sent = [dict() for _ in clients]
        gate = threading.Barrier(clients_count + 1)
        failures = []

        def publisher(c):
            try:
                gate.wait(timeout)
                topic = prefix(thing, names[c]) + "/update"
                client, times = clients[c], sent[c]
                for token, payload in work[c]:
                    times[token] = client.send(topic, payload)
            except Exception as error:  # noqa: BLE001 - reported below, the thread must not die silently
                failures.append("publisher %d: %r" % (c, error))
        threads = [threading.Thread(target=publisher, args=(c,), daemon=True) for c in range(clients_count)]
        for thread in threads:
            thread.start()
        cpu0, broker0, bench0 = cpu_seconds(agent.pid), cpu_seconds(broker_pid), time.process_time()
        gate.wait(timeout)
        replies = []
        deadline = time.monotonic() + timeout
        for c, client in enumerate(clients):
            replies.append(client.wait_count(per_client, max(1.0, deadline - time.monotonic()),
                                             "the %d replies of burst %d on the shadow %s (all published at once)"
                                             % (per_client, number, names[c]), agent.check_alive))
        cpu = cpu_seconds(agent.pid) - cpu0
        broker_cpu, bench_cpu = cpu_seconds(broker_pid) - broker0, time.process_time() - bench0
        for thread in threads:
            thread.join(timeout)
        if failures:
            raise BenchError("publishing burst %d failed: %s" % (number, failures))
    finally:
        for client in clients:
            client.close()

    first = min(min(times.values()) for times in sent)
    last = max(r[0] for got in replies for r in got.values())
    latencies, rejected, versions_ok, in_order = [], 0, True, True
    for c, got in enumerate(replies):
        accepted = sorted(((r[0], r[2].get("version")) for r in got.values() if r[1].endswith("/accepted")),
                          key=lambda pair: pair[0])
        rejected += sum(1 for r in got.values() if r[1].endswith("/rejected"))
        versions = [v for _, v in accepted]
        if sorted(v for v in versions if isinstance(v, int)) != list(range(1, per_client + 1)):
            versions_ok = False
        if versions != sorted(versions, key=lambda v: v if isinstance(v, int) else -1):
            in_order = False
        latencies += [(r[0] - sent[c][token]) * 1000.0 for token, r in got.items()]
    seconds = last - first
    return {"burst": number, "updates": per_client * clients_count, "clients": clients_count, "shadows": names,
            "perShadow": per_client, "seconds": round(seconds, 4),
            "updatesPerSecond": round(per_client * clients_count / seconds, 1),
            "publishToAcceptedMs": summary(latencies), "rejected": rejected, "versionsOneToN": versions_ok,
            "versionsInOrder": in_order, "agentCpuSeconds": round(cpu, 3),
            "agentCpuMsPerUpdate": round(1000.0 * cpu / (per_client * clients_count), 4),
            "agentCpuPercent": round(100.0 * cpu / seconds, 1),
            "brokerCpuPercent": round(100.0 * broker_cpu / seconds, 1),
            "benchmarkClientCpuPercent": round(100.0 * bench_cpu / seconds, 1)}


def live_configuration(port, thing, rounds, timeout, agent, log):
    """K changes of desired.functions.cfg.config.n, each timed to its accepted reply, to the first
    invocation that sees it and to the reported state that shows it."""
    classic = prefix(thing)
    invoke_topic = "edge/things/%s/functions/%s/invoke" % (thing, FUNCTION)
    reply_topic = "bench/shadow/%s/replies" % uuid.uuid4().hex[:8]
    operator = TimedShadowClient(port, "bench-operator", [classic + "/update/accepted", classic + "/update/rejected",
                                                     classic + "/update/documents", classic + "/get/accepted",
                                                     classic + "/get/rejected"])
    invoker = TimedShadowClient(port, "bench-invoker", [reply_topic])
    counter = [0]

    def invoke(deadline):
        counter[0] += 1
        token = "inv-%d" % counter[0]
        invoker.send(invoke_topic, json.dumps({"replyTo": reply_topic, "token": token}))
        received, _, answer = invoker.wait(token, max(0.1, min(5.0, deadline - time.monotonic())),
                                           "the answer to invocation %s of %s on %s" % (token, FUNCTION, reply_topic),
                                           agent.check_alive)
        if answer.get("status") != "ok":
            raise BenchError("invocation %s of %s failed: %s" % (token, FUNCTION, json.dumps(answer)))
        durations.append(answer.get("durationMs"))
        return received, answer["result"]

    samples = {"acceptedMs": [], "invocationMs": [], "reportedMs": []}
    stale, pids = [], set()
    durations = []  # the agent's durationMs of every invocation (invoke line written to result line read)
    try:
        operator.start(timeout)
        invoker.start(timeout)
        # Start from a known state: the function answers with n 0, and reported says so.
        deadline = time.monotonic() + timeout
        _, result = invoke(deadline)
        if result["config"].get("n") != 0:
            raise BenchError("the function answers config %s, expected n 0 from its deployment" % result["config"])
        pids.add(result["pid"])

        def reported_n(n):
            return lambda d: d["current"]["state"]["reported"]["functions"][FUNCTION]["config"]["n"] == n

        def reported_now():
            token = "get-%d" % time.monotonic_ns()
            operator.send(classic + "/get", json.dumps({"clientToken": token}))
            _, topic, document = operator.wait(token, timeout, "the classic shadow on %s/get/accepted" % classic,
                                               agent.check_alive)
            try:
                return document["state"]["reported"]["functions"][FUNCTION]["config"]["n"] == 0
            except (KeyError, TypeError):
                return False
        poll_until(reported_now, timeout, "reported.functions.%s.config.n 0 in the classic shadow" % FUNCTION, 0.1)

        for i in range(1, rounds + 1):
            since = operator.mark()
            token = "cfg-%d" % i
            desired = {"state": {"desired": {"functions": {FUNCTION: {"config": {"n": i}}}}}, "clientToken": token}
            sent = operator.send(classic + "/update", json.dumps(desired))
            deadline = sent + timeout
            # Invocations one after the other until one sees n == i; each has its own deadline.
            old = 0
            while True:
                received, result = invoke(deadline)
                pids.add(result["pid"])
                if result["config"].get("n") == i:
                    samples["invocationMs"].append((received - sent) * 1000.0)
                    break
                old += 1
                if time.monotonic() > deadline:
                    raise BenchError("timed out after %.0f s waiting for an invocation of %s to see config.n %d "
                                     "(it still answers %s)" % (timeout, FUNCTION, i, result["config"]))
            stale.append(old)
            received, topic, document = operator.wait(token, max(0.1, deadline - time.monotonic()),
                                                      "the reply to the desired update %s on %s/update/accepted"
                                                      % (token, classic), agent.check_alive)
            if not topic.endswith("/accepted"):
                raise BenchError("the desired update %s was rejected: %s" % (token, json.dumps(document)))
            samples["acceptedMs"].append((received - sent) * 1000.0)
            received, _ = operator.wait_document(
                reported_n(i), since, max(0.1, deadline - time.monotonic()),
                "%s/update/documents with current.state.reported.functions.%s.config.n == %d" % (classic, FUNCTION, i),
                agent.check_alive)
            samples["reportedMs"].append((received - sent) * 1000.0)
            if rounds <= 5 or i % 5 == 0 or i == rounds:
                log("  live configuration %d/%d: accepted %.2f ms, invocation sees it %.2f ms, reported %.1f ms"
                    % (i, rounds, samples["acceptedMs"][-1], samples["invocationMs"][-1], samples["reportedMs"][-1]))
    finally:
        operator.close()
        invoker.close()
    return {"rounds": rounds,
            "acceptedMs": summary(samples["acceptedMs"]), "invocationMs": summary(samples["invocationMs"]),
            "reportedMs": summary(samples["reportedMs"]),
            "samplesMs": {k: [round(v, 3) for v in values] for k, values in samples.items()},
            "staleInvocationsPerRound": stale, "invocations": counter[0], "functionPids": sorted(pids),
            "invocationDurationMs": summary([float(d) for d in durations if d is not None]),
            "restarted": len(pids) > 1}


# ---------------------------------------------------------------------------------------------
# Output


def row(label, s, cpu_ms=None):
    return "| %s | %d | %s | %s | %s | %s | %s |%s" % (
        label, s["n"], fmt_ms(s.get("min")), fmt_ms(s.get("median")), fmt_ms(s.get("p90")), fmt_ms(s.get("p99")),
        fmt_ms(s.get("max")), "" if cpu_ms is None else " %s |" % cpu_ms)


def kb(value):
    return "—" if value is None else "%d kB" % value


# ---------------------------------------------------------------------------------------------
# Main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "shadow")
    args = parser.parse_args()

    updates = int(setting("BENCH_UPDATES"))
    warmup = int(setting("BENCH_WARMUP"))
    pipelined = int(setting("BENCH_PIPELINED"))
    clients_count = int(setting("BENCH_CLIENTS"))
    bursts = int(setting("BENCH_BURSTS"))
    config_rounds = int(setting("BENCH_CONFIG_ROUNDS")) if args.python else 0
    disk_writes = int(setting("BENCH_DISK_WRITES"))
    timeout = float(setting("BENCH_TIMEOUT"))
    if updates < 4 or clients_count < 1 or pipelined < clients_count or bursts < 1:
        raise BenchError("BENCH_UPDATES must be at least 4, BENCH_CLIENTS and BENCH_BURSTS at least 1, and "
                         "BENCH_PIPELINED at least BENCH_CLIENTS")
    if pipelined % clients_count:
        raise BenchError("BENCH_PIPELINED (%d) must be a multiple of BENCH_CLIENTS (%d): each client sends as many"
                         % (pipelined, clients_count))
    if timeout <= 0:
        raise BenchError("BENCH_TIMEOUT must be positive")

    workdir = Path(args.workdir)
    pids_file = workdir / "pids"
    load_at_start = list(os.getloadavg())
    cpu_at_start = cpu_times()
    started = time.monotonic()
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def log(text):
        print("[%5.1fs] %s" % (time.monotonic() - started, text), flush=True)

    module = workdir / "bench_handler.py"
    module.write_text("# the shadow benchmark's Python function: its configuration, as the runtime holds it\n"
                      "import os\n\n\ndef handler(event, context):\n"
                      "    return {\"config\": dict(context.config), \"token\": event.get(\"token\"),\n"
                      "            \"pid\": os.getpid()}\n")
    module.chmod(0o644)
    spec = None
    if config_rounds:
        spec = python_function(module, "bench_handler.handler", version="1.0.0", sha256=sha256_of(module))
        spec["config"] = {"n": 0}
        if args.edgectl:
            validate(args.edgectl, {"deploymentId": "validate", "revision": 1, "functions": {FUNCTION: spec}},
                     workdir / "validate.json", "the benchmark's deployment", timeout)

    # The disk first, while nothing else runs: what one atomic write costs on this filesystem.
    state_fs = filesystem_of(workdir)
    disk = []
    if disk_writes:
        log("disk baseline: %d atomic writes in %s (%s on %s)" % (disk_writes, workdir, state_fs[1], state_fs[2]))
        disk = disk_baseline(workdir / "disk-probe", disk_writes)

    broker = None
    bus = None
    agent = None
    client = None
    problems = []
    results = {}
    try:
        broker = bench_broker(workdir / "broker", pids_file, timeout)
        bus = things_observer(broker.port, timeout)  # deployments and their events, as in the caps benchmark
        run_id = uuid.uuid4().hex[:6]
        thing = "bench-%s-shadow" % run_id
        # No cgroups (nothing here needs them) and the default health interval.
        agent = bench_agent(args.agent, "shadow", thing, broker.port, workdir, args.runtime_dir, args.python)
        agent.start()
        shadow = "bench-rt"
        base = prefix(thing, shadow)
        probe = prefix(thing, "bench-probe")
        client = TimedShadowClient(broker.port, "bench-rt", [base + "/update/accepted", base + "/update/rejected",
                                                        base + "/get/accepted", base + "/get/rejected",
                                                        probe + "/get/rejected"]).start(timeout)

        # The agent serves shadows once it has subscribed: a get of a shadow that does not exist is
        # answered 404 from then on. Sent again every 0.5 s until then.
        def serving():
            agent.check_alive()
            token = "probe-%d" % time.monotonic_ns()
            client.send(probe + "/get", json.dumps({"clientToken": token}))
            try:
                _, topic, document = client.wait(token, 0.5, "the probe", agent.check_alive)
            except BenchError:
                return False
            return document.get("code") == 404
        poll_until(serving, timeout,
                   "the agent to answer a get of a missing shadow with 404 on %s/get/rejected" % probe, 0.05)
        memory = Memory(agent.pid)
        memory.sample("start", 0)
        log("agent %d serving %s; VmRSS %s, Anonymous %s" % (agent.pid, thing, fmt_mb(memory.checkpoints[0]["vmRssKB"]),
                                                           fmt_mb(memory.checkpoints[0]["anonymousKB"])))

        # 1. Round trips
        log("round trips: %d updates of the named shadow %s (after %d not counted)" % (updates, shadow, warmup))
        total = [0]

        def quarter(label):
            def at(done):
                memory.sample("%s %d" % (label, done), total[0] + done)
            return at
        update_ms, found, update_cpu, last_version = round_trips(client, base, "update", updates, warmup, "u", timeout,
                                                                 agent, quarter("updates"))
        problems += found
        total[0] += updates + warmup
        if last_version != updates + warmup:
            problems.append("the named shadow is at version %s after %d updates" % (last_version, updates + warmup))
        log("  update: p50 %.2f ms, p99 %.2f ms" % (summary(update_ms)["median"], summary(update_ms)["p99"]))
        log("round trips: %d gets" % updates)
        get_ms, found, get_cpu, _ = round_trips(client, base, "get", updates, warmup, "g", timeout, agent)
        problems += found
        total[0] += updates + warmup
        memory.sample("gets", total[0])
        log("  get: p50 %.2f ms, p99 %.2f ms" % (summary(get_ms)["median"], summary(get_ms)["p99"]))
        results["roundTrips"] = {
            "shadow": shadow, "warmup": warmup,
            "update": dict(summary(update_ms), agentCpuMsPerRequest=round(1000.0 * update_cpu / updates, 4)),
            "get": dict(summary(get_ms), agentCpuMsPerRequest=round(1000.0 * get_cpu / updates, 4)),
            "updateSamplesMs": [round(v, 3) for v in update_ms], "getSamplesMs": [round(v, 3) for v in get_ms]}

        # 2. Pipelined
        results["pipelined"] = []
        for number in range(1, bursts + 1):
            log("pipelined burst %d/%d: %d updates from %d clients on %d new named shadows"
                % (number, bursts, pipelined, clients_count, clients_count))
            entry = burst(broker.port, thing, number, run_id, pipelined, clients_count, timeout, agent, broker.pid)
            results["pipelined"].append(entry)
            total[0] += entry["updates"]
            memory.sample("burst %d" % number, total[0])
            log("  %.2f s, %.0f updates/s, rejected %d, versions 1..%d %s" % (
                entry["seconds"], entry["updatesPerSecond"], entry["rejected"], entry["perShadow"],
                "in order" if entry["versionsOneToN"] and entry["versionsInOrder"] else "WRONG"))
            if entry["rejected"]:
                problems.append("burst %d: %d updates rejected" % (number, entry["rejected"]))
            if not entry["versionsOneToN"] or not entry["versionsInOrder"]:
                problems.append("burst %d: the versions of a shadow are not 1..%d in order"
                                % (number, entry["perShadow"]))

        # 3. Live configuration
        if config_rounds:
            log("live configuration: deploying the Python function %s" % FUNCTION)
            Thing(bus, agent, timeout).deploy("bench-shadow-config", {FUNCTION: spec}, 1)
            memory.sample("deployed", total[0])
            results["liveConfiguration"] = live_configuration(broker.port, thing, config_rounds, timeout, agent, log)
            memory.sample("live configuration", total[0])
            if results["liveConfiguration"]["restarted"]:
                problems.append("the function's pid changed during the live configuration changes (a restart)")

        # 4. Disk
        results["disk"] = folder_size(agent.state_dir / "shadows")
        results["disk"]["shadowFiles"] = sorted(os.listdir(agent.state_dir / "shadows"))
        agent.check_alive()
        log("done measuring; stopping")
    except HarnessError:
        if agent is not None and agent.proc is not None:
            print("--- agent (%s), last lines:\n%s" % (agent.log_path, tail(agent.log_text(), 15)), file=sys.stderr)
        raise
    finally:
        if client is not None:
            client.close()
        if agent is not None:
            try:
                code = agent.stop(timeout)
                if code:
                    problems.append("the agent exited with code %d after SIGTERM" % code)
            except HarnessError as error:
                problems.append(str(error))
            agent.cleanup(stop_timeout=0)  # no function left behind
        if bus is not None:
            bus.close()
        if broker is not None:
            broker.stop()

    # 5. Report
    info = machine()
    info["loadAverageAtStart"] = load_at_start
    busy, steal = cpu_shares(cpu_at_start, cpu_times())
    info["cpuStealPercent"], info["cpuBusyPercent"] = steal, busy
    info["stateFilesystem"] = {"mountPoint": state_fs[0], "type": state_fs[1], "source": state_fs[2]}
    info["euid"] = os.geteuid()

    checkpoints = memory.checkpoints
    first_quarter = checkpoints[1]
    last_update = [c for c in checkpoints if c["after"].startswith("updates ")][-1]
    growth = {"updatesFrom": first_quarter["after"], "updatesTo": last_update["after"],
              "updatesAnonymousKB": last_update["anonymousKB"] - first_quarter["anonymousKB"],
              "updatesVmRssKB": last_update["vmRssKB"] - first_quarter["vmRssKB"],
              "updatesToleranceKB": UPDATES_TOLERANCE_KB}
    growth["updatesSteady"] = growth["updatesAnonymousKB"] <= UPDATES_TOLERANCE_KB
    after_bursts = [memory.at("burst %d" % n) for n in range(1, bursts + 1)]
    growth["burstsAnonymousKB"] = {"min": min(c["anonymousKB"] for c in after_bursts),
                                   "max": max(c["anonymousKB"] for c in after_bursts),
                                   "last": after_bursts[-1]["anonymousKB"]}
    if bursts >= 2:
        middle = after_bursts[(bursts + 1) // 2 - 1]
        growth["burstsFrom"], growth["burstsTo"] = middle["after"], after_bursts[-1]["after"]
        growth["burstsVmHwmKB"] = after_bursts[-1]["vmHwmKB"] - middle["vmHwmKB"]
        growth["burstsToleranceKB"] = BURSTS_TOLERANCE_KB
        growth["burstsSteady"] = growth["burstsVmHwmKB"] <= BURSTS_TOLERANCE_KB
    growth["steady"] = growth["updatesSteady"] and growth.get("burstsSteady", True)
    if not growth["updatesSteady"]:
        problems.append("the agent's Anonymous memory grew by %d kB (more than %d kB) from %s to %s, one update in "
                        "flight" % (growth["updatesAnonymousKB"], UPDATES_TOLERANCE_KB, growth["updatesFrom"],
                                    growth["updatesTo"]))
    if not growth.get("burstsSteady", True):
        problems.append("the agent's peak memory (VmHWM) still grew by %d kB (more than %d kB) from %s to %s"
                        % (growth["burstsVmHwmKB"], BURSTS_TOLERANCE_KB, growth["burstsFrom"], growth["burstsTo"]))

    rt = results["roundTrips"]
    figures = {
        "benchmark": "shadow",
        "date": started_wall,
        "command": args.command,
        "agentRevision": args.revision,
        "machine": info,
        "settings": {"updates": updates, "warmup": warmup, "pipelined": pipelined, "clients": clients_count,
                     "bursts": bursts, "configRounds": config_rounds, "diskWrites": disk_writes, "timeout": timeout,
                     "quick": QUICK, "python": args.python or None, "pythonNote": args.python_note or None,
                     "agentFlags": "--cgroups off, default health interval (30 s), --log-level info"},
        "roundTrips": rt,
        "diskBaselineMs": dict(summary(disk), samplesMs=[round(v, 3) for v in disk]),
        "pipelined": results["pipelined"],
        "pipelinedUpdatesPerSecond": summary([e["updatesPerSecond"] for e in results["pipelined"]]),
        "liveConfiguration": results.get("liveConfiguration"),
        "memory": {"checkpoints": checkpoints, "growth": growth},
        "shadowsOnDisk": results["disk"],
        "durationSeconds": round(time.monotonic() - started, 1),
        "problems": problems,
    }

    lines = ["", "# edge-agent shadow benchmark", ""]
    lines.append(machine_line(info))
    # The bursts keep about one core busy (agent, broker, this client): the load at the end and
    # the CPUs' busy time include the benchmark's own, so only the load at start says "busy".
    lines.append("- load average (1, 5, 15 min) at start %s, at end %s (with the benchmark's own); all CPUs %.1f %% "
                 "busy, %s %% steal%s" % (
                     " ".join("%.2f" % v for v in load_at_start), " ".join("%.2f" % v for v in info["loadAverage"]),
                     info["cpuBusyPercent"], info["cpuStealPercent"],
                     ": the machine was busy with other work, the figures are noisier"
                     if load_at_start[0] > 0.5 * info["nproc"] else ""))
    lines.append("- agent: %s, release build, --cgroups off, run as %s" % (
        args.revision, "root" if os.geteuid() == 0 else "uid %d (not root)" % os.geteuid()))
    lines.append("- state folder on %s (%s, mounted on %s): every accepted update is fsync'ed there before its "
                 "reply" % (state_fs[1], state_fs[2], state_fs[0]))
    lines.append("- run: %s UTC, %.0f s; MQTT 3.1.1, QoS 1, loopback Mosquitto" % (
        started_wall, figures["durationSeconds"]))

    lines += ["", "## Round trips, one request in flight (named shadow `%s`, after %d of each not counted)"
              % (rt["shadow"], warmup), "",
              "| request (ms) | n | min | p50 | p90 | p99 | max | agent CPU per request |",
              "|---|---:|---:|---:|---:|---:|---:|---:|",
              row("update (small reported state) → `/update/accepted`", rt["update"],
                  "%.3f ms" % rt["update"]["agentCpuMsPerRequest"]),
              row("get → `/get/accepted`", rt["get"], "%.3f ms" % rt["get"]["agentCpuMsPerRequest"])]
    if disk:
        lines.append(row("disk alone: write, fsync, rename, fsync folder (Python, same filesystem)",
                         summary(disk), "—"))

    per = results["pipelined"][0]["perShadow"]
    lines += ["", "## Pipelined: %d updates per burst from %d clients at once, %d each on a named shadow of its own"
              % (pipelined, clients_count, per), "",
              "| burst | first publish → last accepted | updates/s | publish → accepted p50 / p99 / max (ms) "
              "| rejected | versions 1..%d in order | agent CPU per update "
              "| CPU, %% of one core: agent / mosquitto / client |" % per,
              "|---|---:|---:|---:|---:|---|---:|---:|"]
    for entry in results["pipelined"]:
        lat = entry["publishToAcceptedMs"]
        lines.append("| %d | %.2f s | %.0f | %s / %s / %s | %d | %s | %.3f ms | %.0f %% / %.0f %% / %.0f %% |" % (
            entry["burst"], entry["seconds"], entry["updatesPerSecond"], fmt_ms(lat["median"]), fmt_ms(lat["p99"]),
            fmt_ms(lat["max"]), entry["rejected"],
            "yes" if entry["versionsOneToN"] and entry["versionsInOrder"] else "NO",
            entry["agentCpuMsPerUpdate"], entry["agentCpuPercent"], entry["brokerCpuPercent"],
            entry["benchmarkClientCpuPercent"]))
    rates = figures["pipelinedUpdatesPerSecond"]
    lines += ["", "- updates/s over the %d bursts: median %.0f, min %.0f, max %.0f; rejected in all: %d" % (
        rates["n"], rates["median"], rates["min"], rates["max"], sum(e["rejected"] for e in results["pipelined"]))]

    live = results.get("liveConfiguration")
    if live:
        lines += ["", "## Live configuration: classic `desired.functions.%s.config.n = i`, %d times "
                  "(a Python function, interpreter %s)" % (FUNCTION, live["rounds"], args.python), "",
                  "| from publishing the desired update to (ms) | n | min | p50 | p90 | p99 | max |",
                  "|---|---:|---:|---:|---:|---:|---:|",
                  row("its `/update/accepted`", live["acceptedMs"]),
                  row("the first invocation answering config.n == i", live["invocationMs"]),
                  row("`/update/documents` with reported config.n == i", live["reportedMs"]),
                  "",
                  "- invocations sent: %d (the agent's durationMs, invoke line written to result line read: p50 %s, "
                  "max %s ms); rounds in which one answered the previous value first: %d; the function's pid %s" % (
                      live["invocations"], fmt_ms(live["invocationDurationMs"].get("median")),
                      fmt_ms(live["invocationDurationMs"].get("max")),
                      sum(1 for s in live["staleInvocationsPerRound"] if s),
                      "changed (restarted!)" if live["restarted"]
                      else "stayed %d (no restart)" % live["functionPids"][0])]
    else:
        lines += ["", "Live configuration: skipped (%s)" % (args.python_note or "BENCH_CONFIG_ROUNDS=0")]

    lines += ["", "## The agent's memory and the shadows on disk", "",
              "| after | requests so far | VmRSS | Anonymous | Pss | VmHWM | threads / fds |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for c in checkpoints:
        lines.append("| %s | %d | %s | %s | %s | %s | %s / %s |" % (
            c["after"], c["requests"], kb(c["vmRssKB"]), kb(c["anonymousKB"]), kb(c["pssKB"]), kb(c["vmHwmKB"]),
            c["threads"], c["fds"]))
    lines += ["",
              "- one update in flight: Anonymous %+d kB (VmRSS %+d kB) from \"%s\" to \"%s\": %s" % (
                  growth["updatesAnonymousKB"], growth["updatesVmRssKB"], growth["updatesFrom"], growth["updatesTo"],
                  "steady" if growth["updatesSteady"] else "GROWING (more than %d kB)" % UPDATES_TOLERANCE_KB),
              "- pipelined bursts: Anonymous after each %s–%s; %s" % (
                  kb(growth["burstsAnonymousKB"]["min"]), kb(growth["burstsAnonymousKB"]["max"]),
                  "peak (VmHWM) %+d kB from \"%s\" to \"%s\": %s" % (
                      growth["burstsVmHwmKB"], growth["burstsFrom"], growth["burstsTo"],
                      "steady" if growth["burstsSteady"] else "STILL GROWING (more than %d kB)" % BURSTS_TOLERANCE_KB)
                  if "burstsSteady" in growth else "one burst: no comparison"),
              "- <stateDir>/shadows: %d files (%d named shadows and the classic one), %d bytes, %d kB allocated "
              "on disk" % (
                  results["disk"]["files"], sum(1 for f in results["disk"]["shadowFiles"] if f.startswith("name-")),
                  results["disk"]["bytes"], results["disk"]["allocatedKB"])]
    for problem in problems:
        lines += ["", "PROBLEM: %s" % problem]
    lines += ["", "reproduce (from the repository): `%s`" % args.command]
    write_figures(figures, lines, args.out)
    return 1 if problems else 0


if __name__ == "__main__":
    run(main, "shadow benchmark")
