"""The cgroup hierarchies mounted here (v1 and v2), the cgroup a process is in, and the removal
of what an agent left in its subtree (`--cgroup-root`)."""

import os
import re
import time
from pathlib import Path

from .processes import kill_quietly
from .waits import HarnessError

KNOWN_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "io", "devices", "freezer",
                        "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}

# The end-to-end tests give every agent `--cgroup-root /edge-e2e/<thing>`, so each test's cgroups
# are its own and teardown can find what is left of them.
CGROUP_PARENT = "edge-e2e"


class CgroupMount:
    """One mounted hierarchy: its version, mount point, the path of its root and its controllers."""

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


def cgroup_root(thing):
    """The --cgroup-root the end-to-end tests give the agent of `thing`."""
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


def cgroup_dirs(cgroup_path):
    """The folders of `cgroup_path` (absolute from the hierarchies' roots) that exist, one per
    hierarchy that shows it."""
    found = []
    for mount in cgroup_mounts():
        directory = mount.directory(cgroup_path)
        if directory is not None and directory.is_dir() and directory not in found:
            found.append(directory)
    return found


def cgroup_cpu_seconds(cgroup_path):
    """CPU time of everything in the cgroup `cgroup_path` and below, in nanosecond precision
    (v1 cpuacct.usage, v2 cpu.stat usage_usec); None where no hierarchy shows it with that figure."""
    for mount in cgroup_mounts():
        directory = mount.directory(cgroup_path)
        if directory is None:
            continue
        try:
            if mount.version == "v1" and "cpuacct" in mount.controllers:
                return int((directory / "cpuacct.usage").read_text()) / 1e9
            if mount.version == "v2" and (directory / "cpu.stat").exists():
                for line in (directory / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        except (OSError, ValueError):
            continue
    return None


def remove_cgroup_tree(cgroup_path, timeout=10.0):
    """Teardown, best effort: the cgroup `cgroup_path` and everything below it, in every
    hierarchy, removed bottom-up after killing whatever is still in them. Returns the folders that
    are still there at the deadline."""
    left = []
    for top in cgroup_dirs(cgroup_path):
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
        if top.is_dir():
            left.append("%s (not empty after %.0f s)" % (top, timeout))
    return left


def remove_cgroups(thing, timeout=10.0):
    """Teardown of an end-to-end test, best effort: the cgroups an agent of `thing` left under its
    --cgroup-root (see remove_cgroup_tree), then the shared /edge-e2e parent once no agent uses it."""
    remove_cgroup_tree(cgroup_root(thing), timeout)
    for parent in cgroup_dirs("/" + CGROUP_PARENT):
        try:
            parent.rmdir()
        except OSError:
            pass
