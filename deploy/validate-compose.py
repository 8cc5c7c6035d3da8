#!/usr/bin/env python3
"""Validate a Compose file against the Compose Specification's JSON schema.

    deploy/validate-compose.py [COMPOSE_FILE] [--schema SCHEMA]

COMPOSE_FILE defaults to docker-compose.yml at the repository root. SCHEMA defaults to
$COMPOSE_SCHEMA, else /work/shared/schemas/compose-spec.json (compose-spec/compose-spec,
schema/compose-spec.json). Docker is not needed: this checks the file's structure, as
`docker compose config` would, without interpolating variables or touching the engine.

Exit status: 0 valid, 1 invalid (every problem is printed with its path), 2 the file or
schema could not be read. Needs PyYAML and jsonschema (pip install pyyaml jsonschema).
"""

import argparse
import json
import os
import sys
from pathlib import Path

try:
    import yaml
    from jsonschema.validators import Draft7Validator, validator_for
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(f"validate-compose: {exc}; run: pip install pyyaml jsonschema\n")
    sys.exit(2)

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = "/work/shared/schemas/compose-spec.json"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compose_file", nargs="?", default=str(REPO_DIR / "docker-compose.yml"))
    parser.add_argument("--schema", default=os.environ.get("COMPOSE_SCHEMA", DEFAULT_SCHEMA))
    args = parser.parse_args()

    try:
        with open(args.schema, encoding="utf-8") as handle:
            schema = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"validate-compose: cannot read schema {args.schema}: {exc}", file=sys.stderr)
        return 2

    try:
        with open(args.compose_file, encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=UniqueKeyLoader)  # noqa: S506 - safe subclass
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

    services = sorted((document.get("services") or {}).keys())
    print(f"OK: {args.compose_file} is valid against {args.schema} "
          f"({validator_class.__name__}; services: {', '.join(services) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
