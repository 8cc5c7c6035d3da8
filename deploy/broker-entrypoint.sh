#!/bin/sh
# Entrypoint of deploy/Dockerfile.broker (BusyBox sh on Alpine).
#
# Mosquitto drops from root to user "mosquitto" BEFORE it reads its certificate and key, so
# a key bind-mounted from the host (mode 0600, owned by whoever ran make-broker-cert.sh)
# would be unreadable. As root, copy the four files from the read-only mount into
# /etc/mosquitto/certs with the key readable by the mosquitto group only, then start the
# command. docker-compose.yml mounts a tmpfs there so the key copy never touches disk.
set -eu
# The equivalent of bash's "set -euo pipefail" for any /bin/sh: BusyBox ash has pipefail,
# some shells (dash) do not, and this script has no pipelines that depend on it.
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi

src="${BROKER_CERTS_SRC:-/run/edge-agent/certs}"
dst="${BROKER_CERTS_DST:-/etc/mosquitto/certs}"

if [ "$(id -u)" = 0 ] && [ -d "$src" ]; then
    for file in ca.crt operators-ca.crt broker.crt broker.key; do
        if [ ! -f "$src/$file" ]; then
            echo "broker-entrypoint: missing $src/$file (make it with certs/make-*.sh)" >&2
            exit 1
        fi
    done
    mkdir -p "$dst"
    chown root:mosquitto "$dst"
    chmod 0750 "$dst"
    install -m 0644 -o root -g root "$src/ca.crt" "$dst/ca.crt"
    install -m 0644 -o root -g root "$src/operators-ca.crt" "$dst/operators-ca.crt"
    install -m 0644 -o root -g root "$src/broker.crt" "$dst/broker.crt"
    install -m 0640 -o root -g mosquitto "$src/broker.key" "$dst/broker.key"
fi

exec "$@"
