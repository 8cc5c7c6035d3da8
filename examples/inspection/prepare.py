"""Puts the inspection function's models in models/: det.onnx, rec.onnx and keys.txt.

The PP-OCRv4 detection and recognition models (Apache-2.0) come from the installed
rapidocr-onnxruntime 1.4.4 wheel (scripts/setup.sh installs it, without its dependencies, into
the development interpreter): nothing is downloaded. The package is located, never imported
(its import needs OpenCV, which the project does not install). The copies are checked against
pinned hashes, so deployment.json's digests hold. keys.txt is the recogniser's character list,
one a line, taken from rec.onnx's metadata: quantized variants of the model may lose that
metadata, so the function reads keys.txt instead.

Idempotent: files already in place with the right hashes are left as they are.

  python3 examples/inspection/prepare.py
  python3 examples/inspection/prepare.py --hashes-only   (after editing inspector.py or ocr.py:
                                                         refresh deployment.json's digests)
"""

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
PACKAGE = "rapidocr_onnxruntime"
PACKAGE_PIN = "rapidocr-onnxruntime==1.4.4"
# model in the wheel -> (name here, sha256 of the wheel's 1.4.4 file)
SOURCES = {
    "ch_PP-OCRv4_det_infer.onnx": ("det.onnx", "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    "ch_PP-OCRv4_rec_infer.onnx": ("rec.onnx", "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
}
KEYS = ("keys.txt", "a1c84d9bdb9ab29043c58896224d32941783eb821629618416dcb08f12886492")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_models():
    """The wheel's models folder, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("prepare: %s is not installed: run scripts/setup.sh, or "
                 "`python3 -m pip install --no-deps %s`" % (PACKAGE, PACKAGE_PIN))
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


def place(source, target, expected):
    """Copies source to target through a temporary file, so a reader never sees half a model."""
    if os.path.exists(target) and sha256(target) == expected:
        return False
    actual = sha256(source)
    if actual != expected:
        sys.exit("prepare: %s has sha256 %s, expected %s: install %s exactly"
                 % (source, actual, expected, PACKAGE_PIN))
    descriptor, temporary = tempfile.mkstemp(dir=MODELS, prefix=".partial-")
    os.close(descriptor)
    shutil.copyfile(source, temporary)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    return True


def write_keys(rec_path):
    """keys.txt from the recogniser's metadata, one character a line."""
    target = os.path.join(MODELS, KEYS[0])
    if os.path.exists(target) and sha256(target) == KEYS[1]:
        return False
    session = ort.InferenceSession(rec_path, providers=["CPUExecutionProvider"])
    characters = session.get_modelmeta().custom_metadata_map.get("character")
    if not characters:
        sys.exit("prepare: %s carries no character list in its metadata" % rec_path)
    text = characters.rstrip("\n") + "\n"
    # newline="": no translation, the bytes are exactly the characters and "\n".
    with open(target, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.chmod(target, 0o644)
    if sha256(target) != KEYS[1]:
        sys.exit("prepare: %s has sha256 %s, expected %s" % (target, sha256(target), KEYS[1]))
    return True


def update_deployment_hashes():
    """Rewrites the sha256 of each artifact in deployment.json from the file it names."""
    path = os.path.join(HERE, "deployment.json")
    with open(path) as f:
        deployment = json.load(f)
    for function in deployment["functions"].values():
        for artifact in function["artifacts"]:
            relative = artifact["uri"][len("file://__EXAMPLE_DIR__/"):]
            artifact["sha256"] = sha256(os.path.join(HERE, relative))
            print("prepare: sha256 %s  %s" % (artifact["sha256"], relative))
    with open(path, "w") as f:
        json.dump(deployment, f, indent=2)
        f.write("\n")


def main():
    if sys.argv[1:] == ["--hashes-only"]:
        update_deployment_hashes()
        return 0
    if sys.argv[1:]:
        sys.exit("usage: python3 prepare.py [--hashes-only]")
    os.makedirs(MODELS, exist_ok=True)
    source = package_models()
    for name, (target, expected) in SOURCES.items():
        path = os.path.join(MODELS, target)
        print("prepare: %s %s" % ("copied" if place(os.path.join(source, name), path, expected) else "kept", path))
    keys = os.path.join(MODELS, KEYS[0])
    print("prepare: %s %s" % ("wrote" if write_keys(os.path.join(MODELS, "rec.onnx")) else "kept", keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
