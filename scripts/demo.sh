#!/usr/bin/env bash
# The main job, from nothing to answers: installs what is missing, builds edge-agent and edgectl
# (release), starts a local Mosquitto and the agent, deploys an example and runs its demo client.
#
#   bash scripts/demo.sh            the digits classifier (ONNX, onnxruntime): the held-out samples
#                                   over MQTT, each answer and the accuracy
#   bash scripts/demo.sh anomaly    the sensor-stream anomaly detector (numpy): alerts scored at two
#                                   thresholds, the second set live through the device shadow
#   bash scripts/demo.sh echo-native  the native function in C: events echoed, round trips
#   bash scripts/demo.sh inspection  serial numbers read from camera frames (PP-OCRv4 detection
#                                   and recognition, onnxruntime): exact match and latency
#
# Everything it starts is stopped at the end; its files are under run/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
source scripts/lib.sh

example="${1:-digits}"
if [ "$#" -gt 1 ] || [ ! -f "examples/$example/demo_client.py" ] || [[ "$example" == */* ]]; then
    echo "usage: bash scripts/demo.sh [digits|anomaly|echo-native|inspection]" >&2
    exit 2
fi
count="${DEMO_COUNT:-}"
bin="$(build_release)"

run="$repo/run/demo"
rm -rf "$run"
mkdir -p "$run"
port="$(free_port)"
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    [ -f "$run/broker/mosquitto.pid" ] && kill "$(cat "$run/broker/mosquitto.pid")" 2>/dev/null
    return 0
}
trap cleanup EXIT

echo "== starting mosquitto on 127.0.0.1:$port"
start_broker "$run/broker" "$port"

# Functions run as the unprivileged user edgefn (when root): their files, under the state
# directory, must be reachable by that user, which a clone under /root (mode 0700) is not.
state="$run/state"
if [ "$(id -u)" -eq 0 ] && ! reachable_by_others "$run"; then
    state="/var/tmp/edge-agent-demo"
    rm -rf "$state"
fi
function_python="$(function_python)"

echo "== starting edge-agent (thing demo-device, state in $state, functions run by $function_python)"
"$bin/edge-agent" --thing-name demo-device --broker-port "$port" --state-dir "$state" \
    --runtime-dir "$repo/runtime" --python "$function_python" --health-interval 10 > "$run/agent.log" 2>&1 &
agent_pid=$!

# --new-thing: the agent was started a moment ago and may not have connected yet.
EDGECTL_BIN="$bin/edgectl" scripts/deploy-example.sh "$example" --thing demo-device --port "$port" --timeout 60 --new-thing

echo "== running examples/$example/demo_client.py"
python3 "examples/$example/demo_client.py" --port "$port" --thing demo-device ${count:+--count "$count"} --timeout 120

echo "== the agent's health report"
# The agent reports its counters a second after they last moved: let that report come first.
sleep 1.5
"$bin/edgectl" health --thing demo-device --port "$port"
echo "== done; the agent's log is run/demo/agent.log"
