"""`edge-model fit` (tools/edge-model) on the real agent under real cgroups: a Python function whose
memory need is known (it touches NEED MiB at init and again on each event, the size read from an
artifact that each variant replaces) is fitted, and the memoryMB found must lie just above that
need; a smaller trial is recorded as an OOM kill; the deployment written carries the limits and
the chosen variant's artifact. The run is the tool's own command line, as an operator runs it."""

import json
import os
import subprocess
import sys

import harness as h

HOG = '''
import json, os

def _need():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "need.json")) as f:
        return json.load(f)["mib"] << 20

_block = None

def _touch():
    # bytearray repetition writes every byte: the pages are resident, not merely reserved. The old
    # block goes first, so the need stays one block.
    global _block
    _block = None
    _block = bytearray(b"\\x5a") * _need()

def init(context):
    _touch()

def handler(event, context):
    _touch()
    return {"id": event.get("id"), "n": event.get("n"), "bytes": len(_block)}
'''

TASK = '''
METRIC = "echo"

def requests(count):
    return [({"n": n}, n) for n in range(count)]

def score(results, truths):
    return sum(1 for r, t in zip(results, truths) if r and r.get("n") == t) / len(truths)
'''

# What each variant touches (MiB), and the ceiling fit starts from.
NEEDS = {"big": 48, "small": 24}
CEILING_MB = 128
STEP_MB = 4
# The smallest memoryMB that holds is the block, plus the interpreter and the runtime (11 MB
# resident measured for the function venv's python3 with edge_runtime's imports, some of it
# shared library pages that may be charged to whoever read them first), plus up to one step of
# the search: NEED + 11 + 4. The rest, to 24, covers kernel memory charged to the cgroup.
TOLERANCE_MB = 24


def _edgectl(agent_bin):
    path = agent_bin.with_name("edgectl")
    assert path.is_file(), "edgectl is not beside %s: build it (swift build)" % agent_bin
    return path


def test_fit_finds_the_memory_boundary_of_a_known_need(agent, broker, edge, thing, tmp_path, agent_bin):
    h.require_cgroups(("memory", "pids"))
    agent()
    edge.health(lambda report: report["status"] == "online", what="the agent online")

    src = h.shared_path(tmp_path / "src")
    module = h.write_module(src, "hog", HOG)
    (src / "need.json").write_text(json.dumps({"mib": NEEDS["big"]}))
    spec = h.python_function(module, "hog.handler", version="1.0.0", subscriptions=["fit/+/hog"],
                             limits={"memoryMB": CEILING_MB, "pids": 64},
                             restart={"maxFailures": 3, "backoffMs": 100, "maxBackoffMs": 500})
    spec["artifacts"].append(h.artifact(src / "need.json"))
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps(h.document("hog", 1, {"hog": spec}, healthySeconds=1)))
    variants = tmp_path / "variants"
    for name, mib in NEEDS.items():
        (variants / name).mkdir(parents=True)
        (variants / name / "need.json").write_text(json.dumps({"mib": mib}))
    (variants / "refused" / "tiny").mkdir(parents=True)  # optimize's refused variants are not tried
    (variants / "refused" / "tiny" / "need.json").write_text(json.dumps({"mib": 1}))
    task = tmp_path / "task.py"
    task.write_text(TASK)
    out = tmp_path / "fit"

    env = dict(os.environ, PYTHONPATH=str(h.REPO / "tools" / "edge-model"))
    argv = [sys.executable, "-m", "edge_model", "fit", "--deployment", str(deployment), "--function", "hog",
            "--variants", str(variants), "--task", str(task), "--thing", thing,
            "--host", "127.0.0.1", "--port", str(broker.port), "--count", "4", "--hold", "6",
            "--memory-step", str(STEP_MB), "--out", str(out), "--edgectl", str(_edgectl(agent_bin))]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=420, env=env)
    assert run.returncode == 0, "edge-model fit exited %d\n%s\n%s" % (run.returncode, run.stdout, run.stderr)

    report = json.loads((out / "report.json").read_text())
    rows = {v["name"]: v for v in report["variants"]}
    assert sorted(rows) == ["big", "small"], rows.keys()
    trials = {t["trial"]: t for t in report["trials"]}
    for name, need in NEEDS.items():
        row = rows[name]
        assert row["fits"] and row["verified"], row
        assert row["accuracy"] == 1.0, row
        found = row["minimumMemoryMB"]
        assert need < found <= need + TOLERANCE_MB, \
            "%s touches %d MiB: fit found memoryMB %s, expected above it and within %d MB" % (name, need, found, TOLERANCE_MB)
        assert row["memoryMB"] >= found * 1.2 and row["memoryMB"] % STEP_MB == 0, row  # the default 20 % margin
        ours = [trials[n] for n in row["trials"]]
        # The boundary was found, not guessed: one step below it was tried and did not fit, for
        # want of memory (an OOM kill, at init or on an event), and it fitted at the size found.
        below = [t for t in ours if t["limits"]["memoryMB"] == found - STEP_MB]
        assert below and not below[0]["passed"] and below[0]["oomKills"] >= 1, (name, below, ours)
        assert any(t["limits"]["memoryMB"] == found and t["passed"] for t in ours), ours
        # The peak the agent reported under the ceiling covers the block (cgroup v2 kernels before
        # 5.19 have no memory.peak: health then has no peak, and fit bisects without a first probe).
        assert row["peakMemoryMB"] is None or row["peakMemoryMB"] >= need, row
        verify = [t for t in ours if t["purpose"] == "verify"][-1]
        assert verify["passed"] and verify["limits"]["pids"] == row["pids"] >= verify["peakPids"], verify

    # Both are exact: the smaller memory wins, and its deployment carries its limits and artifact.
    assert report["chosen"] == "small", report["chosen"]
    written = json.loads((out / "deployment.json").read_text())
    hog = written["functions"]["hog"]
    assert hog["limits"]["memoryMB"] == rows["small"]["memoryMB"], hog
    assert hog["limits"]["pids"] == rows["small"]["pids"], hog
    assert hog["version"] == "1.0.0" and written["deploymentId"] == "hog", written
    need_artifact = [a for a in hog["artifacts"] if a["uri"].endswith("/small/need.json")]
    assert need_artifact and need_artifact[0]["sha256"] == h.sha256_of(variants / "small" / "need.json"), hog
    assert written["revision"] > max(t["revision"] for t in report["trials"]), written["revision"]
    for name in ("report.md", "accuracy-latency-memory.png", "memory.png"):
        assert (out / name).stat().st_size > 0, name
    assert "| small **(chosen)** |" in (out / "report.md").read_text()

    # The chosen limits held over a longer run, reported as such.
    hold = report["hold"]
    assert hold["variant"] == "small" and hold["purpose"] == "hold", hold
    assert hold["held"] and hold["sent"] == hold["answered"] == 6 and hold["oomKills"] == 0 and hold["timeouts"] == 0, hold
    assert hold["limits"]["memoryMB"] == rows["small"]["memoryMB"], hold
    assert "Held over 6 requests" in (out / "report.md").read_text()

    # The deployment written deploys as it is.
    edge.deploy(written)
