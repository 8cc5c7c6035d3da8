"""The inspection function: reads the serial number on a part's label in a camera frame.

Deployed with "runtime": "python3", "handler": "inspector.handler", long-lived. Two PP-OCRv4
models run with onnxruntime: the detector finds the label's text line, the recogniser reads
it. The models and the character list (det.onnx, rec.onnx, keys.txt) are artifacts that land
next to this file.

Event: {"id": str, "frame": base64 PNG (or JPEG)}; a frame over 1 MB or 1280x1280 pixels, or not PNG or JPEG, is
refused with a ValueError. Result: {"id", "serial", "confidence", "box": [x0, y0, x1, y1] or
None, "ms": {"det", "rec"}}; "serial" is "" when no text was found.
config: {"threads": 1} sets onnxruntime's intra-op threads (read at start).
"""

import base64
import binascii
import io
import os
import time

import onnxruntime as ort
from PIL import Image

import ocr

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FRAME_BYTES = 1_000_000
# A camera frame here is 480x320; the cap leaves room for a larger sensor without letting one
# small, flat PNG of huge dimensions decode to tens of MB (2000x2000 cost 35 MB more than a
# 480x320 frame: enough to pass the memoryMB that edge-model fit measured on real frames).
MAX_FRAME_SIDE = 1280
# Only what a camera sends: Pillow would otherwise parse any format it knows (TIFF, EPS through
# Ghostscript, ...) from whoever may publish a frame.
FRAME_FORMATS = ("PNG", "JPEG")
# The config's threads is read once, when the sessions are made.
LIVE_CONFIG = False

_models = None


class Models:
    """The two sessions and the recogniser's classes, loaded once."""

    def __init__(self, threads):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(os.path.join(HERE, "det.onnx"), sess_options=options, providers=providers)
        self.rec = ort.InferenceSession(os.path.join(HERE, "rec.onnx"), sess_options=options, providers=providers)
        self.det_input = self.det.get_inputs()[0].name
        self.rec_input = self.rec.get_inputs()[0].name
        self.classes = ocr.load_classes(os.path.join(HERE, "keys.txt"))


def _threads(config):
    threads = (config or {}).get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
        raise ValueError("config.threads is %r; it must be a whole number from 1 to 64" % (threads,))
    return threads


def init(context):
    """Loads both models before the runtime reports ready."""
    global _models
    started = time.monotonic()
    _models = Models(_threads(context.config))
    context.logger.info("loaded det.onnx, rec.onnx and %d classes in %.0f ms",
                        len(_models.classes), (time.monotonic() - started) * 1000)


def decode_frame(event):
    """The event's frame as an RGB image; ValueError names what is wrong."""
    if not isinstance(event, dict):
        raise ValueError("expected a JSON event like {\"id\": \"...\", \"frame\": \"<base64 PNG>\"}")
    frame = event.get("frame")
    if not isinstance(frame, str):
        raise ValueError("the event's \"frame\" must be a base64 PNG string, got %s" % type(frame).__name__)
    # base64 is 4 characters for 3 bytes: refuse before decoding what is too big anyway.
    if len(frame) > (MAX_FRAME_BYTES + 2) // 3 * 4:
        raise ValueError("the frame is over %d bytes; send at most %d bytes of PNG"
                         % (MAX_FRAME_BYTES, MAX_FRAME_BYTES))
    try:
        data = base64.b64decode(frame, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the event's \"frame\" is not valid base64") from None
    try:
        image = Image.open(io.BytesIO(data), formats=FRAME_FORMATS)
        # The header alone gives the size: refuse a huge frame before decoding its pixels.
        if image.width > MAX_FRAME_SIDE or image.height > MAX_FRAME_SIDE:
            raise ValueError("the frame is %dx%d pixels; at most %dx%d is accepted"
                             % (image.width, image.height, MAX_FRAME_SIDE, MAX_FRAME_SIDE))
        return image.convert("RGB")
    except (OSError, Image.DecompressionBombError, SyntaxError):
        raise ValueError("the event's \"frame\" is not a PNG or JPEG image Pillow can read") from None


def read_serial(image, models):
    """Runs detection then recognition on an RGB image: the result without the id."""
    started = time.perf_counter()
    x, meta = ocr.det_input(image)
    prob_map = models.det.run(None, {models.det_input: x})[0]
    box = ocr.text_box(prob_map, meta)
    det_ms = (time.perf_counter() - started) * 1000
    if box is None:
        return {"serial": "", "confidence": 0.0, "box": None, "ms": {"det": round(det_ms, 1), "rec": 0.0}}
    started = time.perf_counter()
    logits = models.rec.run(None, {models.rec_input: ocr.rec_input(image.crop(box))})[0]
    text, confidence = ocr.ctc_decode(logits, models.classes)
    rec_ms = (time.perf_counter() - started) * 1000
    return {"serial": ocr.serial_from_text(text), "confidence": round(confidence, 4), "box": list(box),
            "ms": {"det": round(det_ms, 1), "rec": round(rec_ms, 1)}}


def handler(event, context):
    if _models is None:  # imported without the runtime calling init()
        init(context)
    image = decode_frame(event)
    result = read_serial(image, _models)
    result["id"] = event.get("id")
    return result
