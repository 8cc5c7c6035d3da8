"""`edge-model optimize MODEL --task FILE --out DIR`: makes the variants of an ONNX model, measures
each on the same held-out data (size, accuracy, latency p50/p99, peak memory), and refuses those
that lose more accuracy than the budget. Writes DIR/<variant>/<model file>, DIR/optimize.json,
DIR/optimize.md and DIR/optimize.png; refused variants go to DIR/refused/<variant>/.
"""

import json
import os
import shutil
import sys
import tempfile

from edge_model import budget, measure, report, variants
from edge_model import task as tasks


def add_parser(commands):
    command = commands.add_parser(
        "optimize", help="makes optimized variants of an ONNX model and measures each",
        description="Makes variants of an ONNX model (graph-optimized, dynamic int8, static int8 QDQ per "
                    "channel calibrated on your data, fp16), measures each on the same held-out data, and "
                    "refuses those that lose more accuracy than --budget.")
    command.add_argument("model", metavar="MODEL", help="the ONNX model (fp32)")
    command.add_argument("--task", required=True, metavar="FILE",
                         help="a Python file defining heldout(), calibration() and optionally score() "
                              "(docs/models.md)")
    command.add_argument("--out", default="variants", metavar="DIR",
                         help="where the variants and the report go (default: ./variants)")
    command.add_argument("--budget", type=float, default=1.0, metavar="POINTS",
                         help="accuracy a variant may lose against fp32, in percentage points (default 1)")
    command.add_argument("--variants", default=",".join(variants.ALL), metavar="LIST",
                         help="which to make, comma-separated (default: %s)" % ",".join(variants.ALL))
    command.add_argument("--calibration-method", choices=["minmax", "entropy", "percentile"], default="percentile",
                         help="how static int8 picks activation ranges from the calibration data (default percentile: on PP-OCRv4 rec minmax lost 14 to 35 points, percentile 3; docs/models.md)")
    command.add_argument("--threads", type=int, default=1, metavar="N",
                         help="onnxruntime intra-op threads while measuring (default 1, as functions use)")
    command.add_argument("--timeout", type=int, default=900, metavar="SECONDS",
                         help="the most one variant's measurement may take (default 900)")
    command.set_defaults(run=run)


def run(arguments):
    wanted = [name.strip() for name in arguments.variants.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in variants.ALL]
    if unknown:
        return _fail("unknown variant %s (known: %s)" % (", ".join(unknown), ", ".join(variants.ALL)))
    # fp32 first, always: the reference every other variant is judged against.
    wanted = ["fp32"] + [name for name in dict.fromkeys(wanted) if name != "fp32"]
    if not os.path.isfile(arguments.model):
        return _fail("model %s does not exist" % arguments.model)
    if arguments.budget < 0 or arguments.threads < 1:
        return _fail("--budget must be 0 or more and --threads 1 or more")
    try:
        task = tasks.load(arguments.task, ["heldout"])
    except tasks.TaskError as error:
        return _fail(str(error))
    metric = tasks.metric_name(task, "score()" if callable(getattr(task, "score", None)) else "agreement with fp32")
    calibration = None
    if "static-int8" in wanted and callable(getattr(task, "calibration", None)):
        try:
            calibration = list(task.calibration())
        except Exception as error:  # the user's code: name it and what it raised
            return _fail("the task's calibration() failed: %s: %s" % (type(error).__name__, error))

    file_name = os.path.basename(arguments.model)
    os.makedirs(arguments.out, exist_ok=True)
    rows = []
    reference = None
    with tempfile.TemporaryDirectory() as scratch:
        for name in wanted:
            print("== %s: making" % name, flush=True)
            path = os.path.join(scratch, name + ".onnx")
            # An earlier run's outcome for this variant goes first: whatever happens now (made,
            # refused, not made) is all that stays, so fit never picks up a stale file.
            _remove(os.path.join(arguments.out, name, file_name))
            _remove(os.path.join(arguments.out, "refused", name, file_name))
            row = {"name": name, "file": None, "sizeBytes": None, "accuracy": None, "lossPoints": None,
                   "p50Ms": None, "p99Ms": None, "peakMemoryMB": None, "accepted": False, "reason": ""}
            try:
                note = variants.make(name, arguments.model, path, calibration, arguments.calibration_method)
                print("== %s: measuring on the held-out data" % name, flush=True)
                figures = measure.run(path, os.path.abspath(arguments.task), arguments.threads,
                                      os.path.join(scratch, name + ".json"), arguments.timeout)
            except (variants.VariantError, ValueError) as error:
                row["reason"] = "not made: %s" % error
            except Exception as error:  # a library refusing this graph: a finding, not a crash
                row["reason"] = "not made: %s: %s" % (type(error).__name__, (str(error).splitlines() or [""])[0][:300])
            else:
                if reference is None:
                    reference = figures
                accuracy = figures["score"] if figures["score"] is not None else _agreement(reference, figures)
                if name == "fp32":
                    reference["accuracy"] = accuracy
                accepted, reason = budget.verdict(name, reference["accuracy"], accuracy, arguments.budget)
                if note:
                    reason = "%s; %s" % (reason, note)
                row.update(sizeBytes=os.path.getsize(path), accuracy=round(accuracy, 4),
                           lossPoints=budget.loss_points(reference["accuracy"], accuracy),
                           p50Ms=figures["p50Ms"], p99Ms=figures["p99Ms"], peakMemoryMB=figures["peakMemoryMB"],
                           loadMs=figures["loadMs"], samples=figures["samples"], accepted=accepted, reason=reason)
                folder = os.path.join(arguments.out, name) if accepted else os.path.join(arguments.out, "refused", name)
                os.makedirs(folder, exist_ok=True)
                shutil.move(path, os.path.join(folder, file_name))
                row["file"] = os.path.relpath(os.path.join(folder, file_name), arguments.out)
            if name == "fp32" and reference is None:
                return _fail("the fp32 model itself could not be measured: %s" % row["reason"])
            print("   %s" % report.line(row), flush=True)
            rows.append(row)

    summary = {"model": file_name, "metric": metric, "budgetPoints": arguments.budget,
               "threads": arguments.threads, "variants": rows}
    models = _merge(os.path.join(arguments.out, "optimize.json"), summary)
    report.write_optimize(arguments.out, models)
    refused = [row["name"] for row in rows if not row["accepted"] and row["accuracy"] is not None]
    failed = [row["name"] for row in rows if row["accuracy"] is None]
    print("== wrote %s (optimize.json, optimize.md, optimize.png)%s%s" % (
        arguments.out, "; refused: " + ", ".join(refused) if refused else "",
        "; not made: " + ", ".join(failed) if failed else ""))
    return 0


def _agreement(reference, figures):
    """The share of held-out inputs whose top-1 outputs match fp32's."""
    pairs = list(zip(reference["digests"], figures["digests"]))
    return sum(1 for mine, theirs in pairs if mine == theirs) / max(1, len(pairs))


def _merge(path, summary):
    """optimize.json holds one entry per model optimized into this folder (det.onnx and rec.onnx of
    one pipeline share their variant folders); this model's entry replaces an earlier one."""
    models = []
    if os.path.isfile(path):
        try:
            with open(path) as handle:
                previous = json.load(handle)
            models = previous if isinstance(previous, list) else [previous]
        except (OSError, ValueError):
            models = []
    models = [entry for entry in models if isinstance(entry, dict) and entry.get("model") != summary["model"]]
    models.append(summary)
    with open(path, "w") as handle:
        json.dump(models if len(models) > 1 else summary, handle, indent=2)
        handle.write("\n")
    return models


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fail(message):
    print("edge-model optimize: %s" % message, file=sys.stderr)
    return 2
