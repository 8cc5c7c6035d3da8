"""What the drivers report beside their own figures: statistics of samples, the machine they ran
on, and the formatting of the tables."""

import json
import os
import platform
from pathlib import Path

from harness import kv_kb


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


def fmt_ms(value):
    return "—" if value is None else ("%.2f" % value)


def fmt_mb(kb):
    return "—" if kb is None else ("%.1f MB" % (kb / 1024.0))


def machine():
    """CPUs, their model, memory, kernel, distribution and load averages."""
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


def machine_line(info):
    """The report's line about the machine (`info` from machine())."""
    return "- machine: %d CPUs (%s), %d MB RAM, Linux %s, %s" % (
        info["nproc"], info["cpuModel"] or "?", info["memTotalMB"], info["kernel"], info["os"])


REPO = Path(__file__).resolve().parent.parent


def shown_command(argv):
    """A command line for the record, with paths inside the repository made relative to it, so
    that what a results file says to run works from any checkout (run from its root)."""
    root = str(REPO) + os.sep
    return " ".join(str(arg)[len(root):] if str(arg).startswith(root) else str(arg) for arg in argv)


def write_figures(figures, lines, out):
    """Prints the report (`lines`), keeps it in the figures as `table`, and writes them to `out` as JSON."""
    text = "\n".join(lines)
    print(text)
    print("\nfigures written to %s" % out)
    figures["table"] = text
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=1) + "\n")


def _os_name():
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def cpu_shares(before, after):
    """From two readings of the machine's CPU times (harness.cpu_times): the % the CPUs were busy
    and the % stolen by the hypervisor (time it gave to others while this VM wanted to run:
    figures are slower then), over the first eight states."""
    spent = [b - a for a, b in zip(before, after)]
    total = max(1, sum(spent[:8]))
    steal = round(100.0 * spent[7] / total, 2) if len(spent) > 7 else None
    busy = round(100.0 * (sum(spent[:8]) - spent[3] - spent[4]) / total, 1)
    return busy, steal
