#!/usr/bin/env bash
# An A/B of two revisions of the agent on this machine, run in turn, so that both meet the same
# machine (on a shared 2-core machine, runs minutes apart can differ by 30 %). See docs/benchmarks.md.
#
#   bash scripts/bench-ab.sh REV_A REV_B [PART ...]
#
# PART is a part of the suite (invocation, deployment, footprint, fleet; default: invocation and
# deployment). Each revision's edge-agent and edgectl are built (release) in a worktree of its
# own under .build-ab/ (kept, so a second A/B rebuilds only what changed); the load generator,
# the broker and the benchmark's code are this checkout's, for both. In each round, A runs every
# part, then B does. Settings (environment):
#   BENCH_AB_ROUNDS   rounds (default 2)
#   BENCH_AB_OUT      where the records go (default benchmarks/results/ab/), one JSON per part,
#                     revision and round: PART-REV-ROUND.json
#   BENCH_QUICK       default 1 here (short runs); 0 for the full parts
#   any BENCH_* setting of the suite (benchmarks/README.md), passed to every run
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

usage() {
    echo "usage: bash scripts/bench-ab.sh REV_A REV_B [invocation|deployment|footprint|fleet ...]   (see docs/benchmarks.md)" >&2
    exit 2
}
[ "$#" -ge 2 ] || usage
rev_a="$1"
rev_b="$2"
shift 2
parts=("$@")
[ "${#parts[@]}" -gt 0 ] || parts=(invocation deployment)
for part in "${parts[@]}"; do
    case "$part" in
        invocation|deployment|footprint|fleet) ;;
        *) echo "bench-ab: '$part' is not a part of the suite" >&2; usage ;;
    esac
done
rounds="${BENCH_AB_ROUNDS:-2}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench-ab: BENCH_AB_ROUNDS=$rounds: give a whole number of rounds, 1 or more" >&2; exit 2; }
out="${BENCH_AB_OUT:-$repo/benchmarks/results/ab}"
mkdir -p "$out"
export BENCH_QUICK="${BENCH_QUICK:-1}"

if [ "${BENCH_SKIP_SETUP:-0}" != 1 ]; then
    scripts/setup.sh
fi
export BENCH_SKIP_SETUP=1

# One worktree per revision, named by its commit; built as bench.sh builds this checkout.
worktree() {
    local commit
    commit="$(git rev-parse --verify --quiet "$1^{commit}")" || { echo "bench-ab: '$1' is not a revision of this repository" >&2; exit 2; }
    local dir="$repo/.build-ab/${commit:0:12}"
    if [ ! -d "$dir" ]; then
        git worktree add --detach "$dir" "$commit" >&2
    fi
    echo "== building edge-agent and edgectl of ${commit:0:12} (release)" >&2
    (cd "$dir" && swift build -c release --product edge-agent >&2 && swift build -c release --product edgectl >&2)
    echo "$dir"
}
dir_a="$(worktree "$rev_a")"
dir_b="$(worktree "$rev_b")"
name_a="$(basename "$dir_a")"
name_b="$(basename "$dir_b")"

files=()
for round in $(seq 1 "$rounds"); do
    for side in "$dir_a" "$dir_b"; do
        name="$(basename "$side")"
        for part in "${parts[@]}"; do
            record="$out/$part-$name-$round.json"
            echo "== round $round/$rounds: $part, $name"
            # A failed part (a run that lost events, say) is reported and kept: the A/B shows it.
            if ! EDGE_AGENT_BIN="$side/.build/release/edge-agent" EDGECTL_BIN="$side/.build/release/edgectl" \
                BENCH_AGENT_SOURCE="$side" BENCH_OUT="$record" bash scripts/bench.sh "$part" > "$out/$part-$name-$round.log" 2>&1; then
                echo "   $part of $name reported problems: see $out/$part-$name-$round.log"
            fi
            [ -f "$record" ] && files+=("$record")
        done
    done
done

export PYTHONPATH="$repo:$repo/Tests${PYTHONPATH:+:$PYTHONPATH}"
python3 -m benchmarks.ab --a "$name_a" --b "$name_b" "${files[@]}"
printf '\nrecords in %s; reproduce with: BENCH_AB_ROUNDS=%s BENCH_QUICK=%s bash scripts/bench-ab.sh %s %s %s\n' \
    "${out#"$repo"/}" "$rounds" "$BENCH_QUICK" "$rev_a" "$rev_b" "${parts[*]}"
