"""Deployment documents with real sha256 digests: artifacts, native and Python functions, the
document itself, and the examples' documents as shipped."""

import base64
import hashlib
import json
from pathlib import Path

from .layout import REPO

FINAL = ("SUCCEEDED", "FAILED", "ROLLED_BACK", "REJECTED", "SUPERSEDED")


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def b64(data):
    return base64.b64encode(data).decode()


def artifact(path, sha256=None, **extra):
    """A file:// artifact of `path` (made absolute) with its digest (`sha256` when the caller has
    it already); `extra` adds fields (name, ...)."""
    path = Path(path).resolve()
    entry = {"uri": "file://%s" % path, "sha256": sha256 or sha256_of(path)}
    entry.update(extra)
    return entry


def _io(spec, subscriptions, qos, output, limits, fields):
    spec["subscriptions"] = [{"topic": t, "qos": qos} for t in subscriptions]
    if limits is not None:
        spec["limits"] = dict(limits)
    if output:
        spec["output"] = {"topic": output, "qos": qos}
    spec.update(fields)
    return spec


def native_function(echo_path, version="1", subscriptions=("sensors/+/x",), qos=1, output=None, limits=None,
                    sha256=None, **fields):
    """The compiled echo example as a native function: its subscriptions at `qos`, its results to
    `output` (a topic, at the same QoS) or the default results topic, `limits` if given; `fields`
    add to the spec."""
    spec = {"version": version, "command": ["echo"], "artifacts": [artifact(echo_path, sha256=sha256, name="echo")]}
    return _io(spec, subscriptions, qos, output, limits, fields)


def python_function(module_path, handler, version="1", subscriptions=(), qos=1, output=None, limits=None,
                    sha256=None, **fields):
    """A Python function: `handler` ("module.function") in the module `module_path`; the rest as
    for native_function."""
    spec = {"version": version, "runtime": "python3", "handler": handler,
            "artifacts": [artifact(module_path, sha256=sha256)]}
    return _io(spec, subscriptions, qos, output, limits, fields)


def document(deployment_id, revision, functions, **policy):
    """A deployment document; its policy is `healthySeconds` 0 unless `policy` says otherwise."""
    doc = {"deploymentId": deployment_id, "revision": revision, "functions": functions}
    merged = {"healthySeconds": 0}
    merged.update(policy)
    doc["policy"] = merged
    return doc


def example_deployment(name):
    """examples/NAME/deployment.json as shipped, with `__EXAMPLE_DIR__` replaced by the folder's
    absolute path (what scripts/deploy-example.sh does for an example with pinned digests)."""
    folder = REPO / "examples" / name
    return json.loads((folder / "deployment.json").read_text().replace("__EXAMPLE_DIR__", str(folder)))


def stale_digests(document):
    """The file:// artifacts of a deployment document whose sha256 no longer matches the file."""
    stale = []
    for function in document["functions"].values():
        for item in function.get("artifacts", []):
            if item["uri"].startswith("file://") and sha256_of(item["uri"][len("file://"):]) != item["sha256"]:
                stale.append(item["uri"])
    return stale
