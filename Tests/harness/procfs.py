"""Readers of /proc: processes, their parents and sessions, CPU time and memory, and the
machine's CPU time. A process that is gone reads as None (or, where a figure is needed, raises
OSError: see each function)."""

import os
from pathlib import Path

from .waits import HarnessError

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, session, ...), or
    None once it is gone. The name is in parentheses and may hold spaces: parsed after the last ')'."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def process_table():
    """pid -> the fields of its /proc/PID/stat (see proc_stat), for every live (non-zombie) process,
    from one pass over /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields is not None and fields[0] != "Z":
                table[int(entry)] = fields
    return table


def children_of(pid):
    """Live (non-zombie) processes whose parent is `pid`, from /proc."""
    return [child for child, fields in process_table().items() if int(fields[1]) == pid]


def session_members(sid):
    """Live (not zombie) pids whose session id is `sid`: a function and everything it started that
    did not leave its session."""
    return [member for member, fields in process_table().items() if int(fields[3]) == sid]


def process_alive(pid):
    """True while `pid` exists and is not a zombie."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def cmdline_of(pid):
    try:
        return Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_ticks(pid):
    """utime + stime of `pid` in clock ticks, or None once it is gone."""
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else None


def cpu_seconds(pid):
    """utime + stime of `pid` (all its threads) in seconds; OSError once it is gone."""
    ticks = cpu_ticks(pid)
    if ticks is None:
        raise OSError("process %d is gone" % pid)
    return ticks / CLOCK_TICKS


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


def kv_kb(path, names):
    """Values in kB of the `Name:   123 kB` lines of a /proc file."""
    found = {}
    for line in Path(path).read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            found[key] = int(rest.split()[0])
    return found


def memory_of(pid):
    """VmRSS, VmHWM and threads (status), Rss, Pss and Anonymous (smaps_rollup), in kB, and the
    open descriptors of `pid`; OSError once it is gone."""
    status = kv_kb("/proc/%d/status" % pid, ("VmRSS", "VmHWM", "Threads"))
    rollup = kv_kb("/proc/%d/smaps_rollup" % pid, ("Rss", "Pss", "Anonymous"))
    return {"vmRssKB": status.get("VmRSS"), "vmHwmKB": status.get("VmHWM"), "threads": status.get("Threads"),
            "rssKB": rollup.get("Rss"), "pssKB": rollup.get("Pss"), "anonymousKB": rollup.get("Anonymous"),
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def rss_kb(pid):
    """The resident set of `pid` in kB (from /proc/PID/stat), 0 once it is gone."""
    fields = proc_stat(pid)
    try:
        return int(fields[21]) * PAGE_KB
    except (TypeError, ValueError, IndexError):
        return 0


def cpu_times():
    """The machine's CPU time by state (user, nice, system, idle, iowait, irq, softirq, steal…)."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
