"""Measures one variant in a process of its own, so its memory peak is its own: the file's size,
the latency of each held-out input (after a warm-up), the peak resident memory that loading and
running the model added, and the outputs' score.

The parent runs `python3 -m edge_model.measure MODEL TASK THREADS RESULT` and reads RESULT (JSON).
"""

import hashlib
import json
import os
import subprocess
import sys
import time

WARMUP_RUNS = 3


def run(model, task_path, threads, result_path, timeout):
    """Measures `model` in a child process; the child's figures as a dict (ValueError on failure)."""
    environment = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "edge_model.measure", model, task_path, str(threads), result_path]
    try:
        finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError("measuring %s took over %d s" % (model, timeout))
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["exit status %d" % finished.returncode])[-1]
        raise ValueError("measuring %s failed: %s" % (model, last))
    with open(result_path) as handle:
        return json.load(handle)


def _memory_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _digest(outputs):
    """What the fp32 agreement compares: each output's top-1 along its last axis."""
    import numpy as np

    hasher = hashlib.sha256()
    for output in outputs:
        array = np.asarray(output)
        hasher.update((array.argmax(axis=-1) if array.ndim and array.dtype.kind == "f" else array).tobytes())
    return hasher.hexdigest()


def _percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _child(model, task_path, threads, result_path):
    import onnxruntime as ort

    from edge_model import task as tasks

    ort.set_default_logger_severity(3)
    task = tasks.load(task_path, ["heldout"])
    heldout = list(task.heldout())
    if not heldout:
        raise SystemExit("the task's heldout() returned no samples")
    # The high-water mark from here on is the model's: reset it (Linux ≥ 4.0 takes "5" for that).
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    before_kb = _memory_kb("VmRSS")
    # Where the reset is not honoured (an old kernel, a sandbox), the mark still holds the task's
    # own peak: no figure then, rather than a wrong one.
    reset = before_kb > 0 and _memory_kb("VmHWM") <= before_kb + 1024
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    loading = time.perf_counter()
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - loading) * 1000
    for inputs, _ in heldout[:WARMUP_RUNS]:
        session.run(None, inputs)
    latencies = []
    for inputs, _ in heldout:  # outputs dropped: the peak is the model's, not the kept outputs'
        started = time.perf_counter()
        session.run(None, inputs)
        latencies.append((time.perf_counter() - started) * 1000)
    peak_kb = _memory_kb("VmHWM") - before_kb if reset else None
    outputs = [session.run(None, inputs) for inputs, _ in heldout]
    score = None
    if callable(getattr(task, "score", None)):
        score = float(task.score(outputs, [label for _, label in heldout]))
        if not 0.0 <= score <= 1.0:
            raise SystemExit("the task's score() returned %r; it must be in [0, 1]" % score)
    result = {"samples": len(heldout), "loadMs": round(load_ms, 1),
              "p50Ms": round(_percentile(latencies, 0.50), 3), "p99Ms": round(_percentile(latencies, 0.99), 3),
              "meanMs": round(sum(latencies) / len(latencies), 3),
              "peakMemoryMB": round(peak_kb / 1024, 1) if peak_kb is not None else None,
              "score": score, "digests": [_digest(output) for output in outputs]}
    with open(result_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    model_path, task_file, thread_count, result_file = sys.argv[1:5]
    _child(model_path, task_file, int(thread_count), result_file)
