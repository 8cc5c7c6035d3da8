"""edge-model fit task for the inspection function: held-out frames as events, scored by exact
match of the serial read.

  edge-model fit --deployment examples/inspection/deployment.json --function inspection \\
      --variants OUT --task examples/inspection/task_fit.py --thing T ...

fit sets each event's "id" itself and the function echoes it; with no TOPIC here, fit sends the
frames to the function's direct invocation topic (edge/things/T/functions/inspection/invoke).
"""

import os
import sys

# edge-model loads this file by its path: its neighbours (ocr, frames, ...) are importable only
# once its folder is on the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frames

METRIC = "exact match"


def requests(count):
    pairs = []
    for image, truth in frames.heldout(count):
        event = frames.event(image, None)
        del event["id"]  # fit gives each request its own
        pairs.append((event, truth))
    return pairs


def score(results, truths):
    if not truths:
        return 0.0
    return sum(1 for result, truth in zip(results, truths)
               if isinstance(result, dict) and result.get("serial") == truth) / len(truths)
