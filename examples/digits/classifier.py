"""The digits function: classifies an 8x8 handwritten digit with an ONNX model.

Deployed with "runtime": "python3", "handler": "classifier.handler". The event is
{"pixels": [64 numbers 0..16]} (row by row, as in scikit-learn's load_digits) or a bare list of
64 numbers; an optional "id" is echoed back so a client can match answers to requests.
The result is {"digit": int, "probability": float} (plus "id" when given).
"""

import math
import os
import time

import numpy as np
import onnxruntime as ort

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")

_session = None


def init(context):
    """Loads the model once, before the runtime reports ready."""
    global _session
    started = time.monotonic()
    options = ort.SessionOptions()
    # One thread: small devices run several functions, and a 64-input model gains nothing
    # from a thread pool but its wake-up latency.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    _session = ort.InferenceSession(MODEL_PATH, sess_options=options, providers=["CPUExecutionProvider"])
    context.logger.info("loaded %s in %.1f ms", MODEL_PATH, (time.monotonic() - started) * 1000)


def _pixels(event):
    """The 64 pixels from the event as float32 [1, 64]; ValueError says what is wrong."""
    if isinstance(event, (bytes, bytearray)):
        raise ValueError("expected a JSON event like {\"pixels\": [64 numbers 0..16]}, got a non-JSON payload")
    pixels = event.get("pixels") if isinstance(event, dict) else event
    if isinstance(event, dict) and pixels is None:
        raise ValueError("the event has no \"pixels\" field; expected {\"pixels\": [64 numbers 0..16]}")
    if not isinstance(pixels, list):
        raise ValueError("\"pixels\" must be a list of 64 numbers 0..16, got %s" % type(pixels).__name__)
    if len(pixels) != 64:
        raise ValueError("\"pixels\" must have 64 values (8x8), got %d" % len(pixels))
    for index, value in enumerate(pixels):
        # bool is an int in Python; reject it rather than read true as 1.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
                or not 0 <= value <= 16:
            raise ValueError("pixel %d is %r; each pixel must be a number from 0 to 16" % (index, value))
    return np.asarray(pixels, dtype=np.float32).reshape(1, 64)


def handler(event, context):
    if _session is None:  # imported without the runtime calling init()
        init(context)
    label, probabilities = _session.run(["label", "probabilities"], {"pixels": _pixels(event)})
    digit = int(label[0])
    result = {"digit": digit, "probability": round(float(probabilities[0][digit]), 4)}
    if isinstance(event, dict) and "id" in event:
        result["id"] = event["id"]
    return result
