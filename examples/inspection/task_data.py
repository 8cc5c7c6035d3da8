"""The data the edge-model task files share: held-out and calibration frames, and the fp32
models that stand in for the stage a task does not measure.

Frames are rendered once per process (frames.py, fixed seeds), so every variant of a model is
scored on exactly the same inputs. The models come from models/ (python3 prepare.py).
"""

import functools
import os

import onnxruntime as ort

import frames
import ocr

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
# 300 held-out frames: one frame is a third of a point, fine enough for a 1-point budget.
# INSPECTION_TASK_FRAMES makes it smaller for a quick look.
HELDOUT_FRAMES = int(os.environ.get("INSPECTION_TASK_FRAMES", "300"))
# Static int8 calibration wants a few dozen inputs, from other frames than the held-out ones.
CALIBRATION_FRAMES = 48


def model_path(name):
    path = os.path.join(MODELS, name)
    if not os.path.exists(path):
        raise FileNotFoundError("%s is missing: run `python3 %s`" % (path, os.path.join(HERE, "prepare.py")))
    return path


@functools.lru_cache(maxsize=None)
def session(name):
    """An fp32 session on one thread, as the function runs it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_path(name), sess_options=options, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=None)
def classes():
    return ocr.load_classes(model_path("keys.txt"))


@functools.lru_cache(maxsize=None)
def heldout_frames():
    return frames.heldout(HELDOUT_FRAMES)


@functools.lru_cache(maxsize=None)
def calibration_frames():
    return frames.calibration(CALIBRATION_FRAMES)


def detect(image, det=None):
    """The text box the detector (fp32 unless `det` is given) finds in an image, or None."""
    det = det or session("det.onnx")
    x, meta = ocr.det_input(image)
    return ocr.text_box(det.run(None, {det.get_inputs()[0].name: x})[0], meta)


def read(crop, rec=None):
    """The serial the recogniser (fp32 unless `rec` is given) reads in a crop."""
    rec = rec or session("rec.onnx")
    logits = rec.run(None, {rec.get_inputs()[0].name: ocr.rec_input(crop)})[0]
    return ocr.serial_from_text(ocr.ctc_decode(logits, classes())[0])


@functools.lru_cache(maxsize=None)
def crops(which):
    """The fp32 detector's crops of the held-out or calibration frames with their truths; a frame
    where it finds no text gives the whole frame (the recogniser then fails on it, as it would)."""
    rendered = heldout_frames() if which == "heldout" else calibration_frames()
    result = []
    for image, truth in rendered:
        box = detect(image)
        result.append((image.crop(box) if box else image, truth))
    return tuple(result)
