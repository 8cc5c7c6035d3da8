#!/usr/bin/env bash
# Deploys one of examples/ onto an agent that runs already, in one command:
#
#   bash scripts/deploy-example.sh NAME --thing THING [--port PORT] [--host HOST] [edgectl options]
#
# NAME is a folder of examples/ (digits, anomaly, echo-native, inspection). A folder with a
# Makefile is built first (make); one with a prepare.py runs it first (python3: it puts the
# example's models in place from installed packages, nothing downloaded). Its deployment.json is
# rendered for this machine: `__EXAMPLE_DIR__` becomes the folder's absolute path, and an
# artifact whose sha256 is "__BUILT__" (a binary built here, whose hash depends on the compiler)
# gets the hash of that file. The rendered document is checked with
# `edgectl validate`, then published with `edgectl deploy`, which waits for the outcome; the
# remaining options (--thing, --port, --host, --tls-ca, …, --timeout) are edgectl's.
# edgectl is taken from EDGECTL_BIN, else built (release) from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

if [ "$#" -lt 1 ] || [ ! -f "examples/${1:-}/deployment.json" ] || [[ "$1" == */* ]]; then
    echo "usage: bash scripts/deploy-example.sh NAME --thing THING [--port PORT] [edgectl deploy options]" >&2
    echo "NAME: one of $(cd examples && for d in */; do [ -f "$d/deployment.json" ] && printf '%s ' "${d%/}"; done)" >&2
    exit 2
fi
name="$1"
shift
folder="$repo/examples/$name"

if [ -f "$folder/Makefile" ]; then
    echo "== building examples/$name"
    make -s -C "$folder"
fi
if [ -f "$folder/prepare.py" ]; then
    echo "== preparing examples/$name"
    python3 "$folder/prepare.py"
fi
edgectl="${EDGECTL_BIN:-}"
if [ -z "$edgectl" ]; then
    swift build -c release --product edgectl >/dev/null
    edgectl="$(swift build -c release --show-bin-path)/edgectl"
fi

rendered="$(mktemp "${TMPDIR:-/tmp}/$name-deployment.XXXXXX.json")"
trap 'rm -f "$rendered"' EXIT
python3 - "$folder" "$rendered" <<'PY'
import hashlib, json, sys
folder, out = sys.argv[1], sys.argv[2]
document = json.loads(open(folder + "/deployment.json").read().replace("__EXAMPLE_DIR__", folder))
for name, function in document["functions"].items():
    for artifact in function.get("artifacts", []):
        if artifact.get("sha256") == "__BUILT__":
            path = artifact["uri"][len("file://"):]
            artifact["sha256"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
open(out, "w").write(json.dumps(document, indent=2) + "\n")
PY
"$edgectl" validate "$rendered"
echo "== deploying examples/$name"
"$edgectl" deploy "$rendered" "$@"
