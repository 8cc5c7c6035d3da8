"""edge-model optimize task for the inspection example's recogniser (models/rec.onnx).

  edge-model optimize examples/inspection/models/rec.onnx --task examples/inspection/task_rec.py

Inputs are the recogniser's inputs for the held-out frames as the fp32 detector crops them, so
only the recogniser changes between variants; the score is the exact-match rate of the serials
read. Calibration uses frames from another seed.
"""

import os
import sys

# edge-model loads this file by its path: its neighbours (ocr, frames, ...) are importable only
# once its folder is on the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np

import ocr
import task_data

METRIC = "exact match"


def calibration():
    return [{"x": ocr.rec_input(crop)} for crop, _ in task_data.crops("calibration")]


def heldout():
    return [({"x": ocr.rec_input(crop)}, truth) for crop, truth in task_data.crops("heldout")]


def score(outputs, labels):
    classes = task_data.classes()
    read = [ocr.serial_from_text(ocr.ctc_decode(np.asarray(output[0]), classes)[0]) for output in outputs]
    return sum(1 for serial, truth in zip(read, labels) if serial == truth) / len(labels) if labels else 0.0
