#!/usr/bin/env bash
# Entrypoint of the `demo` image (deploy/Dockerfile.agent, target demo) that docker-compose.yml
# runs once: the digits demo of scripts/demo.sh against the compose broker and agent.
#
# 1. scripts/deploy-example.sh digits: renders examples/digits/deployment.json with this
#    image's path of the example (the agent's image has the same files at the same path),
#    validates it and publishes it with edgectl, as the operator, waiting for SUCCEEDED;
# 2. examples/digits/demo_client.py: sends the held-out samples, prints each answer and the
#    accuracy, and exits 1 below 90%;
# 3. edgectl health: the agent's report.
#
# Environment (docker-compose.yml sets the first three): EDGE_DEMO_THING (dev1),
# EDGE_DEMO_BROKER (broker), EDGE_DEMO_PORT (8884, the operator listener), EDGE_DEMO_COUNT
# (samples; default all), EDGE_DEMO_CERTS (folder with ca.crt, operator.crt, operator.key;
# default /etc/edge-agent/certs), EDGE_DEMO_HOME (folder with scripts/ and examples/; default
# /usr/share/edge-agent), EDGECTL_BIN (default: edgectl on PATH).
set -euo pipefail

thing="${EDGE_DEMO_THING:-dev1}"
broker="${EDGE_DEMO_BROKER:-broker}"
port="${EDGE_DEMO_PORT:-8884}"
certs="${EDGE_DEMO_CERTS:-/etc/edge-agent/certs}"
home="${EDGE_DEMO_HOME:-/usr/share/edge-agent}"
export EDGECTL_BIN="${EDGECTL_BIN:-$(command -v edgectl)}"
count="${EDGE_DEMO_COUNT:-}"

for file in ca.crt operator.crt operator.key; do
    if [ ! -r "$certs/$file" ]; then
        echo "compose-demo: cannot read $certs/$file (make it with certs/make-*.sh, see docker-compose.yml)" >&2
        exit 2
    fi
done
tls=(--tls-ca "$certs/ca.crt" --tls-cert "$certs/operator.crt" --tls-key "$certs/operator.key")

# A second `docker compose up` finds the deployment retained and done (the broker's volume
# keeps it): publishing the same revision again would be refused, so it is not.
current="$("$EDGECTL_BIN" status --thing "$thing" --json --host "$broker" --port "$port" "${tls[@]}" \
    --timeout 10 2>/dev/null || true)"
if python3 - "$home/examples/digits/deployment.json" "$current" <<'PY'
import json, sys
want = json.load(open(sys.argv[1]))
try:
    have = json.loads(sys.argv[2])
except ValueError:
    sys.exit(1)
done = (have.get("deploymentId"), have.get("revision"), have.get("status"))
sys.exit(0 if done == (want["deploymentId"], want["revision"], "SUCCEEDED") else 1)
PY
then
    echo "== examples/digits is deployed on $thing already (SUCCEEDED)"
else
    # --new-thing: the agent may not have connected yet; the deployment is retained and waits for it.
    "$home/scripts/deploy-example.sh" digits --thing "$thing" --host "$broker" --port "$port" "${tls[@]}" \
        --timeout 120 --new-thing
fi

echo "== running examples/digits/demo_client.py"
python3 "$home/examples/digits/demo_client.py" --host "$broker" --port "$port" --thing "$thing" \
    --cafile "$certs/ca.crt" --cert "$certs/operator.crt" --key "$certs/operator.key" \
    ${count:+--count "$count"} --timeout 120

echo "== the agent's health report"
"$EDGECTL_BIN" health --thing "$thing" --host "$broker" --port "$port" "${tls[@]}"
