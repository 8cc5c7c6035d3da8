#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of every parser the agent runs on
# input from outside: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  how long each target runs (default 20; CI runs 15 each)
#   TARGET              json runtime deployment shadow config tar gzip archive (default: all)
#   FUZZ_MERGE=1        afterwards, merge what was found into Fuzz/corpus (minimised), to commit
# Seeds and every input worth keeping live in Fuzz/corpus/<target>; a crash stops the run and
# leaves its input in .build/fuzz/crashes/. docs/fuzzing.md says what was run and found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(json runtime deployment shadow config tar gzip archive)
scratch=.build/fuzz
build=$scratch/debug

echo "== building the fuzz driver (libFuzzer + ASan)"
rm -f "$scratch/edge-fuzz"
for module in EdgeJSON EdgeArtifacts; do
    # Coverage (the fuzzer's guide) and AddressSanitizer in every module of the agent it links.
    swift build --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address \
        --target "$module" 2>&1 | tail -1
done
objects=()
for module in EdgeCore EdgeJSON EdgeArtifacts EdgePOSIX CEdgeSpawn; do
    objects+=("$build/$module.build"/*.o)
done
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name EdgeFuzz \
    -I "$build/Modules" -I Sources/CJSONC -I Sources/CZlib -I Sources/CCrypto -I Sources/CCurl \
    -Xcc -fmodule-map-file="$build/CEdgeSpawn.build/module.modulemap" \
    Fuzz/EdgeFuzz.swift "${objects[@]}" $(pkg-config --libs json-c zlib libcrypto) -ldl \
    -o "$scratch/edge-fuzz" 2>&1 | grep -v "Cannot export local symbol '__asan" || true
[ -x "$scratch/edge-fuzz" ] || { echo "fuzz: the driver did not build" >&2; exit 1; }

mkdir -p "$scratch/crashes"
total_runs=0
for target in "${targets[@]}"; do
    seeds=Fuzz/corpus/$target
    work=$scratch/corpus/$target
    mkdir -p "$work"
    [ -d "$seeds" ] || { echo "fuzz: no seed corpus at $seeds" >&2; exit 1; }
    log=$scratch/$target.log
    if ! EDGE_FUZZ_TARGET=$target "$scratch/edge-fuzz" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
            -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/crashes/$target-" \
            "$work" "$seeds" >"$log" 2>&1; then
        echo "fuzz: target $target FAILED; the input is in $scratch/crashes/ and the report in $log:" >&2
        grep -E "ERROR|SUMMARY|Fatal|panic|==[0-9]+==" "$log" | head -20 >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    edges=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
    corpus=$(ls "$work" "$seeds" | wc -l)
    total_runs=$((total_runs + ${runs:-0}))
    printf 'fuzz: %-10s %10s runs in %ss, coverage %s edges, corpus %s inputs, no crash\n' "$target" "${runs:-?}" "$seconds" "${edges:-?}" "$corpus"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        EDGE_FUZZ_TARGET=$target "$scratch/edge-fuzz" -merge=1 -max_len=65536 "$seeds" "$work" >>"$log" 2>&1
    fi
done
echo "fuzz: $total_runs runs in all, no crash (reproduce: bash scripts/fuzz.sh $seconds ${targets[*]})"
