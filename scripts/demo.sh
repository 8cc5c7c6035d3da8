#!/usr/bin/env bash
# The main job, from nothing to answers: installs what is missing, builds edge-agent and edgectl
# (release), starts a local Mosquitto and the agent, deploys the digits classifier (ONNX,
# onnxruntime) and sends it the held-out samples over MQTT, printing each answer and the accuracy.
# Everything it starts is stopped at the end; its files are under run/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
source scripts/lib.sh

count="${DEMO_COUNT:-360}"
scripts/setup.sh

echo "== building edge-agent and edgectl (release)"
swift build -c release --product edge-agent
swift build -c release --product edgectl
bin="$(swift build -c release --show-bin-path)"

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
function_python="${EDGE_FUNCTION_VENV:-/opt/edge-agent/python}/bin/python3"
[ -x "$function_python" ] || function_python="$repo/run/function-python/bin/python3"

echo "== starting edge-agent (thing demo-device, state in $state, functions run by $function_python)"
"$bin/edge-agent" --thing-name demo-device --broker-port "$port" --state-dir "$state" \
    --runtime-dir "$repo/runtime" --python "$function_python" --health-interval 10 > "$run/agent.log" 2>&1 &
agent_pid=$!

echo "== deploying the digits classifier"
python3 - "$repo/examples/digits" "$run/digits-deployment.json" <<'PY'
import json, sys
folder, out = sys.argv[1], sys.argv[2]
text = open(folder + "/deployment.json").read().replace("__DIGITS_DIR__", folder)
json.loads(text)
open(out, "w").write(text)
PY
"$bin/edgectl" deploy "$run/digits-deployment.json" --thing demo-device --port "$port" --timeout 60

echo "== sending $count held-out samples through MQTT"
python3 examples/digits/demo_client.py --port "$port" --thing demo-device --count "$count" --timeout 120

echo "== the agent's health report"
"$bin/edgectl" health --thing demo-device --port "$port"
echo "== done; the agent's log is run/demo/agent.log"
