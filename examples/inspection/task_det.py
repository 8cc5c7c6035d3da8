"""edge-model optimize task for the inspection example's detector (models/det.onnx).

  edge-model optimize examples/inspection/models/det.onnx --task examples/inspection/task_det.py

Inputs are the detector's inputs for the held-out frames. A detector variant is scored by what
the operator cares about, the whole pipeline: its box is cropped and read by the fp32
recogniser, and the score is the exact-match rate of the serials. (A box-overlap score would
pass a box that clips the last digit.) Calibration uses frames from another seed.
"""

import os
import sys

# edge-model loads this file by its path: its neighbours (ocr, frames, ...) are importable only
# once its folder is on the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ocr
import task_data

METRIC = "exact match (with the fp32 recogniser)"


class Frame:
    """What score() needs to finish the pipeline for one held-out frame."""

    def __init__(self, image, meta, truth):
        self.image, self.meta, self.truth = image, meta, truth


def calibration():
    return [{"x": ocr.det_input(image)[0]} for image, _ in task_data.calibration_frames()]


def heldout():
    pairs = []
    for image, truth in task_data.heldout_frames():
        x, meta = ocr.det_input(image)
        pairs.append(({"x": x}, Frame(image, meta, truth)))
    return pairs


def score(outputs, labels):
    if not labels:
        return 0.0
    correct = 0
    for output, frame in zip(outputs, labels):
        box = ocr.text_box(output[0], frame.meta)
        correct += box is not None and task_data.read(frame.image.crop(box)) == frame.truth
    return correct / len(labels)
