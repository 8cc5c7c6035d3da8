#!/usr/bin/env bash
# The whole test suite: Swift unit tests, the Python runtime's and the example's tests, the
# broker's TLS/ACL check, the compose file's schema check, the end-to-end tests that run the
# real edge-agent against a real Mosquitto, and a bounded fuzzing pass (15 s per parser, over the
# corpus in Fuzz/corpus). Every part runs; the exit code is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

failed=()
step() {
    local name="$1"
    shift
    echo "== $name"
    if ! "$@"; then
        failed+=("$name")
        echo "== $name: FAILED"
    fi
}

step "swift build" swift build --build-tests
step "swift unit tests" swift test --skip-build
step "broker TLS and ACL check" bash deploy/check-broker-acl.sh
step "docker-compose.yml schema check" python3 deploy/validate-compose.py
export EDGE_AGENT_BIN="${EDGE_AGENT_BIN:-$(swift build --show-bin-path)/edge-agent}"
step "python and end-to-end tests" python3 -m pytest -q -p no:cacheprovider runtime/python/tests tools/edge-model/tests examples/digits examples/anomaly examples/inspection Tests/Integration
step "fuzzing (bounded)" bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

if [ "${#failed[@]}" -gt 0 ]; then
    echo "test.sh: failed: ${failed[*]}"
    exit 1
fi
echo "test.sh: every suite passed"
