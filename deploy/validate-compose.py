#!/usr/bin/env python3
"""Validate a Compose file against the Compose Specification's JSON schema, and what it refers to.

    deploy/validate-compose.py [COMPOSE_FILE] [--schema SCHEMA] [--require-certs]

COMPOSE_FILE defaults to docker-compose.yml at the repository root. SCHEMA defaults to
$COMPOSE_SCHEMA, else shared/schemas/compose-spec.json in the folder beside the repository
(../shared/schemas/ from its root; compose-spec/compose-spec, schema/compose-spec.json).
Docker is not needed: this checks the file's structure, as `docker compose config` would,
without interpolating variables or touching the engine. Then, relative to the compose file:

- every bind-mount source exists, or is a certificate that one of the `certs/make-*.sh`
  commands listed in the file's leading comment makes (a fresh clone has no certs/out/);
  with --require-certs those must exist too (run it after making the certificates);
- every service's build context and Dockerfile exist, its build target is a stage of that
  Dockerfile, and every COPY/ADD source of the Dockerfile (except --from stages) exists in
  the context and is not excluded by the Dockerfile's .dockerignore.

Exit status: 0 valid, 1 invalid (every problem is printed with its path), 2 the file or
schema could not be read. Needs PyYAML and jsonschema (pip install pyyaml jsonschema).
"""

import argparse
import glob
import json
import os
import re
import shlex
import sys
from pathlib import Path

try:
    import yaml
    from jsonschema.validators import Draft7Validator, validator_for
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(f"validate-compose: {exc}; run: pip install pyyaml jsonschema\n")
    sys.exit(2)

REPO_DIR = Path(__file__).resolve().parents[1]
# The shared folder beside the repository (a fresh clone has ../shared next to it).
DEFAULT_SCHEMA = str(Path(__file__).resolve().parents[2] / "shared" / "schemas" / "compose-spec.json")

# What each certificate script makes in certs/out (certs/README.md), by its arguments.
CERT_SCRIPTS = {
    "make-ca.sh": lambda args: ["ca.crt", "ca.key", "operators-ca.crt", "operators-ca.key"],
    "make-broker-cert.sh": lambda args: [args[0] + ".crt", args[0] + ".key"] if args else [],
    "make-device-cert.sh": lambda args: [args[0] + ".crt", args[0] + ".key"] if args else [],
    "make-operator-cert.sh": lambda args: [args[0] + ".crt", args[0] + ".key"] if args else [],
}


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys (PyYAML keeps the last silently,
    Compose reports an error)."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def json_path(parts):
    """Render an error location like services.agent.volumes[2].bind."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def leaf_errors(error):
    """For oneOf/anyOf failures, the most specific underlying errors."""
    if not error.context:
        return [error]
    best = []
    for sub in error.context:
        best.extend(leaf_errors(sub))
    deepest = max(len(e.absolute_path) for e in best)
    return [e for e in best if len(e.absolute_path) == deepest]


def pick_validator(schema):
    """The validator for the schema's draft. The Compose schema declares
    "https://json-schema.org/draft-07/schema" (https, no "#"), a spelling jsonschema does
    not recognise; it would then fall back to the newest draft with a warning."""
    declared = str(schema.get("$schema", ""))
    if "draft-07" in declared:
        return Draft7Validator
    return validator_for(schema, default=Draft7Validator)


def documented_certificates(text):
    """{path relative to the compose file: the command} for the certs/make-*.sh commands in the
    file's leading comment (lines like "#   certs/make-device-cert.sh dev1")."""
    made = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        words = line.lstrip("#").split()
        if not words or not words[0].startswith("certs/"):
            continue
        script = Path(words[0]).name
        args = [w for w in words[1:] if not w.startswith("-")]
        if script in CERT_SCRIPTS and "--out" not in words:
            for name in CERT_SCRIPTS[script](args):
                made["certs/out/" + name] = " ".join(words)
    return made


def bind_sources(document):
    """(location, source) of every bind mount: long syntax type bind, or short syntax whose
    source is a path (starts with ".", "/" or "~"), not a named volume."""
    for name, service in (document.get("services") or {}).items():
        for index, volume in enumerate(service.get("volumes") or []):
            where = f"services.{name}.volumes[{index}]"
            if isinstance(volume, dict):
                if volume.get("type") == "bind" and volume.get("source"):
                    yield where, volume["source"]
            elif isinstance(volume, str):
                source = volume.split(":", 1)[0]
                if source.startswith((".", "/", "~")):
                    yield where, source


def check_bind_sources(document, base, made, require_certs):
    problems, notes = [], []
    for where, source in bind_sources(document):
        if "$" in source:
            notes.append(f"{where}: {source} has a variable; not checked")
            continue
        path = (base / os.path.expanduser(source)).resolve()
        if path.exists():
            continue
        relative = os.path.relpath(path, base)
        if relative in made and not require_certs:
            notes.append(f"{where}: {source} does not exist yet: `{made[relative]}` makes it")
        elif relative in made:
            problems.append(f"{where}: {source} does not exist: run `{made[relative]}` first")
        else:
            problems.append(f"{where}: bind-mount source {source} does not exist, "
                            "and no certs/make-*.sh command in the file's leading comment makes it")
    return problems, notes


def dockerignore_regex(pattern):
    """A .dockerignore pattern as a regex (Go's filepath.Match, plus ** for any folders)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"
                i += 1
            continue
        char = pattern[i]
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    return re.compile(out + r"\Z")


def excluded(path, patterns):
    """Whether the build context leaves `path` (relative, with /) out: the last pattern that
    matches it or one of its parent folders decides; "!" patterns take it back in."""
    if path in ("", "."):
        return False
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negated, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            result = not negated
    return result


def read_dockerignore(path):
    patterns = []
    if not path.is_file():
        return patterns
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((negated, dockerignore_regex(line)))
    return patterns


def dockerfile_instructions(text):
    """(instruction, arguments) with line continuations joined and comments dropped."""
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.partition(" ")
        yield word.upper(), rest.strip()
        logical = ""


def check_builds(document, base):
    problems = []
    for name, service in (document.get("services") or {}).items():
        build = service.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        where = f"services.{name}.build"
        context = (base / build.get("context", ".")).resolve()
        if not context.is_dir():
            problems.append(f"{where}.context: {context} is not a folder")
            continue
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{where}.dockerfile: {dockerfile} does not exist")
            continue
        ignore = Path(str(dockerfile) + ".dockerignore")
        patterns = read_dockerignore(ignore if ignore.is_file() else context / ".dockerignore")
        stages = set()
        for instruction, arguments in dockerfile_instructions(dockerfile.read_text()):
            if instruction == "FROM":
                words = arguments.split()
                if len(words) >= 3 and words[-2].upper() == "AS":
                    stages.add(words[-1])
            if instruction not in ("COPY", "ADD"):
                continue
            if arguments.startswith("["):
                words = json.loads(arguments)
            else:
                words = shlex.split(arguments)
            if any(w.startswith("--from") for w in words):
                continue
            sources = [w for w in words if not w.startswith("--")][:-1]
            for source in sources:
                shown = f"{where}: {dockerfile.name}: {instruction} {source}"
                if re.match(r"^[a-z]+://", source):
                    continue
                matches = glob.glob(str(context / source))
                if not matches:
                    problems.append(f"{shown}: no such file in the build context {context}")
                    continue
                relative = os.path.relpath(matches[0], context).replace(os.sep, "/")
                if excluded(relative, patterns):
                    problems.append(f"{shown}: excluded from the build context by {ignore.name}")
        target = build.get("target")
        if target and target not in stages:
            problems.append(f"{where}.target: {dockerfile.name} has no stage named {target!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compose_file", nargs="?", default=str(REPO_DIR / "docker-compose.yml"))
    parser.add_argument("--schema", default=os.environ.get("COMPOSE_SCHEMA", DEFAULT_SCHEMA))
    parser.add_argument("--require-certs", action="store_true",
                        help="certificates the leading comment's commands make must exist too")
    args = parser.parse_args()

    try:
        with open(args.schema, encoding="utf-8") as handle:
            schema = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"validate-compose: cannot read schema {args.schema}: {exc}", file=sys.stderr)
        return 2

    try:
        with open(args.compose_file, encoding="utf-8") as handle:
            text = handle.read()
        document = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - safe subclass
    except OSError as exc:
        print(f"validate-compose: cannot read {args.compose_file}: {exc}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:
        print(f"INVALID: {args.compose_file} is not valid YAML:\n{exc}")
        return 1

    if not isinstance(document, dict):
        print(f"INVALID: {args.compose_file}: the top level must be a mapping")
        return 1

    validator_class = pick_validator(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        print(f"INVALID: {args.compose_file} does not match {args.schema}:")
        for error in errors:
            for leaf in leaf_errors(error):
                print(f"  - {json_path(leaf.absolute_path)}: {leaf.message}")
        return 1

    base = Path(args.compose_file).resolve().parent
    problems, notes = check_bind_sources(document, base, documented_certificates(text), args.require_certs)
    problems += check_builds(document, base)
    for note in notes:
        print(f"note: {note}")
    if problems:
        print(f"INVALID: {args.compose_file} refers to what is not there:")
        for problem in problems:
            print(f"  - {problem}")
        return 1

    services = sorted((document.get("services") or {}).keys())
    print(f"OK: {args.compose_file} is valid against {args.schema} "
          f"({validator_class.__name__}; services: {', '.join(services) or 'none'}); "
          f"its bind mounts, build contexts, targets and COPY sources are there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
