"""report.md and the closing summary of `edge-model fit` (edge_model/fit_report.py), from a report
as fit.py builds it.

  python3 -m pytest -q tools/edge-model/tests
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edge_model import fit_report  # noqa: E402


def trial(number, purpose, memory, passed, verdict="ok", oom=0, status="SUCCEEDED", answered=4):
    return {"trial": number, "purpose": purpose, "limits": {"memoryMB": memory, "cpus": None, "pids": 1024},
            "status": status, "answered": answered, "errors": 0, "sent": answered, "oomKills": oom,
            "peakMemoryBytes": 54 << 20 if passed else None, "peakPids": 2 if passed else None,
            "cpuThrottledUsec": 250000 if passed else None, "p99Ms": 71.5 if passed else None,
            "score": 1.0 if passed else None, "passed": passed, "verdict": verdict}


REPORT = {
    "deployment": "/x/deployment.json", "function": "hog", "thing": "dev1", "task": "/x/task.py", "metric": "echo",
    "count": 4, "latencyTargetMs": None, "memoryMarginPercent": 20.0, "memoryStepMB": 4, "memoryCeilingMB": 128,
    "chosen": "small", "deploymentWritten": "/x/fit/deployment.json",
    "leftDeployed": {"trial": 3, "deploymentId": "hog.fit.small.3", "revision": 9},
    "plots": ["accuracy-latency-memory.png", "memory.png"],
    "variants": [
        {"name": "small", "sizeBytes": 12, "accuracy": 1.0, "p50Ms": 47.1, "p99Ms": 55.2, "peakMemoryMB": 29.9,
         "minimumMemoryMB": 32, "memoryMB": 40, "cpus": None, "pids": 5, "verified": True, "fits": True,
         "trials": [1, 2, 3]},
        {"name": "huge", "sizeBytes": 2_500_000, "accuracy": None, "fits": False, "verified": False,
         "reason": "does not fit at the ceiling, memoryMB 128: OOM kill at start: ROLLED_BACK (raise --memory-ceiling)",
         "trials": [4]},
    ],
    "trials": [trial(1, "baseline", 128, True), trial(2, "memory", 28, False, "OOM kill at start: ROLLED_BACK", 1,
                                                       "ROLLED_BACK", 0),
               trial(3, "verify", 40, True),
               trial(4, "baseline", 128, False, "OOM kill at start: ROLLED_BACK", 1, "ROLLED_BACK", 0)],
}


def test_the_table_has_a_row_per_variant_and_marks_the_choice():
    text = fit_report.markdown(REPORT)
    assert "| small **(chosen)** | 12 B | 100.0 % | 47.1 ms | 55.2 ms | 29.9 MB | 32 | 40 | – | 5 | yes |" in text
    assert "| huge | 2.50 MB | – |" in text
    assert "- huge: does not fit at the ceiling" in text
    assert "![memory.png](memory.png)" in text


def test_every_trial_is_listed_under_its_variant():
    text = fit_report.markdown(REPORT)
    small, huge = text.split("### small")[1].split("### huge")
    assert "| 2 | memory | memoryMB 28, pids 1024 | ROLLED_BACK | 0/0 | 1 | – | – | – | – | – | OOM kill at start" in small
    assert "| 1 | baseline | memoryMB 128, pids 1024 | SUCCEEDED | 4/4 | 0 | 54.0 MB | 2 | 0.25 s | 71.5 ms | 100.0 % | fits |" \
        in small
    assert "| 4 | baseline" in huge and "| 1 | baseline" not in huge


def test_the_summary_says_what_was_chosen_and_what_the_thing_runs():
    text = fit_report.summary(REPORT)
    assert "memoryMB 40 (held at 32)" in text
    assert "huge           does not fit: does not fit at the ceiling" in text
    assert "dev1 now runs fit's trial 3 (hog.fit.small.3 revision 9); to run the limits found: " \
           "edgectl deploy /x/fit/deployment.json --thing dev1" in text
