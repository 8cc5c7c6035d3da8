"""Pre- and post-processing for PP-OCRv4 text detection (DB) and recognition (CTC).

Pure functions on numpy arrays and Pillow images, with no onnxruntime: the function
(inspector.py), the demo's tests and the edge-model task files share them, so what is scored
offline is what runs on the device.

- det_input(image) -> (x, meta): the detector's input [1, 3, H, W] (H, W multiples of 32).
- text_box(prob_map, meta) -> (x0, y0, x1, y1) or None: the largest text region of the
  detector's probability map, padded, in the original image's pixels.
- rec_input(crop) -> x: the recogniser's input [1, 3, 48, REC_WIDTH].
- ctc_decode(logits, classes) -> (text, confidence): greedy CTC decoding.
- load_classes(keys_path): the recogniser's classes from keys.txt.
- serial_from_text(text): the serial in a decoded line (its spaces dropped).
"""

import numpy as np
from PIL import Image

# The detector's input: the frame scaled so its longer side is at most this (the demo's frames
# are 480x320 and go in unscaled), each side rounded to a multiple of 32 as DB's strides need.
DET_MAX_SIDE = 480
DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# A pixel is text above this probability (PaddleOCR's default DB threshold).
DET_THRESHOLD = 0.3
# Regions smaller than this many map pixels are specks, not text.
MIN_REGION_PIXELS = 20
# DB's map marks a text line's shrunk kernel: it is grown back by area * ratio / perimeter
# (PaddleOCR's unclip ratio), which restores the glyphs' full height with some margin.
UNCLIP_RATIO = 1.6

REC_HEIGHT = 48
# A fixed width keeps the recogniser's input shape constant (one shape for int8 calibration
# and no re-planning per frame); 320 holds 40 characters at 8 pixels a time step.
REC_WIDTH = 320


def det_input(image):
    """The detector's input for a PIL image: float32 [1, 3, H, W] normalised with ImageNet's
    mean and std, and `meta` to map the map's pixels back onto the image."""
    image = image.convert("RGB")
    width, height = image.size
    scale = min(1.0, DET_MAX_SIDE / max(width, height))
    det_w = max(32, int(round(width * scale / 32)) * 32)
    det_h = max(32, int(round(height * scale / 32)) * 32)
    if (det_w, det_h) != (width, height):
        image = image.resize((det_w, det_h), Image.BILINEAR)
    pixels = (np.asarray(image, dtype=np.float32) / 255.0 - DET_MEAN) / DET_STD
    x = pixels.transpose(2, 0, 1)[None].astype(np.float32)
    meta = {"width": width, "height": height, "scale_x": width / det_w, "scale_y": height / det_h}
    return x, meta


def _regions(mask):
    """Connected regions (8-connected) of a boolean mask, as lists of (row, start, end) runs.

    Labels runs of set pixels row by row and unites runs that touch the previous row's: a
    text map has a few hundred runs, so this is quick without scipy or OpenCV."""
    parent = []

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    runs = []  # (row, start, end exclusive, run index)
    previous = []
    for row in range(mask.shape[0]):
        line = np.concatenate(([0], mask[row].astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(line))
        current = []
        for start, end in zip(edges[::2], edges[1::2]):
            index = len(parent)
            parent.append(index)
            for p_start, p_end, p_index in previous:
                if p_start <= end and start <= p_end:  # overlapping or touching diagonally
                    root_a, root_b = find(index), find(p_index)
                    if root_a != root_b:
                        parent[root_b] = root_a
            current.append((int(start), int(end), index))
            runs.append((row, int(start), int(end), index))
        previous = current
    regions = {}
    for row, start, end, index in runs:
        regions.setdefault(find(index), []).append((row, start, end))
    return list(regions.values())


def text_box(prob_map, meta):
    """The box (x0, y0, x1, y1) of the largest text region in the detector's output, grown back
    from DB's shrunk kernel and mapped onto the original image; None when there is no text."""
    prob = np.asarray(prob_map, dtype=np.float32).reshape(prob_map.shape[-2:])
    regions = [r for r in _regions(prob > DET_THRESHOLD) if sum(e - s for _, s, e in r) >= MIN_REGION_PIXELS]
    if not regions:
        return None
    largest = max(regions, key=lambda r: sum(e - s for _, s, e in r))
    area = sum(e - s for _, s, e in largest)
    top = min(row for row, _, _ in largest)
    bottom = max(row for row, _, _ in largest) + 1
    left = min(s for _, s, _ in largest)
    right = max(e for _, _, e in largest)
    perimeter = 2 * ((right - left) + (bottom - top))
    pad = area * UNCLIP_RATIO / perimeter
    x0 = max(0.0, (left - pad) * meta["scale_x"])
    y0 = max(0.0, (top - pad) * meta["scale_y"])
    x1 = min(float(meta["width"]), (right + pad) * meta["scale_x"])
    y1 = min(float(meta["height"]), (bottom + pad) * meta["scale_y"])
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def rec_input(crop):
    """The recogniser's input for a crop of one text line: float32 [1, 3, 48, REC_WIDTH], the
    crop scaled to height 48 with its aspect ratio kept (squeezed when wider than REC_WIDTH),
    normalised to [-1, 1], the rest of the width zero as PaddleOCR pads it."""
    crop = crop.convert("RGB")
    width = max(1, min(REC_WIDTH, int(np.ceil(REC_HEIGHT * crop.width / max(1, crop.height)))))
    resized = crop.resize((width, REC_HEIGHT), Image.BILINEAR)
    pixels = (np.asarray(resized, dtype=np.float32) / 255.0 - 0.5) / 0.5
    x = np.zeros((1, 3, REC_HEIGHT, REC_WIDTH), dtype=np.float32)
    x[0, :, :, :width] = pixels.transpose(2, 0, 1)
    return x


def ctc_decode(logits, classes):
    """Greedy CTC decoding of one line: (text, confidence). `logits` is [T, C] or [1, T, C] of
    per-step class probabilities (PP-OCRv4 ends in a softmax); class 0 is the blank. Repeats
    collapse, blanks drop, the text is stripped; confidence is the mean probability of the kept
    steps (0.0 for an empty text)."""
    steps = np.asarray(logits, dtype=np.float32)
    if steps.ndim == 3:
        steps = steps[0]
    if steps.ndim != 2 or steps.shape[1] != len(classes):
        raise ValueError("expected logits [T, %d], got %s" % (len(classes), list(np.shape(logits))))
    best = steps.argmax(axis=1)
    kept = [t for t in range(len(best)) if best[t] != 0 and (t == 0 or best[t] != best[t - 1])]
    text = "".join(classes[best[t]] for t in kept)
    stripped = text.strip()
    if not stripped:
        return "", 0.0
    return stripped, float(np.mean([steps[t, best[t]] for t in kept]))


def load_classes(keys_path):
    """The recogniser's classes: the blank, the characters of keys.txt (one a line), a space."""
    with open(keys_path, encoding="utf-8") as f:
        characters = f.read().split("\n")
    if characters and characters[-1] == "":
        characters.pop()  # the file's final newline
    if not characters:
        raise ValueError("%s holds no characters" % keys_path)
    return ["blank"] + characters + [" "]


def serial_from_text(text):
    """The serial number in a decoded line. A serial holds no spaces, but the recogniser reads
    the wide side bearings of a monospaced font's hyphen as spaces (`SN- 7KQ2X -0193`), so every
    whitespace character is dropped."""
    return "".join(text.split())
