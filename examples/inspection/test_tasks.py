"""The edge-model task files of the inspection example, loaded by path as edge-model loads them,
checked on a few held-out frames with the fp32 models."""

import importlib.util
import os

import numpy as np
import pytest

import frames
import task_data
from test_ocr import prepare_models

HERE = os.path.dirname(os.path.abspath(__file__))
FRAMES = 8


def load(name):
    spec = importlib.util.spec_from_file_location("edge_model_task_%s" % name, os.path.join(HERE, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def few_frames(monkeypatch):
    prepare_models()
    monkeypatch.setattr(task_data, "HELDOUT_FRAMES", FRAMES)
    for cached in (task_data.heldout_frames, task_data.crops):
        cached.cache_clear()
    yield
    for cached in (task_data.heldout_frames, task_data.crops):
        cached.cache_clear()


def fp32_outputs(model, pairs):
    session = task_data.session(model)
    return [session.run(None, inputs) for inputs, _ in pairs]


def test_rec_task_scores_the_fp32_recogniser(few_frames):
    task = load("task_rec")
    pairs = task.heldout()
    assert len(pairs) == FRAMES and pairs[0][0]["x"].shape == (1, 3, 48, 320)
    assert [truth for _, truth in pairs] == [truth for _, truth in frames.heldout(FRAMES)]
    outputs = fp32_outputs("rec.onnx", pairs)
    assert task.score(outputs, [truth for _, truth in pairs]) >= 0.875
    # A recogniser that reads nothing but blanks scores 0.
    blanks = [[np.eye(1, outputs[0][0].shape[-1], 0, dtype=np.float32)[None].repeat(40, axis=1)]] * FRAMES
    assert task.score(blanks, [truth for _, truth in pairs]) == 0.0


def test_det_task_scores_the_whole_pipeline(few_frames):
    task = load("task_det")
    assert len(task.calibration()) == task_data.CALIBRATION_FRAMES
    pairs = task.heldout()
    assert pairs[0][0]["x"].shape == (1, 3, 320, 480)
    labels = [label for _, label in pairs]
    assert task.score(fp32_outputs("det.onnx", pairs), labels) >= 0.875
    # A detector that finds no text scores 0.
    assert task.score([[np.zeros((1, 1, 320, 480), dtype=np.float32)]] * FRAMES, labels) == 0.0


def test_fit_task_events_and_score():
    task = load("task_fit")
    pairs = task.requests(3)
    assert [truth for _, truth in pairs] == [truth for _, truth in frames.heldout(3)]
    assert all(set(event) == {"frame"} for event, _ in pairs)
    truths = [truth for _, truth in pairs]
    results = [{"id": "a", "serial": truths[0]}, None, {"id": "c", "serial": "SN-WRONG-0000"}]
    assert task.score(results, truths) == pytest.approx(1 / 3)
