"""edge-model tasks for the digits classifier: optimize (model.onnx) and fit (the function).

  edge-model optimize examples/digits/model.onnx --task examples/digits/task.py
  edge-model fit --deployment examples/digits/deployment.json --function digits \\
      --variants OUT --task examples/digits/task.py --thing T ...

heldout.json holds the 360 samples held out from training: its first half calibrates static
int8 (the first 64 of it), its second half is what every variant is scored on, so calibration
never sees a scored sample. The score is accuracy: the share of digits predicted right.
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CALIBRATION_SAMPLES = 64
METRIC = "accuracy"


def _halves():
    with open(os.path.join(HERE, "heldout.json")) as f:
        samples = json.load(f)
    middle = len(samples) // 2
    return samples[:middle], samples[middle:]


def _pixels(sample):
    return np.asarray([sample["pixels"]], dtype=np.float32)


# optimize: the model's inputs and outputs

def calibration():
    return [{"pixels": _pixels(sample)} for sample in _halves()[0][:CALIBRATION_SAMPLES]]


def heldout():
    return [({"pixels": _pixels(sample)}, sample["label"]) for sample in _halves()[1]]


# fit: the function's events and results

def requests(count):
    """`count` events from the scored half, cycled when count is larger than it."""
    scored = _halves()[1]
    return [({"pixels": scored[i % len(scored)]["pixels"]}, scored[i % len(scored)]["label"]) for i in range(count)]


def score(answers, labels):
    """Accuracy, for both commands. The task interface names both scorers `score`: optimize
    passes each sample's model outputs (a list of arrays, the first the predicted label), fit
    passes each request's result ({"digit": ...}, or None when it failed)."""
    if not labels:
        return 0.0
    correct = 0
    for answer, label in zip(answers, labels):
        if answer is None:
            continue  # fit: no result
        if isinstance(answer, dict):
            correct += answer.get("digit") == label
        else:
            correct += int(np.asarray(answer[0]).reshape(-1)[0]) == label
    return correct / len(labels)
