"""Synthetic camera frames of parts with a serial-number label, with the truth kept.

A frame is what a fixed camera over a conveyor would see: a metal part on a belt, a paper
label on the part with a serial such as `SN-7KQ2X-0193` printed in DejaVu Sans Mono, the label
slightly rotated, the light uneven, the sensor noisy. Everything comes from a numpy Generator,
so a seed gives the same frames (on the same Pillow and FreeType).

Used by the demo client (it sends frames and scores the answers), the tests and the
edge-model task files (held-out and calibration sets from different seeds).
"""

import base64
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Debian's fonts-dejavu-core (scripts/setup.sh installs it).
FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
WIDTH, HEIGHT = 480, 320
# Letters O and I are left out: on a real label they are confused with 0 and 1 by people too,
# which is why serial schemes drop them.
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
HELDOUT_SEED = 16
CALIBRATION_SEED = 1016


def serial(rng):
    """A random serial: SN-, five letters or digits, -, four digits."""
    middle = "".join(rng.choice(list(LETTERS + DIGITS), 5))
    tail = "".join(rng.choice(list(DIGITS), 4))
    return "SN-%s-%s" % (middle, tail)


def _font(size):
    if not os.path.exists(FONT_PATH):
        raise FileNotFoundError("%s is missing: install Debian's fonts-dejavu-core (scripts/setup.sh does)"
                                % FONT_PATH)
    return ImageFont.truetype(FONT_PATH, size)


def _label(rng, text):
    """The paper label with the serial printed on it, RGBA, not yet rotated."""
    font = _font(int(rng.integers(20, 29)))
    left, top, right, bottom = font.getbbox(text)
    margin_x, margin_y = int(rng.integers(10, 20)), int(rng.integers(8, 14))
    size = (right - left + 2 * margin_x, bottom - top + 2 * margin_y)
    paper = tuple(int(v) for v in rng.integers(225, 256, 3))
    label = Image.new("RGBA", size, paper + (255,))
    ink = int(rng.integers(0, 50))
    ImageDraw.Draw(label).text((margin_x - left, margin_y - top), text, font=font, fill=(ink, ink, ink, 255))
    return label


def _scene(rng):
    """The belt and the part, RGB."""
    belt = int(rng.integers(40, 90))
    image = Image.new("RGB", (WIDTH, HEIGHT), (belt, belt, belt + int(rng.integers(0, 10))))
    draw = ImageDraw.Draw(image)
    part_w, part_h = int(rng.integers(300, 420)), int(rng.integers(160, 260))
    x0, y0 = int(rng.integers(0, WIDTH - part_w + 1)), int(rng.integers(0, HEIGHT - part_h + 1))
    metal = int(rng.integers(110, 180))
    draw.rounded_rectangle((x0, y0, x0 + part_w, y0 + part_h), radius=int(rng.integers(6, 30)),
                           fill=(metal, metal, metal - int(rng.integers(0, 15))))
    # Two bolt holes, so the part is not a plain rectangle.
    for cx in (x0 + 20, x0 + part_w - 20):
        draw.ellipse((cx - 7, y0 + 13, cx + 7, y0 + 27), fill=(belt // 2,) * 3)
    return image, (x0, y0, part_w, part_h)


def _lighting(rng):
    """A gain per pixel: a linear ramp in a random direction times a soft spot of light."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / WIDTH + np.sin(angle) * ys / HEIGHT)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    gain = 0.65 + 0.45 * ramp
    cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
    spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * (0.35 * WIDTH) ** 2))
    return gain * (0.85 + 0.3 * spot)


def render(rng):
    """One frame: (PIL RGB image WIDTH x HEIGHT, the serial printed on it)."""
    text = serial(rng)
    image, (x0, y0, part_w, part_h) = _scene(rng)
    label = _label(rng, text).rotate(float(rng.uniform(-4, 4)), resample=Image.BICUBIC, expand=True)
    # Centre the label on the part, give or take, and keep it inside the frame.
    lx = x0 + (part_w - label.width) // 2 + int(rng.integers(-30, 31))
    ly = y0 + (part_h - label.height) // 2 + int(rng.integers(-25, 26))
    lx = min(max(lx, 4), WIDTH - label.width - 4)
    ly = min(max(ly, 4), HEIGHT - label.height - 4)
    image.paste(label, (lx, ly), label)
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0))))
    pixels = np.asarray(image, dtype=np.float32) * _lighting(rng)[:, :, None]
    pixels += rng.normal(0, rng.uniform(3, 9), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB"), text


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def event(image, request_id):
    """The function's event for a frame: {"id": request_id, "frame": base64 PNG}."""
    return {"id": request_id, "frame": base64.b64encode(png_bytes(image)).decode("ascii")}


def frames(count, seed):
    """`count` frames and their truths from `seed`: [(image, serial), ...]."""
    rng = np.random.default_rng(seed)
    return [render(rng) for _ in range(count)]


def heldout(count, seed=HELDOUT_SEED):
    """The held-out frames that scores are measured on."""
    return frames(count, seed)


def calibration(count, seed=CALIBRATION_SEED):
    """Frames for int8 calibration, from another seed than the held-out ones."""
    return frames(count, seed)
