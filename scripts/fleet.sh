#!/usr/bin/env bash
# A small fleet on this machine, to try edgectl and its dashboard on (README, "Walk-through"):
# a Mosquitto on 127.0.0.1 and N agents (cam-01, cam-02, …; all in one thing group), each with a
# state directory and a cgroup subtree of its own. Runs in the foreground until Ctrl-C (or
# SIGTERM), then stops everything it started; its files are under run/fleet/.
#
#   bash scripts/fleet.sh [--things N] [--group G] [--port P]      (defaults: 3, line1, 1883)
#
# It prints the two variables that point edgectl at this broker.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
source scripts/lib.sh

things=3 group=line1 port=1883
while [ "$#" -gt 0 ]; do
    case "$1" in
        --things) things="$2"; shift 2 ;;
        --group) group="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        *) echo "usage: bash scripts/fleet.sh [--things N] [--group G] [--port P]" >&2; exit 2 ;;
    esac
done
[[ "$things" =~ ^[1-9][0-9]?$ ]] || { echo "fleet: --things is 1 to 99" >&2; exit 2; }
[[ "$group" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "fleet: --group is letters, digits, - and _" >&2; exit 2; }
[[ "$port" =~ ^[0-9]+$ ]] || { echo "fleet: --port is a number" >&2; exit 2; }

bin="$(build_release)"

run="$repo/run/fleet"
rm -rf "$run"
mkdir -p "$run"
# Functions run as edgefn (when root): their files must be reachable by it (not under /root).
states="$run"
if [ "$(id -u)" -eq 0 ] && ! reachable_by_others "$run"; then
    states="/var/tmp/edge-agent-fleet"
    rm -rf "$states"
fi
function_python="$(function_python)"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -f "$run/broker/mosquitto.pid" ] && kill "$(cat "$run/broker/mosquitto.pid")" 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "== starting mosquitto on 127.0.0.1:$port"
start_broker "$run/broker" "$port"
for n in $(seq 1 "$things"); do
    thing="$(printf 'cam-%02d' "$n")"
    "$bin/edge-agent" --thing-name "$thing" --thing-group "$group" --broker-port "$port" --state-dir "$states/$thing" \
        --cgroup-root "edge-fleet-$thing" --runtime-dir "$repo/runtime" --python "$function_python" \
        --health-interval 5 > "$run/$thing.log" 2>&1 &
    pids+=($!)
    echo "== started $thing (group $group, log $run/$thing.log)"
done
cat <<TEXT

The fleet runs until Ctrl-C. In another shell:

  export PATH="$bin:\$PATH" EDGECTL_HOST=127.0.0.1 EDGECTL_PORT=$port
  edgectl things
  edgectl dashboard                 # then open http://127.0.0.1:8080
TEXT
wait "${pids[@]}"
