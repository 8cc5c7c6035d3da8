#!/usr/bin/env bash
# Benchmarks: each prints its figures, the machine and the command that reproduces them, and
# writes them to benchmarks/results/<name>-latest.json. See docs/benchmarks.md.
#
#   bash scripts/bench.sh          the suite: footprint (binary, start, memory idle, with 10
#                                  functions, after 100,000 invocations), invocation path (native
#                                  and Python functions, QoS 0 and 1, fixed rates and saturation,
#                                  beside a broker-only baseline), deployment time (fresh and
#                                  cached artifacts) and a fleet of 200 agents on one broker, with
#                                  the goals against Greengrass's figures (results/suite-latest.json)
#                                  the outbox offline (100,000 results stored while the broker is
#                                  away, then delivered, with live traffic's p99 meanwhile) and a
#                                  soak of 1,000,000 invocations (memory and descriptors flat)
#   bash scripts/bench.sh PART     one part of the suite: footprint, invocation, deployment, fleet,
#                                  offline or soak (results/PART-latest.json)
#   bash scripts/bench.sh caps     spawn-to-ready with and without cgroup caps, and the agent's own
#                                  CPU and memory while it supervises capped functions (as root)
#   bash scripts/bench.sh shadow   the Device Shadow API: update and get round trips, pipelined
#                                  updates per second, live configuration from the classic shadow to
#                                  a running function and back into reported, the agent's memory and
#                                  the shadows' size on disk (any user)
#   bash scripts/bench.sh models   edge-model on both examples (docs/models.md): the variants of the
#                                  inspection (PP-OCRv4) and digits models measured, then fitted on
#                                  this machine through an agent under cgroups, the chosen limits
#                                  held for 1,000 requests; the reports go to examples/*/fit-report/
#                                  (as root)
#   bash scripts/bench.sh signing  signed deployments: publish-to-SUCCEEDED with and without a
#                                  trusted key, over plain MQTT and mutual TLS, the agent's memory
#                                  (libcrypto's share) and edgectl sign's time (any user)
#
# Like scripts/demo.sh it runs scripts/setup.sh and builds the release binaries of this checkout
# first. Settings (environment):
#   BENCH_QUICK=1            a short run: about a minute per part once built
#   suite:  see benchmarks/README.md (BENCH_FOOTPRINT_*, BENCH_INVOKE_*, BENCH_DEPLOY_*, BENCH_FLEET_*)
#   caps:   BENCH_FUNCTIONS, BENCH_ROUNDS, BENCH_SINGLE_ROUNDS, BENCH_PYTHON_ROUNDS, BENCH_IDLE_SECONDS,
#           BENCH_LOAD_SECONDS, BENCH_RATE, BENCH_SETTLE_SECONDS, BENCH_CGROUPS_OFF, BENCH_TIMEOUT
#   shadow: BENCH_UPDATES, BENCH_WARMUP, BENCH_PIPELINED, BENCH_CLIENTS, BENCH_BURSTS, BENCH_CONFIG_ROUNDS,
#           BENCH_DISK_WRITES, BENCH_TIMEOUT
#   signing: BENCH_DEPLOYS, BENCH_TIMEOUT
#   models: BENCH_MODEL_FRAMES, BENCH_FIT_COUNT, BENCH_HOLD, BENCH_INSPECTION_TARGET_MS,
#           BENCH_DIGITS_TARGET_MS, BENCH_TIMEOUT, BENCH_VARIANTS_FROM (an earlier run's kept variants)
#                            see benchmarks/README.md
#   EDGE_AGENT_BIN, EDGECTL_BIN  use these binaries instead of building (both, or neither)
#   BENCH_AGENT_SOURCE       the checkout those binaries were built from (its revision is reported,
#                            its runtime/ and examples/ are used); default: this checkout
#   BENCH_PYTHON             the interpreter of Python functions (default
#                            /opt/edge-agent/python/bin/python3; the Python part is skipped without it)
#   BENCH_TMPDIR             where the work folder (and so the agents' state folders) is made
#                            (default /tmp); the shadow benchmark's fsyncs go to that filesystem
#   BENCH_OUT                where the figures go (default benchmarks/results/<name>-latest.json)
#   BENCH_SKIP_SETUP=1       do not run scripts/setup.sh
#   BENCH_KEEP=1             keep the work folder (logs, state) instead of removing it
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

usage() {
    echo "usage: bash scripts/bench.sh [footprint|invocation|deployment|fleet|cluster|offline|soak|caps|shadow|signing|models]   (see docs/benchmarks.md)" >&2
    exit 2
}
[ "$#" -le 1 ] || usage
bench="${1:-suite}"
case "$bench" in
    suite|footprint|invocation|deployment|fleet|cluster|offline|soak)
        settings="$(sed -n 's/^ *"\(BENCH_[A-Z_]*\)": (.*/\1/p' benchmarks/suite/*.py | sort -u | tr '\n' ' ')" ;;
    caps)
        settings="BENCH_FUNCTIONS BENCH_ROUNDS BENCH_PYTHON_ROUNDS BENCH_IDLE_SECONDS BENCH_LOAD_SECONDS
                  BENCH_SINGLE_ROUNDS BENCH_RATE BENCH_SETTLE_SECONDS BENCH_CGROUPS_OFF" ;;
    shadow)
        settings="BENCH_UPDATES BENCH_WARMUP BENCH_PIPELINED BENCH_CLIENTS BENCH_BURSTS BENCH_CONFIG_ROUNDS
                  BENCH_DISK_WRITES" ;;
    signing)
        settings="BENCH_DEPLOYS" ;;
    models)
        settings="BENCH_MODEL_FRAMES BENCH_FIT_COUNT BENCH_HOLD BENCH_INSPECTION_TARGET_MS BENCH_DIGITS_TARGET_MS
                  BENCH_VARIANTS_FROM" ;;
    *) usage ;;
esac

if { [ "$bench" = caps ] || [ "$bench" = models ]; } && [ "$(id -u)" -ne 0 ]; then
    echo "bench: the $bench benchmark runs the agent as root (cgroups, the function user edgefn): run it as root" >&2
    exit 1
fi

# What to print as the command that reproduces this run: the settings given, then the command.
reproduce=""
for name in BENCH_QUICK $settings BENCH_TIMEOUT BENCH_PYTHON BENCH_TMPDIR; do
    if [ -n "${!name:-}" ]; then reproduce+="$name=$(printf '%q' "${!name}") "; fi
done
reproduce+="bash scripts/bench.sh${1:+ $1}"

if [ "${BENCH_SKIP_SETUP:-0}" != 1 ]; then
    scripts/setup.sh
fi

if [ -n "${EDGE_AGENT_BIN:-}" ] || [ -n "${EDGECTL_BIN:-}" ]; then
    if [ -z "${EDGE_AGENT_BIN:-}" ] || [ -z "${EDGECTL_BIN:-}" ]; then
        echo "bench: set both EDGE_AGENT_BIN and EDGECTL_BIN, or neither (then this checkout is built)" >&2
        exit 2
    fi
    agent_bin="$EDGE_AGENT_BIN"
    edgectl_bin="$EDGECTL_BIN"
    source_dir="${BENCH_AGENT_SOURCE:-$repo}"
else
    echo "== building edge-agent and edgectl (release)"
    swift build -c release --product edge-agent
    swift build -c release --product edgectl
    bin="$(swift build -c release --show-bin-path)"
    agent_bin="$bin/edge-agent"
    edgectl_bin="$bin/edgectl"
    source_dir="$repo"
fi
loadgen_bin=""
if [ "$bench" != caps ] && [ "$bench" != shadow ] && [ "$bench" != signing ] && [ "$bench" != models ]; then
    # The load generator is the benchmark's own tool, always built from this checkout.
    echo "== building edge-loadgen (release)"
    swift build -c release --product edge-loadgen
    loadgen_bin="$(swift build -c release --show-bin-path)/edge-loadgen"
fi
for binary in "$agent_bin" "$edgectl_bin"; do
    [ -x "$binary" ] || { echo "bench: $binary is not an executable" >&2; exit 1; }
done
source_dir="$(cd "$source_dir" && pwd)"

# The revision the agent was built from; "+dirty" when that checkout has changes to its sources.
revision="$(git -C "$source_dir" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [ "$revision" != unknown ] && [ -n "$(git -C "$source_dir" status --porcelain -- Sources Package.swift Package.resolved 2>/dev/null)" ]; then
    revision+="+dirty"
fi
[ "$revision" = unknown ] || revision+=" ($(git -C "$source_dir" log -1 --format=%cs HEAD))"

python_bin="${BENCH_PYTHON:-/opt/edge-agent/python/bin/python3}"
python_note=""
if [ ! -x "$python_bin" ]; then
    python_note="no interpreter at $python_bin (scripts/setup.sh makes it; or set BENCH_PYTHON)"
    if [ "$bench" = shadow ]; then
        echo "bench: note: the live configuration part (a Python function) is skipped: $python_note"
    elif [ "$bench" = signing ]; then
        :  # no Python function here
    elif [ "$bench" != caps ]; then
        echo "bench: note: the Python function and deployments are skipped: $python_note"
    else
        echo "bench: note: the Python function is skipped: $python_note"
    fi
    python_bin=""
fi

# The work folder: under /tmp (or BENCH_TMPDIR) and traversable, because functions run as edgefn
# (when the agent is root) and must reach their files in the agents' state folders. The cgroup
# subtree name is unique to this run (caps only: the shadow benchmark's agent runs --cgroups off).
work="$(mktemp -d "${BENCH_TMPDIR:-/tmp}/edge-bench.XXXXXX")"
chmod 0755 "$work"
cgroup_root=""
[ "$bench" != caps ] && [ "$bench" != models ] || cgroup_root="/edge-bench-$$-$RANDOM"
cleanup() {
    local status=$?
    # The driver stops everything itself; this is for when it could not (killed, crashed).
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            if [ -n "$pid" ] && grep -qa -- "$work" "/proc/$pid/cmdline" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done < "$work/pids"
    fi
    # Functions killed with their agent leave their cgroups a moment later: retry for 5 s. Only
    # caps has a subtree of its own: with an empty name these patterns would match every hierarchy.
    local dir tries dirs=()
    [ -z "$cgroup_root" ] || dirs=(/sys/fs/cgroup/*"$cgroup_root" /sys/fs/cgroup"$cgroup_root")
    for dir in "${dirs[@]}"; do
        tries=50
        while [ -d "$dir" ] && ! find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null; do
            tries=$((tries - 1))
            if [ "$tries" -le 0 ]; then
                echo "bench: warning: could not remove the cgroup $dir" >&2
                break
            fi
            sleep 0.1
        done
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: the work folder (logs, state) is kept: $work"
    else
        rm -rf "$work"
    fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

out="${BENCH_OUT:-$repo/benchmarks/results/$bench-latest.json}"
# The drivers are modules of the package benchmarks/ and import the harness package Tests/harness.
export PYTHONPATH="$repo:$repo/Tests${PYTHONPATH:+:$PYTHONPATH}"
if [ "$bench" != shadow ] && [ "$bench" != signing ] && [ "$bench" != models ]; then
    echo "== compiling the native echo function (examples/echo-native/echo.c)"
    # shellcheck disable=SC2046 # pkg-config prints several flags
    cc -O2 -Wall -Wextra -o "$work/echo" "$source_dir/examples/echo-native/echo.c" $(pkg-config --cflags --libs json-c)
    chmod 0755 "$work/echo"
fi
case "$bench" in
    suite|footprint|invocation|deployment|fleet|cluster|offline|soak)
        parts="footprint,invocation,deployment,fleet,cluster,offline,soak"
        [ "$bench" = suite ] || parts="$bench"
        echo "== running the benchmark suite: $parts (work folder $work)"
        python3 -m benchmarks.suite_bench \
            --agent "$agent_bin" --edgectl "$edgectl_bin" --loadgen "$loadgen_bin" --echo "$work/echo" \
            --runtime-dir "$source_dir/runtime" --examples-dir "$source_dir/examples" \
            ${python_bin:+--python "$python_bin"} --python-note "$python_note" \
            --workdir "$work" --out "$out" --parts "$parts" \
            --revision "$revision" --command "$reproduce"
        ;;
    caps)
        echo "== running the caps benchmark (work folder $work, cgroup subtree $cgroup_root)"
        python3 -m benchmarks.caps_bench \
            --agent "$agent_bin" --edgectl "$edgectl_bin" --echo "$work/echo" \
            --runtime-dir "$source_dir/runtime" ${python_bin:+--python "$python_bin"} --python-note "$python_note" \
            --workdir "$work" --cgroup-root "$cgroup_root" --out "$out" \
            --revision "$revision" --command "$reproduce"
        ;;
    shadow)
        echo "== running the shadow benchmark (work folder $work)"
        python3 -m benchmarks.shadow_bench \
            --agent "$agent_bin" --edgectl "$edgectl_bin" \
            --runtime-dir "$source_dir/runtime" ${python_bin:+--python "$python_bin"} --python-note "$python_note" \
            --workdir "$work" --out "$out" \
            --revision "$revision" --command "$reproduce"
        ;;
    signing)
        echo "== running the signing benchmark (work folder $work)"
        python3 -m benchmarks.signing_bench \
            --agent "$agent_bin" --edgectl "$edgectl_bin" --runtime-dir "$source_dir/runtime" \
            --workdir "$work" --out "$out" --revision "$revision" --command "$reproduce"
        ;;
    models)
        echo "== running the models benchmark (work folder $work, cgroup subtree $cgroup_root)"
        python3 -m benchmarks.models_bench \
            --agent "$agent_bin" --edgectl "$edgectl_bin" --runtime-dir "$source_dir/runtime" \
            ${python_bin:+--python "$python_bin"} --python-note "$python_note" --examples-dir "$source_dir/examples" \
            --workdir "$work" --cgroup-root "$cgroup_root" --out "$out" --revision "$revision" --command "$reproduce"
        ;;
esac
