"""The benchmark suite: footprint, invocation path, deployment time and a fleet, each part with
its own Mosquitto and agents, then the goals against the figures of Greengrass. Run it through
`bash scripts/bench.sh` (or `bash scripts/bench.sh PART`), which builds the release binaries,
compiles the native function and makes the work folder; docs/benchmarks.md says what each
figure means and how it was taken. Each part is a module of benchmarks/suite/ with its settings
(environment variables), a `run(ctx)` and a docstring that says what it measures.

A part that fails is reported with its error and the others still run; the exit code is 1 then.
"""

import argparse
import importlib
import json
import subprocess
import time
import traceback
from pathlib import Path

from harness import HarnessError, cpu_times

from .driver import add_common_arguments, run
from .figures import machine, machine_line
from .settings import BenchError
from .suite.context import Context

PARTS = ("footprint", "invocation", "deployment", "fleet", "cluster", "offline", "soak")
SETTINGS = {"BENCH_TIMEOUT": (60, 60, "deadline in seconds of each wait")}
MODULES = {name: importlib.import_module(".suite." + name, __package__) for name in PARTS}
for module in MODULES.values():
    SETTINGS.update(module.SETTINGS)

# What the systems we compete with publish (../shared/DESIGN.md, their own documentation).
ANCHORS = {
    "memory": "Greengrass nucleus lite: 12.4–15.8 MB (9 daemons, summed); Java nucleus: ≥ 96 MB",
    "start": "Greengrass nucleus lite: 1.33 s on x86_64; Java nucleus: seconds",
}


def _goal_rows(goals):
    lines = ["### Goals", "",
             "Figures this run measured against the goals of the issue; the anchors are the published figures "
             "of AWS IoT Greengrass (see docs/benchmarks.md).", "",
             "| what | goal | this run | met | anchor |", "|---|---|---:|---|---|"]
    for goal in goals:
        lines.append("| %s | %s | %s | %s | %s |" % (goal["what"], goal["goal"], goal["figure"],
                                                     "yes" if goal["met"] else "**no**", goal.get("anchor", "")))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "", edgectl_required=True)
    parser.add_argument("--loadgen", required=True, help="the edge-loadgen binary")
    parser.add_argument("--echo", required=True, help="the compiled native echo function")
    parser.add_argument("--examples-dir", required=True)
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated, from: " + ", ".join(PARTS))
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise BenchError("unknown part(s) %s: choose from %s" % (", ".join(unknown), ", ".join(PARTS)))

    started = time.monotonic()
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cpu_at_start = cpu_times()
    host = machine()

    def log(text):
        print("[%6.1fs] %s" % (time.monotonic() - started, text), flush=True)

    ctx = Context(args, SETTINGS, log)
    results, problems, notes, goals = {}, [], [], []
    for name in parts:
        log("== %s" % name)
        part_started = time.monotonic()
        try:
            outcome = MODULES[name].run(ctx)
            outcome["json"]["durationSeconds"] = round(time.monotonic() - part_started, 1)
            results[name] = outcome
            problems += outcome.get("problems", [])
            notes += outcome.get("notes", [])
            goals += outcome.get("goals", [])
        except (HarnessError, OSError, ValueError, KeyError, subprocess.SubprocessError) as error:
            detail = str(error) if isinstance(error, HarnessError) else traceback.format_exc()
            problems.append("%s failed: %s" % (name, detail))
            log("%s failed: %s" % (name, detail))
        finally:
            problems += ctx.stop_all()
    for goal in goals:
        if "resident memory" in goal["what"]:
            goal["anchor"] = ANCHORS["memory"]
        elif "start" in goal["what"]:
            goal["anchor"] = ANCHORS["start"]

    cpu_at_end = cpu_times()
    busy = [b - a for a, b in zip(cpu_at_start, cpu_at_end)]
    total = sum(busy) or 1
    settings = {name: ctx.setting(name) for name in SETTINGS}
    header = ["## The suite: `%s`" % args.command, "",
              machine_line(host),
              "- agent: %s, release build" % args.revision,
              "- run: %s UTC, %.0f s; all CPUs %.1f %% busy, %.2f %% steal; load average at start %s"
              % (started_wall, time.monotonic() - started, 100.0 * (total - busy[3] - busy[4]) / total,
                 100.0 * (busy[7] if len(busy) > 7 else 0) / total, " ".join("%.2f" % v for v in host["loadAverage"])),
              ""]
    body = header + _goal_rows(goals) + [""]
    for name in parts:
        if name in results:
            body += [results[name]["table"], ""]
    if notes:
        body += ["### Notes", ""] + ["- " + n for n in notes] + [""]
    if problems:
        body += ["### Problems", ""] + ["- " + p for p in problems] + [""]
    table = "\n".join(body)
    print()
    print(table)
    record = {"benchmark": "suite", "date": started_wall, "command": args.command, "agentRevision": args.revision,
              "machine": host, "settings": settings, "durationSeconds": round(time.monotonic() - started, 1),
              "goals": goals, "parts": {name: results[name]["json"] for name in results}, "problems": problems,
              "notes": notes, "table": table}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print("figures written to %s; reproduce with: %s" % (args.out, args.command))
    return 1 if problems else 0


if __name__ == "__main__":
    run(main, "benchmark suite")
