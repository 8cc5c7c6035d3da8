"""A fit task for examples/digits, to try `edge-model fit` by hand (the example's own task file,
examples/digits/task.py, is the one to use once it is there):

  PYTHONPATH=tools/edge-model python3 -m edge_model fit --deployment examples/digits/deployment.json \
      --function digits --task tools/edge-model/tests/digits_fit_task.py --thing dev1 --count 50
"""

import json
import os

METRIC = "accuracy"
HELDOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples", "digits", "heldout.json")


def requests(count):
    with open(HELDOUT) as f:
        samples = json.load(f)
    return [({"pixels": s["pixels"]}, s["label"]) for s in (samples * (count // len(samples) + 1))[:count]]


def score(results, truths):
    return sum(1 for r, t in zip(results, truths) if r and r.get("digit") == t) / len(truths)
