"""The deployment documents of `edge-model fit`: the user's document read (as
scripts/deploy-example.sh renders an example's), a variant's files put in place of the artifacts of
the same name, the limits of a trial set, and the topics the function listens and answers on."""

import copy
import hashlib
import json
import os
import re
from pathlib import Path

# Placeholders of the examples' deployment.json (scripts/deploy-example.sh renders them).
EXAMPLE_DIR = "__EXAMPLE_DIR__"
BUILT = "__BUILT__"
# Variant folders of `edge-model optimize`, in the order a report lists them; others follow by name.
KNOWN_VARIANTS = ("fp32", "optimized", "dynamic-int8", "static-int8", "fp16")
REFUSED = "refused"


class DeploymentError(ValueError):
    """A deployment, a variant folder or a task that fit cannot use; the message says what to fix."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(path):
    """The deployment document at `path`, with `__EXAMPLE_DIR__` replaced by its folder and a
    `__BUILT__` digest computed, as scripts/deploy-example.sh does. Returns (document, folder the
    placeholder stood for, or None)."""
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except OSError as error:
        raise DeploymentError("--deployment %s: %s" % (path, error.strerror))
    folder = str(path.parent) if EXAMPLE_DIR in text else None
    try:
        document = json.loads(text.replace(EXAMPLE_DIR, str(path.parent)))
    except ValueError as error:
        raise DeploymentError("%s is not JSON: %s" % (path, error))
    if not isinstance(document, dict) or not isinstance(document.get("functions"), dict):
        raise DeploymentError("%s is not a deployment document (no \"functions\" object)" % path)
    if not isinstance(document.get("deploymentId"), str) or not document["deploymentId"]:
        raise DeploymentError("%s has no \"deploymentId\": give it one (docs/deployments.md)" % path)
    for function in document["functions"].values():
        for artifact in function.get("artifacts", []):
            if artifact.get("sha256") == BUILT and artifact.get("uri", "").startswith("file://"):
                artifact["sha256"] = sha256_of(artifact["uri"][len("file://"):])
    return document, folder


def function_spec(document, name):
    functions = document["functions"]
    if name not in functions:
        raise DeploymentError("the deployment has no function %r (it has: %s)" % (name, ", ".join(sorted(functions))))
    return functions[name]


def artifact_basename(artifact):
    """The file name an artifact lands under in the function's folder."""
    return artifact.get("name") or os.path.basename(artifact["uri"].split("?", 1)[0].rstrip("/"))


class Variant:
    """One folder of optimize's output: its name and its files by basename."""

    def __init__(self, name, folder, files):
        self.name = name
        self.folder = folder
        self.files = files  # basename -> absolute Path

    def size_bytes(self):
        return sum(path.stat().st_size for path in self.files.values())

    def __repr__(self):
        return "Variant(%r, %s)" % (self.name, sorted(self.files))


def variants(out_dir, names=None):
    """The variants in `out_dir` (each folder but refused/), in report order; `names` restricts them."""
    out = Path(out_dir).resolve()
    if not out.is_dir():
        raise DeploymentError("--variants %s is not a folder (edge-model optimize writes one)" % out_dir)
    found = {}
    for folder in sorted(out.iterdir()):
        if not folder.is_dir() or folder.name == REFUSED or folder.name.startswith("."):
            continue
        files = {entry.name: entry for entry in sorted(folder.iterdir()) if entry.is_file()}
        if files:
            found[folder.name] = Variant(folder.name, folder, files)
    if names:
        missing = [name for name in names if name not in found]
        if missing:
            raise DeploymentError("--variant %s: not in %s (there: %s)"
                                  % (", ".join(missing), out, ", ".join(found) or "no variant folder"))
        found = {name: found[name] for name in names}
    if not found:
        raise DeploymentError("%s holds no variant folder (edge-model optimize writes OUT/<variant>/<model>)" % out)
    order = {name: index for index, name in enumerate(KNOWN_VARIANTS)}
    return sorted(found.values(), key=lambda v: (order.get(v.name, len(order)), v.name))


def with_variant(document, function, variant):
    """A copy of `document` whose function `function` has the variant's files in place of the
    artifacts with the same basename (file:// URI, sha256 recomputed). Every file of the variant
    must replace an artifact: one that matches none means the wrong deployment or variants."""
    new = copy.deepcopy(document)
    spec = function_spec(new, function)
    artifacts = spec.get("artifacts", [])
    by_name = {artifact_basename(a): a for a in artifacts}
    unmatched = sorted(set(variant.files) - set(by_name))
    if unmatched:
        raise DeploymentError("variant %s has %s, which no artifact of function %s is named (its artifacts: %s)"
                              % (variant.name, ", ".join(unmatched), function, ", ".join(sorted(by_name)) or "none"))
    for basename, path in variant.files.items():
        artifact = by_name[basename]
        had_name = "name" in artifact
        artifact.clear()
        artifact["uri"] = "file://%s" % path
        artifact["sha256"] = sha256_of(path)
        if had_name or os.path.basename(str(path)) != basename:
            artifact["name"] = basename
    return new


def trial_version(version, trial):
    """A version of its own for each trial (the spec changes, so the agent starts a fresh instance
    with fresh counters, and its answers and health name it): VERSION+fitN."""
    tag = ("." if "+" in version else "+") + "fit%d" % trial
    return version[:64 - len(tag)] + tag


def with_limits(document, function, limits, deployment_id, revision, version=None):
    """A copy of `document` with the function's limits updated (a None value removes one) and a
    new id, revision and (optionally) version."""
    new = copy.deepcopy(document)
    new["deploymentId"] = deployment_id
    new["revision"] = revision
    new.pop("target", None)
    spec = function_spec(new, function)
    merged = dict(spec.get("limits", {}))
    for key, value in limits.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    spec["limits"] = merged
    if version is not None:
        spec["version"] = version
    return new


def trial_id(deployment_id, variant, trial):
    """deploymentId of a trial: letters, digits, . _ : - only, at most 128 characters."""
    safe = re.sub(r"[^A-Za-z0-9._:-]", "-", "%s.fit.%s.%d" % (deployment_id, variant, trial))
    return safe[-128:]


def expand(topic, thing, function):
    return topic.replace("{thing}", thing).replace("{function}", function)


def request_topic(spec, thing, function, task_topic=None):
    """Where fit publishes the requests: the task's TOPIC, else the function's direct invocation
    topic, which reaches it whatever its subscriptions and which the shipped operators' ACL grants
    (edge/#); its answers go to the function's output topic all the same."""
    if task_topic:
        return expand(task_topic, thing, function)
    return "edge/things/%s/functions/%s/invoke" % (thing, function)


def results_topic(spec, thing, function):
    output = spec.get("output") or {}
    if output.get("topic"):
        return expand(output["topic"], thing, function)
    return "edge/things/%s/functions/%s/results" % (thing, function)


def as_written(document, example_dir):
    """The document as fit writes it: with the placeholder put back for paths under the example's
    folder when the user's document used it (so it renders as the example's own does)."""
    text = json.dumps(document, indent=2) + "\n"
    if example_dir:
        text = text.replace("file://%s/" % example_dir, "file://%s/" % EXAMPLE_DIR)
    return text
