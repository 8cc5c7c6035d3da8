"""The table of an A/B (scripts/bench-ab.sh): the figures of two revisions side by side, one
column per revision, each cell the rounds' values in order ("a / b"), so that the spread between
rounds of one revision shows beside the difference between the revisions."""

import argparse
import json
import re
from pathlib import Path

from .figures import fmt_ms

RECORD = re.compile(r"^(?P<part>[a-z]+)-(?P<rev>[A-Za-z0-9_.]+)-(?P<round>\d+)\.json$")


def _invocation_rows(part):
    """(label, value) for every run of an invocation record."""
    rows = []
    for run in part.get("runs", []):
        label = "%s QoS %d %s" % (run["target"], run["qos"],
                                  "saturation" if run.get("mode") == "saturation" or not run.get("targetRate")
                                  else "%d/s" % run["targetRate"])
        if run.get("skipped"):
            rows.append((label + ": answers/s", "skipped"))
            continue
        answers = run["throughput"]
        rows.append((label + ": answers/s", "%.0f" % answers))
        rows.append((label + ": p99 ms", fmt_ms(run["latencyMs"]["p99"])))
        rows.append((label + ": errors + missing", str(run.get("errors", 0) + run.get("missing", 0))))
        agent = run.get("cpuPercent", {}).get("agent")
        if run["target"] != "baseline" and agent and answers:
            rows.append((label + ": agent CPU per answer, µs", "%.0f" % (agent / 100.0 / answers * 1e6)))
    return rows


def _deployment_rows(part):
    """The median of every timed figure of every case (fresh, cached, python)."""
    rows = []
    for case, figures in part.get("cases", {}).items():
        for name, summary in figures.items():
            if isinstance(summary, dict) and summary.get("median") is not None:
                rows.append(("%s: %s median" % (case, name), fmt_ms(summary["median"])))
    return rows


def _generic_rows(part, prefix=""):
    """Every number at the top of a part's record (footprint, fleet), flattened."""
    rows = []
    for key, value in sorted(part.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((prefix + key, "%g" % value))
        elif isinstance(value, dict) and not prefix:
            rows.extend(_generic_rows(value, key + "."))
    return rows


def rows_of(part_name, record):
    part = record.get("parts", {}).get(part_name, {})
    if part_name == "invocation":
        return _invocation_rows(part)
    if part_name == "deployment":
        return _deployment_rows(part) or _generic_rows(part)
    return _generic_rows(part)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", required=True, help="revision A's name in the records")
    parser.add_argument("--b", required=True, help="revision B's name in the records")
    parser.add_argument("records", nargs="+", type=Path)
    args = parser.parse_args()
    values = {}  # (part, label) -> {rev: [value by round]}
    order = []
    for path in args.records:
        if not RECORD.match(path.name):
            raise SystemExit("ab: %s is not named PART-REV-ROUND.json" % path)
    for path in sorted(args.records, key=lambda p: int(RECORD.match(p.name)["round"])):
        match = RECORD.match(path.name)
        record = json.loads(path.read_text())
        for label, value in rows_of(match["part"], record):
            key = (match["part"], label)
            if key not in values:
                values[key] = {}
                order.append(key)
            values[key].setdefault(match["rev"], []).append(value)
    print("| part | figure | %s | %s |" % (args.a, args.b))
    print("|---|---|---:|---:|")
    for part, label in order:
        cells = [" / ".join(values[(part, label)].get(rev, ["—"])) for rev in (args.a, args.b)]
        print("| %s | %s | %s | %s |" % (part, label, cells[0], cells[1]))


if __name__ == "__main__":
    main()
