"""The models benchmark (issue 16): edge-model on both examples, end to end. Run it through
`bash scripts/bench.sh models` (as root: the agent caps functions with cgroups), which builds the
binaries and makes the work folder.

1. `edge-model optimize` makes and measures the variants of the inspection example's two PP-OCRv4
   models (det.onnx, rec.onnx: one variant folder for both) and of the digits model, each on its
   example's task (examples/*/task*.py).
2. A Mosquitto and an agent with cgroups on this machine, the device.
3. `edge-model fit` deploys every accepted variant through that agent, searches its smallest
   memoryMB (with the margin), the cpus for the latency target and the pids, then runs the chosen
   limits for BENCH_HOLD requests (`--hold`): no OOM kill, no timeout, round trips over the target
   counted.
4. The reports are copied into the examples (examples/*/fit-report/), the figures written to
   benchmarks/results/models-latest.json.

BENCH_VARIANTS_FROM=DIR skips step 1 and takes the variants (and their figures) from DIR, which
holds inspection-variants/ and digits-variants/ as an earlier run made them (BENCH_KEEP=1 keeps
the work folder): to fit again without optimizing again.

Every wait is the tools' own (each with its deadline); everything started here is stopped in
`finally`."""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import remove_cgroup_tree

from .driver import add_common_arguments, run
from .figures import machine, machine_line, write_figures
from .launch import bench_agent, bench_broker
from .settings import QUICK, BenchError, read_setting

REPO = Path(__file__).resolve().parent.parent

SETTINGS = {
    "BENCH_MODEL_FRAMES": (200, 40, "held-out frames each inspection variant is measured on (optimize)"),
    "BENCH_FIT_COUNT": (20, 8, "requests per fit trial"),
    "BENCH_HOLD": (1000, 100, "requests the chosen limits are held for, per example"),
    "BENCH_INSPECTION_TARGET_MS": (500, 500, "the inspection function's p99 round-trip target (a camera at 2 frames a second)"),
    "BENCH_DIGITS_TARGET_MS": (50, 50, "the digits function's p99 round-trip target"),
    "BENCH_TIMEOUT": (3600, 1800, "the most one edge-model command may take, in seconds"),
}

EXAMPLES = {
    "inspection": {"function": "inspection", "models": [("models/det.onnx", "task_det.py"), ("models/rec.onnx", "task_rec.py")],
                   "fit_task": "task_fit.py", "target": "BENCH_INSPECTION_TARGET_MS"},
    "digits": {"function": "digits", "models": [("model.onnx", "task.py")], "fit_task": "task.py",
               "target": "BENCH_DIGITS_TARGET_MS"},
}


def _edge_model(arguments, environment, timeout, log):
    """Runs edge-model from this checkout, its output both shown and kept in `log`."""
    command = [sys.executable, "-m", "edge_model"] + [str(a) for a in arguments]
    print("$ edge-model %s" % " ".join(str(a) for a in arguments), flush=True)
    with open(log, "a") as out:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        try:
            for line in process.stdout:
                out.write(line)
                if not line.startswith(("Collecting tensor", "Finding optimal", "Number of", "Percentile :")):
                    print("   " + line.rstrip(), flush=True)
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise BenchError("edge-model %s took over %d s (log: %s)" % (arguments[0], timeout, log))
    return code


def _json(path):
    value = json.loads(Path(path).read_text())
    return value if isinstance(value, list) else [value]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, "models", edgectl_required=True)
    parser.add_argument("--cgroup-root", required=True, help="the cgroup subtree the agent makes (removed at the end)")
    parser.add_argument("--examples-dir", required=True, help="the examples folder of the checkout measured")
    args = parser.parse_args()
    if not args.python:
        raise BenchError("the models benchmark runs Python functions: %s" % args.python_note)
    values = {name: read_setting(SETTINGS, name) for name in SETTINGS}
    timeout = int(values["BENCH_TIMEOUT"])
    workdir = Path(args.workdir)
    examples = Path(args.examples_dir).resolve()
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tools" / "edge-model")]),
                       INSPECTION_TASK_FRAMES=str(int(values["BENCH_MODEL_FRAMES"])))
    subprocess.run([sys.executable, str(examples / "inspection" / "prepare.py")], check=True)

    # 1. Variants, measured offline; or an earlier run's, kept (BENCH_VARIANTS_FROM=DIR holding
    # DIR/inspection-variants and DIR/digits-variants), to fit again without optimizing again.
    optimized = {}
    reuse = os.environ.get("BENCH_VARIANTS_FROM")
    for name, example in EXAMPLES.items():
        out = workdir / ("%s-variants" % name)
        if reuse:
            source = Path(reuse) / ("%s-variants" % name)
            if not (source / "optimize.json").is_file():
                raise BenchError("BENCH_VARIANTS_FROM=%s has no %s-variants/optimize.json" % (reuse, name))
            shutil.copytree(source, out)
            optimized[name] = _json(out / "optimize.json")
            continue
        for model, task in example["models"]:
            code = _edge_model(["optimize", examples / name / model, "--task", examples / name / task, "--out", out],
                               environment, timeout, workdir / ("%s-optimize.log" % name))
            if code != 0:
                raise BenchError("edge-model optimize %s exited %d (log: %s)" % (model, code, workdir / ("%s-optimize.log" % name)))
        optimized[name] = _json(out / "optimize.json")

    # 2. The device: a broker and an agent with cgroups.
    broker = agent = None
    fitted = {}
    problems = []
    try:
        broker = bench_broker(workdir / "broker", workdir / "pids", 60)
        agent = bench_agent(args.agent, "device", "bench-models", broker.port, workdir, args.runtime_dir, args.python,
                            cgroups="auto", cgroup_root=args.cgroup_root, health_interval=5)
        agent.start()
        # 3. The limits, measured on the device through the agent.
        for name, example in EXAMPLES.items():
            out = workdir / ("%s-fit" % name)
            code = _edge_model(["fit", "--deployment", examples / name / "deployment.json", "--function", example["function"],
                                "--variants", workdir / ("%s-variants" % name), "--task", examples / name / example["fit_task"],
                                "--thing", "bench-models", "--host", "127.0.0.1", "--port", broker.port,
                                "--count", int(values["BENCH_FIT_COUNT"]), "--latency-target-ms", values[example["target"]],
                                "--hold", int(values["BENCH_HOLD"]), "--edgectl", args.edgectl, "--out", out],
                               environment, timeout, workdir / ("%s-fit.log" % name))
            if code not in (0, 1):
                raise BenchError("edge-model fit %s exited %d (log: %s)" % (name, code, workdir / ("%s-fit.log" % name)))
            fitted[name] = json.loads((out / "report.json").read_text())
    finally:
        if agent is not None:
            agent.cleanup(stop_timeout=30)
            problems += ["cgroup that could not be removed: %s" % left for left in remove_cgroup_tree(args.cgroup_root)]
        if broker is not None:
            broker.stop()
    for problem in problems:
        print("warning: %s" % problem, file=sys.stderr)

    # 4. The reports, kept in the examples, and the figures.
    for name in EXAMPLES:
        keep = examples / name / "fit-report"
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir()
        fit_dir, variants_dir = workdir / ("%s-fit" % name), workdir / ("%s-variants" % name)
        for source in ["report.md", "report.json", "accuracy-latency-memory.png", "memory.png", "deployment.template.json"]:
            if (fit_dir / source).exists():
                shutil.copy(fit_dir / source, keep / ("deployment.json" if source == "deployment.template.json" else source))
        for source in ["optimize.md", "optimize.json", "optimize.png"]:
            shutil.copy(variants_dir / source, keep / source)
        for text in [keep / "report.md", keep / "report.json", keep / "optimize.md", keep / "optimize.json",
                     keep / "deployment.json"]:
            if not text.exists():
                continue
            # Paths of this run's work folder mean nothing in the repository: the variants' files
            # become __VARIANTS__ (edge-model optimize makes them again: docs/models.md).
            text.write_text(text.read_text().replace(str(variants_dir) + "/", "__VARIANTS__/")
                            .replace(str(workdir) + "/", "WORK/").replace(str(REPO) + "/", ""))

    # The figures name files as the kept reports do: relative to the repository.
    fitted = json.loads(json.dumps(fitted).replace(str(REPO) + "/", ""))
    info = machine()
    figures = {"benchmark": "models", "revision": args.revision, "command": args.command, "quick": QUICK,
               "machine": info, "settings": values, "variantsFrom": reuse, "optimize": optimized, "fit": fitted}
    lines = ["edge-model on the examples (%s)" % machine_line(info), ""]
    for name in EXAMPLES:
        lines.append("%s: optimize (held-out data on this machine, 1 thread)" % name)
        for model in optimized[name]:
            fp32 = next(r for r in model["variants"] if r["name"] == "fp32")
            for row in model["variants"]:
                if row["accuracy"] is None:
                    lines.append("  %-9s %-13s not made" % (model["model"], row["name"]))
                    continue
                lines.append("  %-9s %-13s %7.2f MB (%.2fx smaller) accuracy %6.2f %% (%+.2f) p50 %7.1f ms (%.2fx) p99 %7.1f ms peak %6s MB %s" % (
                    model["model"], row["name"], row["sizeBytes"] / 1e6, fp32["sizeBytes"] / row["sizeBytes"],
                    row["accuracy"] * 100, -row["lossPoints"], row["p50Ms"], fp32["p50Ms"] / row["p50Ms"], row["p99Ms"],
                    row["peakMemoryMB"], "" if row["accepted"] else "REFUSED: " + row["reason"]))
        report = fitted[name]
        lines.append("%s: fit on the device through the agent (p99 target %g ms, %d requests a trial)" % (
            name, report["latencyTargetMs"], report["count"]))
        for row in report["variants"]:
            lines.append("  %-13s accuracy %s  peak %s MB  smallest memoryMB %s -> %s  cpus %s  pids %s  p50 %s p99 %s ms  %s" % (
                row["name"], "%.1f %%" % (row["accuracy"] * 100) if row.get("accuracy") is not None else "-",
                row.get("peakMemoryMB"), row.get("minimumMemoryMB"), row.get("memoryMB"), row.get("cpus"), row.get("pids"),
                row.get("p50Ms"), row.get("p99Ms"), "fits" if row["fits"] else "does not fit: %s" % row.get("reason")))
        hold = report.get("hold")
        if hold:
            lines.append("  chosen %s held for %d requests under %s: %s (%d OOM kills, %d timeouts, %d errors, p99 %s ms, max %s ms, %s over the target)" % (
                report["chosen"], hold["sent"], hold["limits"], "HELD" if hold["held"] else "DID NOT HOLD", hold["oomKills"],
                hold["timeouts"], hold["errors"], hold["p99Ms"], hold["maxMs"], hold["overTarget"]))
        lines.append("")
    lines.append("reports: examples/inspection/fit-report/, examples/digits/fit-report/")
    lines.append("reproduce: %s" % args.command)
    write_figures(figures, lines, args.out)
    held = all((fitted[name].get("hold") or {}).get("held") for name in EXAMPLES)
    return 0 if held else 1


if __name__ == "__main__":
    run(main, "the models benchmark")
