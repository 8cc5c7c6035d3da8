"""cgroup v2 facts that only a pure v2 machine shows, run INSIDE the test VM by
test_cgroup_v2_vm.py (scripts/vm/run.sh boots it): not named test_*.py, so that the host's own
run of Tests/Integration does not collect it. The VM also runs the v1 suite's resource-cap
scenarios (test_e2e_caps.py) unchanged; these add what v2 does differently:

- the limits land in the v2 files (memory.max, memory.swap.max, memory.oom.group, cpu.max,
  pids.max) of the function's own cgroup, with the controllers enabled down to the subtree;
- stopping a function whose daemonised grandchild outlives it kills the cgroup with one write to
  cgroup.kill (seen by an inotify watch on the cgroup), not the freeze-and-kill fallback;
- the systemd unit's case (deploy/edge-agent.service, Delegate=yes): the agent started inside a
  service cgroup it was handed, with no --cgroup-root, moves itself into the leaf `agent/`,
  enables the controllers for the service cgroup's children, and runs its functions there;
- the container's case (a private cgroup namespace, Docker's default on v2): the agent at its
  namespace's root, which is not the real root, makes its subtree and moves into its leaf.
"""

from pathlib import Path

import pytest

import harness as h
from harness.inotify import WriteWatch
from test_e2e_caps import assert_ok_answers, deploy_with_ok, misbehave, running_pid, undeploy

MiB = 1 << 20
CGROUP2 = Path("/sys/fs/cgroup")
# Where the emulated systemd puts the unit's cgroup, as systemd puts system services in system.slice.
SLICE = "edge-vm.slice"


@pytest.fixture(autouse=True)
def pure_cgroup_v2():
    """These tests mean something only on a machine with cgroup v2 alone: the VM."""
    mounts = h.cgroup_mounts()
    v2 = [m for m in mounts if m.version == "v2"]
    assert v2 and not [m for m in mounts if m.version == "v1"] and str(v2[0].mountpoint) == str(CGROUP2), (
        "not a pure cgroup v2 machine (%s): run this file through Tests/Integration/test_cgroup_v2_vm.py, "
        "which boots the VM" % mounts)
    assert {"memory", "cpu", "pids"} <= set(v2[0].controllers), v2[0]


def v2_health(edge):
    cgroups = edge.health(lambda j: j["status"] == "online" and "cgroups" in j, what="health with cgroups")["cgroups"]
    assert cgroups["version"] == "v2" and set(cgroups["controllers"]) == {"memory", "cpu", "pids"}, cgroups
    assert "reason" not in cgroups, cgroups
    return cgroups


def own_cgroup(pid):
    """The v2 cgroup of `pid`, as /proc says ("/a/b")."""
    for line in Path("/proc/%d/cgroup" % pid).read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError("pid %d has no v2 cgroup" % pid)


def words(path):
    return set(Path(path).read_text().split())


def test_limits_are_written_into_the_v2_files_of_the_function_cgroup(agent, edge, misbehave_bin):
    a = agent()
    spec = misbehave(misbehave_bin, "ok", topic="capped/+/in", limits={"memoryMB": 48, "cpus": 0.5, "pids": 20})
    since = edge.obs.mark()
    deploy_with_ok(edge, misbehave_bin, "capped", spec)
    cgroups = v2_health(edge)
    subtree = CGROUP2 / h.cgroup_root(edge.thing).lstrip("/")
    assert cgroups["paths"] == [str(subtree)], cgroups
    # The agent stays in the root cgroup (the only one v2 lets hold processes and enable
    # controllers at once); every cgroup from the root down to its subtree enables the controllers.
    assert own_cgroup(a.pid) == "/", own_cgroup(a.pid)
    for folder in (CGROUP2, subtree.parent, subtree):
        assert {"memory", "cpu", "pids"} <= words(folder / "cgroup.subtree_control"), folder

    pid = running_pid(edge, "capped", since)
    folder = h.cgroup_of(pid, "memory", "v2")
    assert folder.parent == subtree and folder.name.startswith("capped."), folder
    assert (folder / "memory.max").read_text().strip() == str(48 * MiB)
    assert (folder / "memory.swap.max").read_text().strip() == "0"
    assert (folder / "memory.oom.group").read_text().strip() == "1"
    assert (folder / "cpu.max").read_text().strip() == "50000 100000"
    assert (folder / "pids.max").read_text().strip() == "20"
    fn = edge.function_health("capped", lambda f: f["usage"].get("memoryLimitBytes") == 48 * MiB
                              and f["usage"].get("pidsLimit") == 20, since=since,
                              what="capped's limits read back from its cgroup into health")
    assert fn["usage"]["memoryBytes"] > 0 and fn["usage"]["pids"] >= 1, fn
    assert_ok_answers(edge)


def test_stopping_a_function_kills_its_cgroup_through_cgroup_kill(agent, edge, misbehave_bin):
    """A function whose daemonised grandchild (own session, own process group) outlives it: on
    undeploy the agent ends the whole cgroup with one write to cgroup.kill (Linux 5.14+), which
    also catches forks in flight; the per-process fallback (cgroup.freeze, then a kill each) is
    not used."""
    agent()
    pidfile = h.world_writable_dir("pidfiles") / "grandchild.pid"
    spec = misbehave(misbehave_bin, "grandchild", topic="gc/+/in", stopTimeoutMs=300,
                     environment={"GRANDCHILD_PIDFILE": str(pidfile)})
    since = edge.obs.mark()
    doc = deploy_with_ok(edge, misbehave_bin, "gc", spec)
    v2_health(edge)
    pid = running_pid(edge, "gc", since)
    grandchild = int(h.poll_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
                                  "the grandchild's pid in %s" % pidfile))
    try:
        folder = h.cgroup_of(pid, "pids", "v2")
        assert grandchild in h.cgroup_tree_procs(folder), (grandchild, folder)
        assert (folder / "cgroup.kill").exists(), "this kernel has no cgroup.kill"
        watch = WriteWatch(folder)
        try:
            undeploy(edge, doc, "gc")
            h.poll_until(lambda: not h.process_alive(grandchild), 10,
                         "the daemonised grandchild %d to be gone after its function was undeployed" % grandchild)
            h.poll_until(lambda: not folder.exists(), 10, "the agent to remove the cgroup %s" % folder)
        finally:
            written = watch.close()
        assert "cgroup.kill" in written, "the agent never wrote %s/cgroup.kill; writes seen: %s" % (folder, written)
        assert "cgroup.freeze" not in written, "the freeze-and-kill fallback ran: %s" % written
        assert not h.process_alive(pid)
        assert_ok_answers(edge)
    finally:
        h.kill_quietly(grandchild)


class HandedCgroup:
    """A cgroup a supervisor hands the agent on a cgroup v2 machine, made by hand: `cgroup`
    below `parent`, with memory, cpu and pids enabled in every cgroup above it (so that its own
    cgroup.controllers offers them), as systemd and container runtimes do. `wrapper()` starts the
    agent inside it."""

    def __init__(self, parent, name):
        self.parent = parent
        self.cgroup = "/%s/%s" % (parent, name)
        self.folder = CGROUP2 / self.cgroup.lstrip("/")

    def create(self):
        for above in (CGROUP2, CGROUP2 / self.parent):
            above.mkdir(exist_ok=True)
            (above / "cgroup.subtree_control").write_text("+memory +cpu +pids")
        self.folder.mkdir()
        return self

    def remove(self):
        return h.remove_cgroup_tree("/" + self.parent)


class DelegatedUnit(HandedCgroup):
    """What systemd does for a unit with Delegate=yes: the unit's cgroup
    /edge-vm.slice/<unit>.service, and its main process started inside it. The unit runs as root,
    so nothing is chowned (systemd chowns the cgroup only for User=)."""

    def __init__(self, name):
        super().__init__(SLICE, name + ".service")

    def wrapper(self):
        """A command that moves itself into the unit's cgroup, then execs the rest (same pid):
        ExecStart= under systemd. The cgroup's path is an argument, never part of the script."""
        return ["/bin/sh", "-c", 'echo 0 > "$0/cgroup.procs" && exec "$@"', str(self.folder)]


class NamespacedContainer(HandedCgroup):
    """What a container runtime with a private cgroup namespace (Docker's default on cgroup v2)
    gives its process: a cgroup of its own, /edge-vm-containers/<name>, which it sees as "/", with
    cgroup2 mounted again on /sys/fs/cgroup in a mount namespace of its own."""

    def __init__(self, name):
        super().__init__("edge-vm-containers", name)

    def wrapper(self):
        """Moves itself into the container's cgroup, enters new cgroup and mount namespaces
        (unshare execs: same pid), mounts the namespace's view of cgroup2, then execs the rest.
        The paths are arguments, never part of the scripts."""
        # The outer mount goes first (mount(8) refuses a second cgroup2 on the same place), as
        # in a container, whose mount namespace never had it.
        inside = 'umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"'
        return ["/bin/sh", "-c",
                'echo 0 > "$0/cgroup.procs" && inside="$1" && shift && '
                'exec unshare --cgroup --mount --propagation private /bin/sh -c "$inside" container "$@"',
                str(self.folder), inside]


def test_agent_in_a_delegated_unit_cgroup_moves_into_a_leaf(request, agent_bin, broker, edge, misbehave_bin, thing,
                                                            python_launcher, tmp_path):
    """deploy/edge-agent.service runs the agent with Delegate=yes and no cgroups.root: its
    subtree is the unit's own cgroup. v2 lets no cgroup both hold processes and enable controllers
    for its children, so the agent moves into `<unit>/agent` first, then enables memory, cpu and
    pids in the unit's cgroup, and its functions get cgroups beside `agent/`."""
    unit = DelegatedUnit(h.unique("edge-agent-")).create()
    a = h.Agent(agent_bin, thing, broker.port, h.shared_location("state"), tmp_path / "agent.log",
                python=python_launcher, wrapper=unit.wrapper())
    request.node._edge_agents = [a]  # its log goes into the report of a failure (conftest.py)
    try:
        a.start()
        since = edge.obs.mark()
        spec = misbehave(misbehave_bin, "ok", topic="svc/+/in", limits={"memoryMB": 40, "pids": 12})
        deploy_with_ok(edge, misbehave_bin, "svc", spec)
        cgroups = v2_health(edge)
        assert cgroups["paths"] == [str(unit.folder)], cgroups

        assert own_cgroup(a.pid) == unit.cgroup + "/agent", "the agent is in %s" % own_cgroup(a.pid)
        assert (unit.folder / "cgroup.procs").read_text().split() == [], "processes left in the unit's own cgroup"
        assert {"memory", "cpu", "pids"} <= words(unit.folder / "cgroup.subtree_control")

        pid = running_pid(edge, "svc", since)
        folder = h.cgroup_of(pid, "memory", "v2")
        assert folder.parent == unit.folder and folder.name.startswith("svc."), folder
        assert (folder / "memory.max").read_text().strip() == str(40 * MiB)
        assert (folder / "pids.max").read_text().strip() == "12"
        assert edge.send("svc/+/in", {}, "svc")["status"] == "ok"
        assert_ok_answers(edge)

        # systemctl stop: SIGTERM to the main process. The agent stops its functions and removes
        # their cgroups; the unit's cgroup is systemd's, so it stays, with the agent's leaf.
        assert a.stop() == 0, h.tail(a.log_text())
        assert not h.process_alive(pid)
        left = sorted(p.name for p in unit.folder.iterdir() if p.is_dir())
        assert left == ["agent"], "cgroups left in the unit's cgroup after the agent stopped: %s" % left
        assert h.cgroup_tree_procs(unit.folder) == set(), "processes left in %s" % unit.folder
        # Then systemd removes the unit's cgroup, the delegated part included: nothing holds it.
        (unit.folder / "agent").rmdir()
        unit.folder.rmdir()
    finally:
        a.cleanup()
        left = unit.remove()
        assert not left, left


def test_agent_at_a_cgroup_namespace_root_moves_into_a_leaf(request, agent_bin, broker, edge, misbehave_bin, thing,
                                                             python_launcher, tmp_path):
    """The agent in a container with a private cgroup namespace: its cgroup is the namespace's
    root, which is not the real root, so v2 forbids it to hold processes while it enables
    controllers for its children. The agent makes /edge-agent-<thing>, moves itself into its leaf
    `agent/`, and enables the controllers from the namespace root down."""
    container = NamespacedContainer(h.unique("ctr-")).create()
    a = h.Agent(agent_bin, thing, broker.port, h.shared_location("state"), tmp_path / "agent.log",
                python=python_launcher, wrapper=container.wrapper())
    request.node._edge_agents = [a]  # its log goes into the report of a failure (conftest.py)
    subtree = container.folder / ("edge-agent-" + thing)
    try:
        a.start()
        since = edge.obs.mark()
        spec = misbehave(misbehave_bin, "ok", topic="ctr/+/in", limits={"memoryMB": 40, "pids": 12})
        deploy_with_ok(edge, misbehave_bin, "ctr", spec)
        cgroups = v2_health(edge)
        # Paths as the agent sees them, in its own mount of its namespace's cgroup2.
        assert cgroups["paths"] == ["/sys/fs/cgroup/edge-agent-" + thing], cgroups

        assert own_cgroup(a.pid) == "%s/edge-agent-%s/agent" % (container.cgroup, thing), own_cgroup(a.pid)
        assert (container.folder / "cgroup.procs").read_text().split() == [], "processes left in the namespace root"
        for folder in (container.folder, subtree):
            assert {"memory", "cpu", "pids"} <= words(folder / "cgroup.subtree_control"), folder

        pid = running_pid(edge, "ctr", since)
        folder = h.cgroup_of(pid, "memory", "v2")
        assert folder.parent == subtree and folder.name.startswith("ctr."), folder
        assert (folder / "memory.max").read_text().strip() == str(40 * MiB)
        assert (folder / "pids.max").read_text().strip() == "12"
        assert_ok_answers(edge)

        assert a.stop() == 0, h.tail(a.log_text())
        assert not h.process_alive(pid)
        assert h.cgroup_tree_procs(container.folder) == set(), "processes left in %s" % container.folder
        left = sorted(p.name for p in subtree.iterdir() if p.is_dir())
        assert left == ["agent"], "cgroups left in the agent's subtree after it stopped: %s" % left
    finally:
        a.cleanup()
        left = container.remove()
        assert not left, left
