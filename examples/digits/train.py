"""Trains the digits classifier and exports it to ONNX.

Uses scikit-learn's bundled 8x8 digits data set (no download), holds out 20% for testing,
and writes, next to this file:
  model.onnx    - the model; input "pixels" float32 [N, 64] (values 0..16), outputs
                  "label" int64 [N] and "probabilities" float32 [N, 10]
  heldout.json  - the held-out samples as [{"pixels": [64 floats], "label": int}, ...]
It checks that onnxruntime agrees with scikit-learn on every held-out sample and refreshes the
artifact sha256 values in deployment.json so the deployment matches the files.

Run: python3 train.py   (needs scikit-learn, skl2onnx, onnx, onnxruntime, numpy)
     python3 train.py --hashes-only   (after editing classifier.py: refresh deployment.json only)
"""

import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0
# An old-enough opset that onnxruntime builds shipped with small-device distributions load it.
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def update_deployment_hashes():
    """Rewrites the sha256 of each artifact in deployment.json from the file it names."""
    path = os.path.join(HERE, "deployment.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        deployment = json.load(f)
    for function in deployment["functions"].values():
        for artifact in function.get("artifacts", []):
            name = artifact["uri"].rsplit("/", 1)[-1]
            artifact["sha256"] = sha256(os.path.join(HERE, name))
            print("  sha256 %s  %s" % (artifact["sha256"], name))
    with open(path, "w") as f:
        json.dump(deployment, f, indent=2)
        f.write("\n")
    print("updated the artifact hashes in deployment.json")


def main():
    digits = load_digits()
    x = digits.data.astype(np.float32)  # 1797 samples x 64 pixels, each 0..16
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y)

    # Scaling first lets the lbfgs solver converge; the scaler is part of the exported graph,
    # so the function feeds raw 0..16 pixels.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=SEED))
    model.fit(x_train, y_train)
    sk_pred = model.predict(x_test)
    accuracy = float(np.mean(sk_pred == y_test))
    print("held-out accuracy (scikit-learn): %d/%d = %.2f%%"
          % (int(np.sum(sk_pred == y_test)), len(y_test), 100 * accuracy))
    if accuracy < 0.95:
        sys.exit("accuracy below 95%; not exporting")

    # zipmap=False: plain tensors (label, probabilities) instead of a list of dicts.
    onx = to_onnx(model, initial_types=[("pixels", FloatTensorType([None, 64]))],
                  options={"zipmap": False}, target_opset=TARGET_OPSET)
    # skl2onnx can list a domain twice in opset_import; keep one entry per domain so stricter
    # (older) loaders accept the file.
    versions = {}
    for entry in onx.opset_import:
        versions[entry.domain] = max(versions.get(entry.domain, 0), entry.version)
    del onx.opset_import[:]
    for domain, version in sorted(versions.items()):
        onx.opset_import.add(domain=domain, version=version)
    onnx.checker.check_model(onx)
    model_path = os.path.join(HERE, "model.onnx")
    with open(model_path, "wb") as f:
        f.write(onx.SerializeToString())

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"pixels": x_test})
    mismatches = int(np.sum(label != sk_pred))
    if mismatches:
        sys.exit("onnxruntime disagrees with scikit-learn on %d held-out samples" % mismatches)
    max_gap = float(np.max(np.abs(probabilities - model.predict_proba(x_test))))
    print("onnxruntime matches scikit-learn on all %d held-out samples (max probability gap %.1e)"
          % (len(y_test), max_gap))

    # One sample per line keeps the file readable and diffs small.
    samples = [json.dumps({"pixels": [float(v) for v in row], "label": int(lab)}, separators=(",", ":"))
               for row, lab in zip(x_test, y_test)]
    with open(os.path.join(HERE, "heldout.json"), "w") as f:
        f.write("[\n" + ",\n".join(samples) + "\n]\n")

    print("wrote model.onnx (%d bytes) and heldout.json (%d samples)"
          % (os.path.getsize(model_path), len(samples)))
    update_deployment_hashes()


if __name__ == "__main__":
    if sys.argv[1:] == ["--hashes-only"]:
        update_deployment_hashes()
    elif sys.argv[1:]:
        sys.exit("usage: train.py [--hashes-only]")
    else:
        main()
