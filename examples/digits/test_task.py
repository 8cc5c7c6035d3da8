"""The digits example's edge-model task file, loaded by path as edge-model loads it."""

import importlib.util
import os

import numpy as np
import onnxruntime as ort
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def task():
    spec = importlib.util.spec_from_file_location("edge_model_task_digits", os.path.join(HERE, "task.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_and_heldout_do_not_overlap(task):
    calibration = task.calibration()
    heldout = task.heldout()
    assert len(calibration) == task.CALIBRATION_SAMPLES and len(heldout) == 180
    assert calibration[0]["pixels"].shape == (1, 64) and str(calibration[0]["pixels"].dtype) == "float32"
    scored = {inputs["pixels"].tobytes() for inputs, _ in heldout}
    assert not any(inputs["pixels"].tobytes() in scored for inputs in calibration)


def test_optimize_score_is_the_models_accuracy(task):
    session = ort.InferenceSession(os.path.join(HERE, "model.onnx"), providers=["CPUExecutionProvider"])
    heldout = task.heldout()
    labels = [label for _, label in heldout]
    accuracy = task.score([session.run(None, inputs) for inputs, _ in heldout], labels)
    assert 0.9 <= accuracy <= 1.0
    wrong = [[np.asarray([(label + 1) % 10], dtype=np.int64)] for label in labels]
    assert task.score(wrong, labels) == 0.0


def test_fit_requests_cycle_and_results_score(task):
    requests = task.requests(200)
    assert len(requests) == 200 and requests[180] == requests[0]
    events, labels = [event for event, _ in requests], [label for _, label in requests]
    assert set(events[0]) == {"pixels"} and len(events[0]["pixels"]) == 64
    results = [{"digit": label, "probability": 0.9} for label in labels[:100]] + [None] * 100
    assert task.score(results, labels) == pytest.approx(0.5)
