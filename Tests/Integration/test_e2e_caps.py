"""Resource caps and privileges: functions that misbehave (Tests/Integration/functions/misbehave.c)
are held by their `limits` (cgroups v1/v2 and rlimits) and stopped for good, functions run as an
unprivileged user, and the agent stays responsive throughout: every test deploys a well-behaved
`ok` function alongside the misbehaving one and keeps invoking it.

Tests that need root or writable cgroups skip when they are missing, except under CI=true, where
that is a failure (h.require_cgroups, h.require_function_user).
"""

import copy
import os
import re
import time

import harness as h

MiB = 1 << 20
FAST_RESTART = {"maxFailures": 3, "backoffMs": 150, "maxBackoffMs": 1000}
# Safety nets passed to misbehave: far above the caps under test, so a cap that does not hold is
# seen at once, but low enough that a broken agent cannot take the machine down with it.
MEMHOG_CEILING_MB = 512
FORKBOMB_CEILING = 256
OK_TOPIC = "ok/+/in"


def misbehave(binary, mode, *args, topic=None, version="1", **fields):
    """A function running `misbehave MODE ARGS...`, subscribed to `topic` (a filter with one '+')."""
    spec = {
        "version": version,
        "command": ["misbehave", mode] + [str(a) for a in args],
        "artifacts": [h.artifact(binary, name="misbehave")],
        "subscriptions": [{"topic": topic, "qos": 1}] if topic else [],
    }
    spec.update(fields)
    return spec


def deploy_with_ok(edge, binary, name, spec, expect=("SUCCEEDED",), timeout=h.WAIT):
    """Deploys function `name` and the well-behaved `ok` function in one document (onFailure
    "none": a misbehaving function never takes `ok` down with a rollback); returns the document."""
    doc = h.document("caps-%s" % name, 1, {name: spec, "ok": misbehave(binary, "ok", topic=OK_TOPIC)},
                     onFailure="none")
    since = edge.obs.mark()
    edge.publish_deployment(doc)
    status = edge.final_status(doc["deploymentId"], doc["revision"], since=since, timeout=timeout)
    assert status["status"] in expect, "deployment of %s ended %s, expected %s: %s" % (
        name, status["status"], " or ".join(expect), status)
    return doc


def undeploy(edge, doc, name, timeout=h.WAIT):
    """Publishes the next revision of `doc` without function `name` and waits until it SUCCEEDED
    (the agent reports that once the removed function has stopped); returns the new document."""
    new = copy.deepcopy(doc)
    new["revision"] = doc["revision"] + 1
    del new["functions"][name]
    edge.deploy(new, timeout=timeout)
    return new


def assert_ok_answers(edge, count=3, timeout=5):
    """The agent is responsive: the `ok` function answers `count` events, each promptly."""
    for n in range(count):
        result = edge.send(OK_TOPIC, {"n": n}, "ok", timeout=timeout)
        assert result["status"] == "ok", result
        assert result["result"] == {"echo": result["invocationId"]}, result


def running_pid(edge, fn, since=0, exclude=(), timeout=h.WAIT):
    """The pid of a RUNNING (ready) instance of `fn` from health, other than those in `exclude`."""
    health = edge.function_health(fn, lambda f: f["state"] == "RUNNING" and f.get("pid") and f["pid"] not in exclude,
                                  since=since, timeout=timeout,
                                  what="%s RUNNING with a pid other than %s" % (fn, list(exclude) or "none"))
    return health["pid"]


def cgroup_version(edge, controllers):
    """The agent's cgroup backend from its health: v1 or v2, with `controllers` in use."""
    report = edge.health(lambda j: j["status"] == "online" and "cgroups" in j,
                         what="a health report with a cgroups section")
    cgroups = report["cgroups"]
    assert cgroups["version"] in ("v1", "v2"), "cgroups are writable here but the agent uses none: %s" % cgroups
    missing = set(controllers) - set(cgroups["controllers"])
    assert not missing, "the agent does not use the controllers %s: %s" % (sorted(missing), cgroups)
    return cgroups["version"]


def function_cgroup(pid, controller, version, thing):
    """The cgroup folder that holds `pid` for `controller`; under the --cgroup-root the harness
    gives the agent."""
    folder = h.cgroup_of(pid, controller, version)
    assert (h.cgroup_root(thing) + "/") in (str(folder) + "/"), \
        "pid %d is in %s, outside --cgroup-root %s" % (pid, folder, h.cgroup_root(thing))
    return folder


def events_of(edge, fn, type_, since):
    return [m for m in edge.obs.seen(edge.topics.events, lambda m: m.json["type"] == type_ and m.json["function"] == fn,
                                     since=since)]


def cpu_share(sid, seconds):
    """CPU time used by the processes of session `sid` over `seconds` of wall time, per second."""
    tick = os.sysconf("SC_CLK_TCK")
    first = {pid: h.cpu_ticks(pid) for pid in h.session_members(sid)}
    start = time.monotonic()
    h.poll_until(lambda: time.monotonic() - start >= seconds, seconds + 5,
                 "the end of the %.0f s measurement window" % seconds, interval=0.1)
    last = {pid: h.cpu_ticks(pid) for pid in first}
    wall = time.monotonic() - start
    used = sum(last[pid] - first[pid] for pid in first if first[pid] is not None and last[pid] is not None)
    return used / tick / wall, first


# ---------------------------------------------------------------------------------------------
# Memory, processes, CPU, descriptors


def test_memhog_is_oom_killed_restarted_with_backoff_then_broken(agent, edge, misbehave_bin):
    h.require_cgroups(("memory",))
    a = agent()
    spec = misbehave(misbehave_bin, "memhog", MEMHOG_CEILING_MB, limits={"memoryMB": 32}, restart=FAST_RESTART)
    since = edge.obs.mark()
    # It is killed moments after `ready`: it may even be BROKEN before the deployment is done.
    deploy_with_ok(edge, misbehave_bin, "hog", spec, expect=("SUCCEEDED", "FAILED"))
    cgroup_version(edge, ["memory"])
    assert_ok_answers(edge)  # while hog is in its crash loop

    broken = edge.event("function.broken", lambda e: e["function"] == "hog", since=since, timeout=30)
    assert broken["failures"] == 3 and broken["version"] == "1", broken
    assert "memoryMB" in broken["reason"], broken

    crashes = events_of(edge, "hog", "function.crashed", since)
    assert [m.json["failures"] for m in crashes] == [1, 2, 3], [m.json for m in crashes]
    assert all("memoryMB" in m.json["reason"] and m.json["maxFailures"] == 3 for m in crashes), \
        [m.json for m in crashes]
    # The agent samples its cgroups: events may come fewer than the kills, oomKills is the total.
    edge.event("function.oom_killed", lambda e: e["function"] == "hog", since=since)
    kills = [m.json for m in events_of(edge, "hog", "function.oom_killed", since)]
    for kill in kills:
        assert kill["version"] == "1" and kill["limit"] == "memoryMB" and kill["memoryMB"] == 32, kill
    totals = [kill["oomKills"] for kill in kills]
    assert totals == sorted(totals) and 1 <= totals[0] and totals[-1] <= 3, kills
    counted = edge.function_health("hog", lambda f: f["usage"]["oomKills"] >= 3, since=since,
                                   what="hog's usage.oomKills counting the 3 OOM kills")
    assert counted["usage"]["oomKills"] == 3, counted

    # Restarted with backoff: 150 ms after the first crash, 300 ms after the second.
    starts = events_of(edge, "hog", "function.started", since)
    assert len(starts) == 3, [m.json for m in starts]
    for n in (0, 1):
        delay = FAST_RESTART["backoffMs"] * (2 ** n) / 1000
        gap = starts[n + 1].received - crashes[n].received
        assert gap >= delay - 0.05, "restart %d came %.3f s after the crash; backoff is %.3f s" % (n + 1, gap, delay)

    fn = edge.function_health("hog", lambda f: f["state"] == "BROKEN", since=since, what="hog BROKEN in health")
    assert "memoryMB" in fn["lastError"], fn
    assert fn["restarts"] == 2 and fn["pids"] == [], fn
    assert fn["limits"]["memoryMB"] == 32, fn

    # It never got far past its cap: by the agent's account...
    usages = [m.json["functions"]["hog"]["usage"] for m in edge.obs.seen(
        edge.topics.health, lambda m: m.json["functions"]["hog"]["usage"]["memoryPeakBytes"] > 0, since=since)]
    assert usages, ("no health report showed hog's usage.memoryPeakBytes: an instance the OOM killer ended "
                    "lives for milliseconds, so its peak must be kept after it ends, like oomKills")
    peak = max(u["memoryPeakBytes"] for u in usages)
    assert peak <= 32 * MiB + 2 * MiB, "hog peaked at %.1f MiB with memoryMB 32" % (peak / MiB)
    assert {u.get("memoryLimitBytes") for u in usages} == {32 * MiB}, usages
    # ...and by its own: it reports every 16 MiB, and 32 MiB of blocks cannot fit in a 32 MiB cap.
    log = (a.state_dir / "logs" / "hog.log").read_text(errors="replace")
    assert log.count("memhog ready") == 3, h.tail(log, 20)
    allocated = [int(n) for n in re.findall(r"memhog: (\d+) MiB allocated", log)]
    assert max(allocated, default=0) < 32, "hog allocated %d MiB under a 32 MiB cap" % max(allocated)

    assert_ok_answers(edge)


def test_forkbomb_is_held_at_the_pids_cap_and_cleaned_up(agent, edge, misbehave_bin):
    h.require_cgroups(("pids",))
    agent()
    spec = misbehave(misbehave_bin, "forkbomb", FORKBOMB_CEILING, topic="bomb/+/in", limits={"pids": 16},
                     restart=FAST_RESTART)
    since = edge.obs.mark()
    doc = deploy_with_ok(edge, misbehave_bin, "bomb", spec)
    version = cgroup_version(edge, ["pids"])
    pid = running_pid(edge, "bomb", since)

    hit = edge.event("function.pids_limit", lambda e: e["function"] == "bomb", since=since)
    assert hit["version"] == "1" and hit["limit"] == "pids" and hit["pids"] == 16 and hit["hits"] >= 1, hit

    def saturated():
        result = edge.send("bomb/+/in", {}, "bomb", timeout=5)
        assert result["status"] == "ok", result
        return result if result["result"]["eagain"] > 0 else None
    result = h.poll_until(saturated, 15, "the fork bomb to see fork() fail with EAGAIN")
    assert result["result"]["forks"] <= 15, result  # itself plus at most 15 others

    # At the cap nothing is born or dies: both counts are stable, and they agree.
    group = function_cgroup(pid, "pids", version, edge.thing)
    in_cgroup = h.cgroup_tree_procs(group)
    in_session = set(h.session_members(pid))
    assert pid in in_cgroup, (pid, group, in_cgroup)
    assert len(in_cgroup) <= 16, "%d processes in %s with pids 16" % (len(in_cgroup), group)
    assert len(in_session) <= 16, "%d processes in the bomb's session with pids 16" % len(in_session)
    assert in_session == in_cgroup, (sorted(in_session), sorted(in_cgroup))
    fn = edge.function_health("bomb", lambda f: f["usage"]["pidsLimitHits"] >= 1, since=since,
                              what="bomb's usage.pidsLimitHits in health")
    assert fn["usage"]["pidsLimit"] == 16 and 1 <= fn["usage"]["pids"] <= 16, fn
    assert fn["limits"]["pids"] == 16 and fn["pid"] == pid, fn

    assert_ok_answers(edge)  # while the bomb keeps trying

    undeploy(edge, doc, "bomb")
    h.poll_until(lambda: not any(h.process_alive(p) for p in in_session) and not h.session_members(pid), 10,
                 "every process of the fork bomb (%d seen) to be gone after it was undeployed" % len(in_session))
    assert not (group.exists() and h.cgroup_tree_procs(group)), "processes left in %s" % group
    assert_ok_answers(edge)


def test_spinner_gets_its_cpu_share_and_is_reported_throttled(agent, edge, misbehave_bin):
    h.require_cgroups(("cpu",))
    agent()
    spec = misbehave(misbehave_bin, "spin", topic="spin/+/in", limits={"cpus": 0.25}, restart=FAST_RESTART)
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "spin", spec)
    version = cgroup_version(edge, ["cpu"])
    pid = running_pid(edge, "spin", since)
    answer = edge.send("spin/+/in", {}, "spin")
    assert answer["status"] == "ok", answer
    spinner = answer["result"]["spinner"]
    assert spinner in h.session_members(pid), (spinner, h.session_members(pid))
    assert function_cgroup(spinner, "cpu", version, edge.thing) == function_cgroup(pid, "cpu", version, edge.thing)

    share, measured = cpu_share(pid, 3.0)
    assert spinner in measured, measured
    assert abs(share - 0.25) <= 0.07, "the spinner used %.3f of a CPU with cpus 0.25" % share

    throttled = edge.event("function.cpu_throttled", lambda e: e["function"] == "spin", since=since)
    assert throttled["version"] == "1" and throttled["limit"] == "cpus" and throttled["cpus"] == 0.25, throttled
    assert 0 < throttled["throttledPercent"] <= 100 and throttled["windowSeconds"] > 0, throttled
    fn = edge.function_health("spin", lambda f: f["usage"]["cpuThrottledPeriods"] > 0, since=since,
                              what="spin's usage.cpuThrottledPeriods in health")
    assert fn["limits"]["cpus"] == 0.25, fn
    assert fn["usage"]["cpuUsageUsec"] > 0 and fn["usage"]["cpuThrottledUsec"] > 0, fn

    assert_ok_answers(edge)  # the agent is not starved by the spinner


def test_descriptor_leak_stops_at_open_files(agent, edge, misbehave_bin):
    agent()
    spec = misbehave(misbehave_bin, "fdleak", topic="leak/+/in", limits={"openFiles": 32}, restart=FAST_RESTART)
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "leak", spec)
    pid = running_pid(edge, "leak", since)

    answers = []
    for n in range(8):  # 8 descriptors each: up to twice the cap asked for
        answer = edge.send("leak/+/in", {"n": n}, "leak")
        answers.append(answer)
        count = h.open_fd_count(pid)
        assert count is not None and count <= 32, "leak holds %s descriptors with openFiles 32" % count
        if answer["status"] == "error":
            break
    refused = answers[-1]
    assert refused["status"] == "error" and refused["error"]["type"] == "EMFILE", answers
    opened = [a["result"]["open"] for a in answers[:-1]]
    assert opened == [8, 16, 24], answers
    got = re.match(r"open failed after (\d+) descriptors: ", refused["error"]["message"])
    assert got, refused
    # 0, 1, 2 and the channel on fd 3 are open, every other descriptor is closed at start: 28 more.
    assert int(got.group(1)) == 32 - 4, refused

    # A handler error, not a crash: the same instance, no restart.
    fn = edge.function_health("leak", lambda f: f["state"] == "RUNNING" and f["usage"]["openFiles"] > 0,
                              since=since, what="leak RUNNING with usage.openFiles")
    assert fn["pid"] == pid and fn["restarts"] == 0, fn
    assert fn["limits"]["openFiles"] == 32 and fn["usage"]["openFiles"] <= 32, fn
    assert_ok_answers(edge)


# ---------------------------------------------------------------------------------------------
# Hung, stubborn, escaping and garbling instances


def test_hung_instance_is_replaced_after_timeout(agent, edge, misbehave_bin):
    agent()
    spec = misbehave(misbehave_bin, "hang", topic="hang/+/in", timeoutMs=300, restart=FAST_RESTART)
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "hang", spec)
    pid = running_pid(edge, "hang", since)

    since = edge.obs.mark()
    edge.obs.publish("hang/first/in", "{}", qos=1)
    assert_ok_answers(edge, count=1)  # answered while the hung invocation is in flight
    result = edge.obs.wait_for(edge.topics.results("hang"), lambda m: m.json["sourceTopic"] == "hang/first/in",
                               since=since, what="the answer to the hung invocation").json
    assert result["status"] == "error" and result["error"]["type"] == "Timeout", result
    assert result["durationMs"] < 1500, "the Timeout came after %s ms, not near timeoutMs 300" % result["durationMs"]
    timeout = edge.event("function.timeout", lambda e: e["function"] == "hang", since=since)
    assert timeout["timeoutMs"] == 300 and timeout["invocationId"] == result["invocationId"], timeout

    new_pid = running_pid(edge, "hang", since, exclude=(pid,))
    h.poll_until(lambda: not h.process_alive(pid), 10, "the hung instance %d to be gone" % pid)
    assert new_pid != pid and h.process_alive(new_pid)
    assert_ok_answers(edge)
    ready = edge.event("function.ready", lambda e: e["function"] == "hang" and e["pid"] == new_pid, since=since)
    assert ready["version"] == "1" and ready["startupMs"] >= 0, ready


def test_instance_ignoring_shutdown_and_sigterm_is_killed(agent, edge, misbehave_bin):
    a = agent()
    stop_timeout_ms = 300
    spec = misbehave(misbehave_bin, "ignoreterm", topic="stubborn/+/in", stopTimeoutMs=stop_timeout_ms,
                     restart=FAST_RESTART)
    since = edge.obs.mark()
    doc = deploy_with_ok(edge, misbehave_bin, "stubborn", spec)
    pid = running_pid(edge, "stubborn", since)
    answer = edge.send("stubborn/+/in", {}, "stubborn")
    assert answer["status"] == "ok" and answer["result"] == {"echo": answer["invocationId"]}, answer

    since = edge.obs.mark()
    started = time.monotonic()
    new = copy.deepcopy(doc)
    new["revision"] = 2
    del new["functions"]["stubborn"]
    edge.publish_deployment(new)
    grace = stop_timeout_ms / 1000 + 2.0  # shutdown, SIGTERM after stopTimeoutMs, SIGKILL 2 s later
    h.poll_until(lambda: not h.process_alive(pid), grace + 3.0,
                 "the instance that ignores shutdown and SIGTERM (pid %d) to be killed" % pid)
    gone_after = time.monotonic() - started
    # It ignores shutdown, SIGTERM and the closed channel: only the SIGKILL at the end ends it.
    assert gone_after >= grace - 0.2, "gone %.2f s after the undeployment, before the SIGKILL was due" % gone_after
    a.wait_log(r"function instance exited[^\n]* pid=%d\b[^\n]*killed by signal 9\b" % pid,
               what="the agent to log pid %d killed by SIGKILL" % pid)
    status = edge.final_status(new["deploymentId"], 2, since=since)
    assert status["status"] == "SUCCEEDED", status
    assert_ok_answers(edge)


def test_daemonised_grandchild_goes_with_its_function(agent, edge, misbehave_bin):
    h.require_cgroups()
    agent()
    pidfile = h.world_writable_dir("pidfiles") / "grandchild.pid"
    spec = misbehave(misbehave_bin, "grandchild", topic="gc/+/in", stopTimeoutMs=300,
                     environment={"GRANDCHILD_PIDFILE": str(pidfile)}, restart=FAST_RESTART)
    since = edge.obs.mark()
    doc = deploy_with_ok(edge, misbehave_bin, "gc", spec)
    pid = running_pid(edge, "gc", since)
    text = h.poll_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
                        "the grandchild's pid in %s" % pidfile)
    grandchild = int(text)
    try:
        answer = edge.send("gc/+/in", {}, "gc")
        assert answer["status"] == "ok" and answer["result"] == {"grandchild": grandchild}, answer
        assert h.process_alive(grandchild), "the grandchild %d died while its function is deployed" % grandchild
        # It left the function's session and process group (setsid), so only its cgroup ties it
        # to the function.
        fields = h.proc_stat(grandchild)
        assert int(fields[3]) == grandchild and int(fields[2]) == grandchild, fields
        version = cgroup_version(edge, [])
        group = function_cgroup(pid, "pids", version, edge.thing)
        assert grandchild in h.cgroup_tree_procs(group), (grandchild, group)

        undeploy(edge, doc, "gc")
        h.poll_until(lambda: not h.process_alive(grandchild), 10,
                     "the daemonised grandchild %d to be gone after its function was undeployed" % grandchild)
        assert not h.process_alive(pid)
        assert_ok_answers(edge)
    finally:
        h.kill_quietly(grandchild)


def test_grandchild_left_by_a_function_that_exits_is_killed(agent, edge, misbehave_bin):
    """A function that daemonises a grandchild and exits on its own: the agent kills what it left
    behind (through its cgroup) before reaping it, and reports the exit."""
    h.require_cgroups()
    agent()
    pidfile = h.world_writable_dir("pidfiles") / "orphan.pid"
    spec = misbehave(misbehave_bin, "orphaner", topic="orphan/+/in",
                     environment={"GRANDCHILD_PIDFILE": str(pidfile)},
                     restart={"maxFailures": 1, "backoffMs": 0})
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "orphan", spec, expect=("SUCCEEDED", "FAILED"))
    text = h.poll_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
                        "the orphaned grandchild's pid in %s" % pidfile)
    grandchild = int(text)
    try:
        crashed = edge.event("function.crashed", lambda e: e["function"] == "orphan", since=since)
        assert "exited with code 0" in crashed["reason"], crashed
        h.poll_until(lambda: not h.process_alive(grandchild), 10,
                     "the grandchild %d to be killed once its function exited" % grandchild)
        edge.function_health("orphan", lambda f: f["state"] == "BROKEN", since=since, what="orphan BROKEN")
        assert_ok_answers(edge)
    finally:
        h.kill_quietly(grandchild)


def test_cgroups_left_by_a_killed_agent_are_cleaned_at_start(agent, edge, misbehave_bin):
    """kill -9 of the agent: its functions get SIGKILL (parent-death signal), but a daemonised
    grandchild lives on in its cgroup, until the next agent's start-up clean-up kills it."""
    h.require_cgroups()
    first = agent()
    pidfile = h.world_writable_dir("pidfiles") / "survivor.pid"
    spec = misbehave(misbehave_bin, "grandchild", topic="gc/+/in", environment={"GRANDCHILD_PIDFILE": str(pidfile)})
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "gc", spec)
    pid = running_pid(edge, "gc", since)
    grandchild = int(h.poll_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10,
                                  "the grandchild's pid in %s" % pidfile))
    try:
        first.kill()
        h.poll_until(lambda: not h.process_alive(pid), 10, "the function %d to die with its agent" % pid)
        assert h.process_alive(grandchild), "the grandchild %d should outlive the agent (nothing killed it yet)" % grandchild
        pidfile.unlink()

        second = agent()
        second.wait_log(r"removed cgroups an earlier run left", timeout=10,
                        what="the second agent's start-up clean-up")
        h.poll_until(lambda: not h.process_alive(grandchild), 10,
                     "the earlier run's grandchild %d to be killed at start" % grandchild)
        # The restored deployment runs again, in fresh cgroups.
        running_pid(edge, "gc", since=edge.obs.mark(), exclude=(pid,))
        assert_ok_answers(edge)
    finally:
        h.kill_quietly(grandchild)


def test_protocol_garbage_replaces_the_instance(agent, edge, misbehave_bin):
    agent()
    spec = misbehave(misbehave_bin, "garbage", topic="garbage/+/in", restart=FAST_RESTART)
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "garbage", spec)
    pid = running_pid(edge, "garbage", since)

    since = edge.obs.mark()
    result = edge.send("garbage/+/in", {}, "garbage")
    assert result["status"] == "error" and result["error"]["type"] == "Crashed", result
    assert "protocol error" in result["error"]["message"], result
    error = edge.event("function.protocol_error", lambda e: e["function"] == "garbage", since=since)
    assert "this is not json" in error["message"], error

    new_pid = running_pid(edge, "garbage", since, exclude=(pid,))
    h.poll_until(lambda: not h.process_alive(pid), 10, "the garbling instance %d to be gone" % pid)
    assert new_pid != pid
    fn = edge.function_health("garbage", lambda f: f["pid"] == new_pid, since=since)
    assert "protocol error" in fn["lastError"], fn
    assert_ok_answers(edge)


# ---------------------------------------------------------------------------------------------
# Privileges


WHOAMI = '''
import os

import numpy
import onnxruntime


def handler(event, context):
    return {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
            "numpy": numpy.__version__, "onnxruntime": onnxruntime.__version__}
'''


def test_functions_run_as_the_configured_function_user(agent, edge, misbehave_bin, tmp_path):
    # By default each function gets a uid of its own (test_e2e_isolation.py); functions.user
    # (--function-user) names one user for every function that names none.
    user = h.require_function_user()
    agent(extra_args=["--function-user", h.FUNCTION_USER])
    module = h.write_module(tmp_path / "src", "whoami", WHOAMI)
    since = edge.obs.mark()
    edge.deploy(h.document("caps-user", 1, {
        "ok": misbehave(misbehave_bin, "ok", topic=OK_TOPIC),
        "whoami": h.python_function(module, "whoami.handler", subscriptions=["who/+/in"]),
    }))
    pid = running_pid(edge, "ok", since)
    assert h.uids_of(pid) == [user.pw_uid] * 4, "ok runs with uids %s, not %s's %d" % (
        h.uids_of(pid), h.FUNCTION_USER, user.pw_uid)
    fn = edge.function_health("ok", lambda f: f.get("pid") == pid, since=since)
    assert fn["user"] == h.FUNCTION_USER, fn
    assert_ok_answers(edge)

    # A Python function, as that user, with the function interpreter's packages.
    answer = edge.send("who/+/in", {}, "whoami")
    assert answer["status"] == "ok", answer
    body = answer["result"]
    assert body["uid"] == user.pw_uid and body["euid"] == user.pw_uid, body
    assert 0 not in body["groups"], "root's group is still among the function's groups: %s" % body
    assert body["numpy"] and body["onnxruntime"], body


def test_unknown_function_user_is_rejected(agent, edge, misbehave_bin):
    h.require_function_user()
    agent()
    ok = misbehave(misbehave_bin, "ok", topic=OK_TOPIC)
    edge.deploy(h.document("caps-users", 1, {"ok": ok}))

    bad = h.document("caps-users", 2, {"ok": ok, "nobody": misbehave(misbehave_bin, "ok", user="no-such-user-xyz")})
    status = edge.deploy(bad, expect="REJECTED")
    assert names_field(status, "functions.nobody.user"), status
    assert "no-such-user-xyz" in str(status), status
    assert_ok_answers(edge)
    health = edge.health(lambda j: j["status"] == "online" and "ok" in j["functions"])
    assert "nobody" not in health["functions"], health


def test_root_function_user_is_rejected_without_allow_root_functions(agent, edge, misbehave_bin):
    h.require_function_user()
    agent()
    ok = misbehave(misbehave_bin, "ok", topic=OK_TOPIC)
    edge.deploy(h.document("caps-root", 1, {"ok": ok}))

    doc = h.document("caps-root", 2, {"ok": ok, "rooty": misbehave(misbehave_bin, "ok", topic="rooty/+/in",
                                                                    user="root")})
    status = edge.deploy(doc, expect="REJECTED")
    assert names_field(status, "functions.rooty.user"), status
    assert_ok_answers(edge)


def test_root_function_user_runs_with_allow_root_functions(agent, edge, misbehave_bin):
    user = h.require_function_user()
    agent(extra_args=["--allow-root-functions"])
    since = edge.obs.mark()
    edge.deploy(h.document("caps-root", 1, {
        "ok": misbehave(misbehave_bin, "ok", topic=OK_TOPIC),
        "rooty": misbehave(misbehave_bin, "ok", topic="rooty/+/in", user="root"),
    }))
    pid = running_pid(edge, "rooty", since)
    assert h.uids_of(pid) == [0, 0, 0, 0], h.uids_of(pid)
    fn = edge.function_health("rooty", lambda f: f.get("pid") == pid, since=since)
    assert fn["user"] == "root", fn
    answer = edge.send("rooty/+/in", {}, "rooty")
    assert answer["status"] == "ok" and answer["result"] == {"echo": answer["invocationId"]}, answer
    # The flag allows root; it does not make root the default: ok runs under a uid of its own.
    ok_uids = h.uids_of(running_pid(edge, "ok", since))
    assert ok_uids[0] != 0 and ok_uids[0] != user.pw_uid and len(set(ok_uids)) == 1, ok_uids


def names_field(status, path):
    """True when the status document names `path` as the field at fault (in errors or reason)."""
    return any(e.get("path") == path for e in status.get("errors", [])) or path in status.get("reason", "")


# ---------------------------------------------------------------------------------------------
# No cgroups


def test_cgroups_off_rejects_memory_limits(agent, edge, misbehave_bin):
    agent(extra_args=["--cgroups", "off"])
    ok = misbehave(misbehave_bin, "ok", topic=OK_TOPIC)
    edge.deploy(h.document("caps-off", 1, {"ok": ok}))
    health = edge.health(lambda j: j["status"] == "online" and "cgroups" in j)
    assert health["cgroups"]["version"] == "none" and health["cgroups"]["reason"], health["cgroups"]

    capped = misbehave(misbehave_bin, "ok", topic="capped/+/in", limits={"memoryMB": 64})
    status = edge.deploy(h.document("caps-off", 2, {"ok": ok, "capped": capped}), expect="REJECTED")
    path = "functions.capped.limits.memoryMB"
    errors = [e for e in status.get("errors", []) if e.get("path") == path]
    assert errors or path in status.get("reason", ""), status
    assert "allowUncapped" in (errors[0]["message"] if errors else status["reason"]), status
    assert_ok_answers(edge)


def test_allow_uncapped_runs_limits_without_cgroups(agent, edge, misbehave_bin):
    agent(extra_args=["--cgroups", "off", "--allow-uncapped"])
    capped = misbehave(misbehave_bin, "ok", topic="capped/+/in", limits={"memoryMB": 64})
    since = edge.obs.mark()
    edge.deploy(h.document("caps-off", 1, {"ok": misbehave(misbehave_bin, "ok", topic=OK_TOPIC),
                                           "capped": capped}))
    answer = edge.send("capped/+/in", {}, "capped")
    assert answer["status"] == "ok" and answer["result"] == {"echo": answer["invocationId"]}, answer
    health = edge.health(lambda j: j["status"] == "online" and "cgroups" in j
                         and j["functions"].get("capped", {}).get("state") == "RUNNING", since=since)
    assert health["cgroups"]["version"] == "none" and health["cgroups"]["reason"], health["cgroups"]
    assert_ok_answers(edge)


# ---------------------------------------------------------------------------------------------
# CPU time per invocation, and one subtree per agent

BURNER = """import time

def handler(event, context):
    # Burns CPU in this process (RLIMIT_CPU counts the process's own time) for event["seconds"].
    end = time.process_time() + event["seconds"]
    while time.process_time() < end:
        pass
    return {"burned": event["seconds"]}
"""


def check_cpu_budget(edge, misbehave_bin, extra_fields, reason_mark):
    module = h.write_module("burner-src", "burner", BURNER)
    spec = h.python_function(module, "burner.handler", subscriptions=["burn/+/in"], lifecycle="on-demand",
                             timeoutMs=20000, limits={"cpuSeconds": 2}, restart=FAST_RESTART, **extra_fields)
    deploy_with_ok(edge, misbehave_bin, "burner", spec)
    pids = set()
    for n in range(3):
        # 3 x 1.2 s: more than the budget in all, less than it each time.
        result = edge.send("burn/+/in", {"seconds": 1.2}, "burner", timeout=30)
        assert result["status"] == "ok", "invocation %d of 1.2 s CPU under cpuSeconds 2 failed: %s" % (n, result)
        pids.add(edge.function_health("burner", lambda f: f.get("pid"), what="burner's pid")["pid"])
    assert len(pids) == 1, "the on-demand instance was replaced between invocations: %s" % pids

    since = edge.obs.mark()
    started = time.monotonic()
    result = edge.send("burn/+/in", {"seconds": 30}, "burner", timeout=30)
    assert result["status"] == "error" and result["error"]["type"] == "Crashed", result
    assert time.monotonic() - started < 10, "the over-budget invocation ran %.1f s" % (time.monotonic() - started)
    crashed = edge.event("function.crashed", lambda e: e["function"] == "burner", since=since)
    assert "limits.cpuSeconds: 2" in crashed["reason"] and reason_mark in crashed["reason"], crashed
    assert_ok_answers(edge)


def test_cpu_seconds_is_a_budget_per_invocation(agent, edge, misbehave_bin):
    """cpuSeconds bounds each invocation, not the process's life: invocations that each stay under
    it succeed however many there are, and one that runs past it is killed: by the kernel
    (SIGXCPU) where the agent has CAP_SYS_RESOURCE, by the agent's own watch where it has not (as
    on the test machines, whose root lacks it)."""
    agent()
    check_cpu_budget(edge, misbehave_bin, {}, "was killed")


def test_two_agents_never_share_a_cgroup_subtree(agent, edge, misbehave_bin):
    """A second agent given the first one's subtree must not clean it up (which would kill the
    first one's functions): it runs without cgroups and says why."""
    h.require_cgroups()
    first = agent()
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "quiet", misbehave(misbehave_bin, "ok", topic="quiet/+/in"))
    pid = running_pid(edge, "quiet", since)

    other = agent(thing_name=h.unique("dev-"), state_dir="state-second",
                  extra_args=["--cgroup-root", h.cgroup_root(edge.thing)])
    other.wait_log(r"cgroup caps are off.*in use by another edge-agent", timeout=10,
                   what="the second agent refusing the first one's cgroup subtree")
    assert h.process_alive(pid), "the second agent's start-up killed the first agent's function %d" % pid
    assert edge.send("quiet/+/in", {}, "quiet")["status"] == "ok"
    assert first.proc.poll() is None


def test_an_exec_that_fails_is_reported_as_such_not_as_a_crash(agent, edge, misbehave_bin):
    """The child's exec fails (a file that is not executable): the spawn shim reports the errno,
    and status, health and events say "cannot execute X: permission denied"."""
    agent()
    target = h.shared_path("noexec") / "not-a-program"
    target.write_text("data, mode 0644: readable, not executable\n")
    target.chmod(0o644)
    expected = "cannot execute %s: permission denied" % target
    spec = {"version": "1", "command": [str(target)], "restart": {"maxFailures": 1, "backoffMs": 0}}
    since = edge.obs.mark()
    doc = h.document("exec-fails", 1, {"noexec": spec, "ok": misbehave(misbehave_bin, "ok", topic=OK_TOPIC)},
                     onFailure="none")
    edge.publish_deployment(doc)
    status = edge.final_status("exec-fails", 1, since=since)
    assert status["status"] == "FAILED", status
    assert expected in status["reason"], status
    crashed = edge.event("function.crashed", lambda e: e["function"] == "noexec", since=since)
    assert crashed["reason"] == expected, crashed
    health = edge.function_health("noexec", lambda f: f["state"] == "BROKEN", since=since, what="noexec BROKEN")
    assert health["lastError"] == expected, health
    assert_ok_answers(edge)
