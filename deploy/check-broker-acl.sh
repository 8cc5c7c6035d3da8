#!/usr/bin/env bash
# Check deploy/mosquitto.conf, deploy/mosquitto.acl and deploy/operators.acl against a real
# Mosquitto.
#
#   deploy/check-broker-acl.sh
#
# Self-contained: it makes a CA and certificates with certs/make-*.sh in a temporary
# directory, starts mosquitto on two free local ports (the device and the operator listener)
# with a test copy of the shipped configuration (only the listener ports, file paths and the
# run-as user are changed), runs mosquitto_pub/mosquitto_sub as devices and operators,
# including a device that tries to take over another's client id, prints PASS/FAIL per check and
# "N passed, M failed" on the last line. Exit status 0 only if every check passed. The
# broker is stopped and the temporary directory removed on every exit path.
#
# Environment: CHECK_NEGATIVE_WAIT (seconds to wait for a message that must NOT arrive,
# default 2), CHECK_POSITIVE_WAIT (seconds for one that must, default 5).
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd -- "$SCRIPT_DIR/.." && pwd)"
CERT_TOOLS="$REPO_DIR/certs"
SHIPPED_CONF="$SCRIPT_DIR/mosquitto.conf"
SHIPPED_ACL="$SCRIPT_DIR/mosquitto.acl"
SHIPPED_OPERATORS_ACL="$SCRIPT_DIR/operators.acl"
NEG_WAIT="${CHECK_NEGATIVE_WAIT:-2}"
POS_WAIT="${CHECK_POSITIVE_WAIT:-5}"
START_WAIT=10

passed=0
failed=0
TMP=""
MOSQ_PID=""
client_seq=0
WATCHERS=()  # long-lived mosquitto_sub processes of the takeover checks

pass() { passed=$((passed + 1)); printf 'PASS: %s\n' "$1"; }
fail() {
    failed=$((failed + 1)); printf 'FAIL: %s\n' "$1"
    if (( $# > 1 )); then printf '      %s\n' "${@:2}"; fi
}
# A failure that makes the remaining checks meaningless.
abort() { fail "$@"; exit 1; }

stop_broker() {
    [[ -n "$MOSQ_PID" ]] || return 0
    if kill -0 "$MOSQ_PID" 2>/dev/null; then
        kill -TERM "$MOSQ_PID" 2>/dev/null || true
        local deadline=$((SECONDS + 6))
        while kill -0 "$MOSQ_PID" 2>/dev/null && (( SECONDS < deadline )); do
            sleep 0.1
        done
        kill -KILL "$MOSQ_PID" 2>/dev/null || true
    fi
    wait "$MOSQ_PID" 2>/dev/null || true
    MOSQ_PID=""
}

cleanup() {
    local status=$?
    trap - EXIT
    local pid
    for pid in ${WATCHERS[@]+"${WATCHERS[@]}"}; do kill "$pid" 2>/dev/null || true; done
    stop_broker
    if (( failed > 0 )) && [[ -n "$TMP" && -f "$TMP/mosquitto.log" ]]; then
        printf -- '--- last lines of the broker log ---\n'
        tail -n 25 -- "$TMP/mosquitto.log" || true
    fi
    if [[ -n "$TMP" ]]; then rm -rf -- "$TMP"; fi
    printf '%d passed, %d failed\n' "$passed" "$failed"
    if (( failed > 0 || status != 0 )); then exit 1; fi
    exit 0
}
trap cleanup EXIT
trap 'fail "interrupted before all checks ran"; exit 130' INT TERM

for tool in mosquitto mosquitto_pub mosquitto_sub openssl timeout stdbuf; do
    command -v "$tool" >/dev/null 2>&1 || abort "required tool '$tool' is installed"
done
for file in "$SHIPPED_CONF" "$SHIPPED_ACL" "$SHIPPED_OPERATORS_ACL" "$CERT_TOOLS/make-ca.sh" "$CERT_TOOLS/make-broker-cert.sh" \
    "$CERT_TOOLS/make-device-cert.sh" "$CERT_TOOLS/make-operator-cert.sh"; do
    [[ -f "$file" ]] || abort "required file $file exists"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/edge-broker-check.XXXXXX")"
# Mosquitto reads file paths to the end of the line; keep them simple.
[[ "$TMP" =~ ^[A-Za-z0-9/._-]+$ ]] || abort "temporary directory path '$TMP' has no unusual characters"
CERTS="$TMP/certs"
ROGUE="$TMP/rogue"
IMPOSTOR="$TMP/impostor"

# --- The shipped configuration keeps its security settings --------------------------------
conf_has() {  # KEY VALUE: an active line "KEY VALUE" in the shipped configuration
    local key value
    while read -r key value; do
        [[ "$key" == "$1" && "$value" == "$2" ]] && return 0
    done <"$SHIPPED_CONF"
    return 1
}
for setting in "require_certificate true" "use_identity_as_username true" "allow_anonymous false" \
    "tls_version tlsv1.2" "persistence true" "acl_file /etc/mosquitto/edge-agent.acl" \
    "acl_file /etc/mosquitto/edge-agent-operators.acl" "use_username_as_clientid true" \
    "cafile /etc/mosquitto/certs/operators-ca.crt"; do
    if conf_has "${setting%% *}" "${setting#* }"; then
        pass "shipped mosquitto.conf sets '$setting'"
    else
        fail "shipped mosquitto.conf sets '$setting'"
    fi
done

# The operator identity is the first "user" in the shipped operators' ACL.
OPERATOR=""
while read -r key value; do
    if [[ "$key" == "user" ]]; then OPERATOR="$value"; break; fi
done <"$SHIPPED_OPERATORS_ACL"
[[ -n "$OPERATOR" ]] || abort "the shipped operators' ACL names an operator with a 'user' line"
# The devices' ACL grants no operator rights: it has no "user" block at all.
if grep -Eq '^[[:space:]]*user[[:space:]]' "$SHIPPED_ACL"; then
    fail "the shipped devices' ACL (deploy/mosquitto.acl) has no 'user' block"
else
    pass "the shipped devices' ACL (deploy/mosquitto.acl) has no 'user' block"
fi

# --- Certificates -------------------------------------------------------------------------
make_certs() {
    "$CERT_TOOLS/make-ca.sh" --out "$CERTS"
    "$CERT_TOOLS/make-broker-cert.sh" --out "$CERTS" localhost
    "$CERT_TOOLS/make-device-cert.sh" --out "$CERTS" dev1
    "$CERT_TOOLS/make-device-cert.sh" --out "$CERTS" dev2
    "$CERT_TOOLS/make-operator-cert.sh" --out "$CERTS" "$OPERATOR"
    # An operator-style certificate whose CN is not listed in the ACL.
    "$CERT_TOOLS/make-operator-cert.sh" --out "$CERTS" unlisted-operator
    # Certificates for "dev1" and the operator from CAs the broker does not trust.
    "$CERT_TOOLS/make-ca.sh" --out "$ROGUE" --subject-cn "rogue CA"
    "$CERT_TOOLS/make-device-cert.sh" --out "$ROGUE" dev1
    "$CERT_TOOLS/make-operator-cert.sh" --out "$ROGUE" "$OPERATOR"
    # A device certificate of the trusted devices CA that carries the operator's name.
    mkdir -m 0700 -- "$IMPOSTOR"
    cp -- "$CERTS/ca.crt" "$CERTS/ca.key" "$IMPOSTOR/"
    "$CERT_TOOLS/make-device-cert.sh" --out "$IMPOSTOR" "$OPERATOR"
}
if make_certs >"$TMP/certs.log" 2>&1; then
    pass "certificates made with certs/make-*.sh"
else
    abort "certificates made with certs/make-*.sh" "$(tail -n 5 -- "$TMP/certs.log")"
fi

# --- Test copy of the configuration -------------------------------------------------------
mkdir -p -- "$TMP/data"
cp -- "$SHIPPED_ACL" "$TMP/mosquitto.acl"
cp -- "$SHIPPED_OPERATORS_ACL" "$TMP/operators.acl"

write_test_conf() {  # DEVICE_PORT OPERATOR_PORT
    local line key value
    while IFS= read -r line || [[ -n "$line" ]]; do
        read -r key value <<<"$line" || true
        case "$key $value" in
            "listener 8883") printf 'listener %s 127.0.0.1\n' "$1" ;;
            "listener 8884") printf 'listener %s 127.0.0.1\n' "$2" ;;
            listener\ *)
                printf 'unexpected listener in the shipped config: %s\n' "$line" >&2
                return 1 ;;
            "cafile /etc/mosquitto/certs/ca.crt") printf 'cafile %s\n' "$CERTS/ca.crt" ;;
            "cafile /etc/mosquitto/certs/operators-ca.crt") printf 'cafile %s\n' "$CERTS/operators-ca.crt" ;;
            "certfile /etc/mosquitto/certs/broker.crt") printf 'certfile %s\n' "$CERTS/localhost.crt" ;;
            "keyfile /etc/mosquitto/certs/broker.key") printf 'keyfile %s\n' "$CERTS/localhost.key" ;;
            "acl_file /etc/mosquitto/edge-agent.acl") printf 'acl_file %s\n' "$TMP/mosquitto.acl" ;;
            "acl_file /etc/mosquitto/edge-agent-operators.acl") printf 'acl_file %s\n' "$TMP/operators.acl" ;;
            cafile\ *|certfile\ *|keyfile\ *|acl_file\ *)
                printf 'unexpected file in the shipped config: %s\n' "$line" >&2
                return 1 ;;
            persistence_location\ *) printf 'persistence_location %s/\n' "$TMP/data" ;;
            user\ *|pid_file\ *) ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$SHIPPED_CONF"
    # Mosquitto started as root drops to user "mosquitto" before it reads the certificates,
    # and could not read the 0700 temporary directory. Keep the current user instead.
    printf 'user %s\n' "$(id -un)"
}

port_open() {  # PORT: true if something accepts TCP connections on 127.0.0.1:PORT
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# --- Start the broker on two free ports -----------------------------------------------------
PORT=""
OP_PORT=""
for _attempt in 1 2 3 4 5 6 7 8 9 10; do
    candidate=$((20000 + RANDOM % 40000))
    op_candidate=$((20000 + RANDOM % 40000))
    (( candidate != op_candidate )) || continue
    port_open "$candidate" && continue
    port_open "$op_candidate" && continue
    if ! write_test_conf "$candidate" "$op_candidate" >"$TMP/mosquitto.conf" 2>"$TMP/conf.err"; then
        abort "shipped config has only the device and operator TLS listeners and the known files" \
            "$(cat -- "$TMP/conf.err")"
    fi
    mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    deadline=$((SECONDS + START_WAIT))
    while (( SECONDS < deadline )); do
        kill -0 "$MOSQ_PID" 2>/dev/null || break
        if port_open "$candidate" && port_open "$op_candidate"; then
            PORT="$candidate"; OP_PORT="$op_candidate"; break
        fi
        sleep 0.1
    done
    [[ -n "$PORT" ]] && break
    # It exited (or never listened): another process may have taken the port. Try another.
    grep -q 'Address already in use' "$TMP/mosquitto.log" || break
    stop_broker
done
if [[ -z "$PORT" ]]; then
    abort "mosquitto starts with the shipped config and ACL" "see the broker log below"
fi
pass "mosquitto starts with the shipped config and ACLs (devices on port $PORT, operators on $OP_PORT)"

# --- Client helpers -----------------------------------------------------------------------
BASE=(-h localhost --cafile "$CERTS/ca.crt")
NONCE="$$-$RANDOM"

# identity WHO [ID]: sets ID_ARGS for WHO's certificate and listener: operators on the
# operator listener with an id of their own, devices on the device listener with their
# name as id unless ID is given.
identity() {
    local who="$1"
    client_seq=$((client_seq + 1))
    if [[ "$who" == "$OPERATOR" || "$who" == unlisted-operator ]]; then
        ID_ARGS=(-p "$OP_PORT" --cert "$CERTS/$who.crt" --key "$CERTS/$who.key" -i "${2:-$who-check-$client_seq}")
    else
        ID_ARGS=(-p "$PORT" --cert "$CERTS/$who.crt" --key "$CERTS/$who.key" -i "${2:-$who}")
    fi
}

# publish WHO TOPIC PAYLOAD: retained, QoS 1 (the broker stores it before it acknowledges).
# Sets PUB_RC. A publish the ACL denies still returns 0 with MQTT 3.1.1: the broker drops it.
publish() {
    identity "$1"
    PUB_RC=0
    timeout 15 mosquitto_pub "${BASE[@]}" "${ID_ARGS[@]}" -q 1 -r -t "$2" -m "$3" \
        >"$TMP/pub.out" 2>&1 || PUB_RC=$?
}

# receive WHO TOPIC WAIT: the first message on TOPIC within WAIT seconds. Sets GOT (payload
# or empty) and SUB_RC (0 = a message arrived, 27 = timed out, anything else = no connection).
receive() {
    identity "$1"
    SUB_RC=0
    GOT="$(timeout "$(( $3 + 10 ))" mosquitto_sub "${BASE[@]}" "${ID_ARGS[@]}" -t "$2" -C 1 -W "$3" \
        2>"$TMP/sub.err")" || SUB_RC=$?
}

# expect_receive DESC WHO TOPIC PAYLOAD
expect_receive() {
    receive "$2" "$3" "$POS_WAIT"
    if (( SUB_RC == 0 )) && [[ "$GOT" == "$4" ]]; then
        pass "$1"
    else
        fail "$1" "expected '$4' on $3 as $2, got '${GOT}' (mosquitto_sub exit $SUB_RC: $(head -c 200 -- "$TMP/sub.err"))"
    fi
}

# expect_nothing DESC WHO TOPIC: the client connects but no message arrives within the wait.
expect_nothing() {
    receive "$2" "$3" "$NEG_WAIT"
    if (( SUB_RC == 27 )) && [[ -z "$GOT" ]]; then
        pass "$1"
    elif (( SUB_RC == 0 )); then
        fail "$1" "$2 received '$GOT' on $3"
    else
        fail "$1" "mosquitto_sub as $2 did not run as expected (exit $SUB_RC: $(head -c 200 -- "$TMP/sub.err"))"
    fi
}

# expect_publish DESC WHO TOPIC PAYLOAD: published, and the operator reads it back.
expect_publish() {
    publish "$2" "$3" "$4"
    if (( PUB_RC != 0 )); then
        fail "$1" "mosquitto_pub as $2 failed (exit $PUB_RC: $(head -c 200 -- "$TMP/pub.out"))"
        return
    fi
    expect_receive "$1" "$OPERATOR" "$3" "$4"
}

# expect_publish_dropped DESC WHO TOPIC PAYLOAD BEFORE: WHO connects and publishes, but the
# retained value on TOPIC stays BEFORE ("" = nothing retained).
expect_publish_dropped() {
    publish "$2" "$3" "$4"
    if (( PUB_RC != 0 )); then
        fail "$1" "mosquitto_pub as $2 could not publish at all (exit $PUB_RC: $(head -c 200 -- "$TMP/pub.out")); the check needs a connected client"
        return
    fi
    if [[ -n "$5" ]]; then
        expect_receive "$1" "$OPERATOR" "$3" "$5"
    else
        expect_nothing "$1" "$OPERATOR" "$3"
    fi
}

# expect_refused DESC PAYLOAD ARGS...: mosquitto_pub with ARGS must fail, and dev1's health
# must be unchanged afterwards. ARGS must name the port (-p).
expect_refused() {
    local desc="$1" payload="$2" rc=0 before
    shift 2
    receive "$OPERATOR" edge/things/dev1/health "$POS_WAIT"
    before="$GOT"
    timeout 15 mosquitto_pub -q 1 -r -t edge/things/dev1/health -m "$payload" "$@" \
        >"$TMP/pub.out" 2>&1 || rc=$?
    receive "$OPERATOR" edge/things/dev1/health "$POS_WAIT"
    if (( rc != 0 )) && [[ -n "$before" && "$GOT" == "$before" ]]; then
        pass "$desc"
    else
        fail "$desc" "mosquitto_pub exit $rc ($(head -c 200 -- "$TMP/pub.out")); dev1 health now '$GOT'"
    fi
}

# --- Checks -------------------------------------------------------------------------------
DEPLOY1="deployment-dev1-$NONCE"
GROUP="deployment-cameras-$NONCE"
HEALTH="health-dev1-$NONCE"
STATUS="status-dev1-$NONCE"
SHADOW_REQ="shadow-update-$NONCE"
SHADOW_ACC="shadow-accepted-$NONCE"
SENSOR="sensor-$NONCE"
CONTROL="control-dev1-$NONCE"

# Operators
expect_publish "operator publishes a (retained) deployment to dev1" \
    "$OPERATOR" edge/things/dev1/deployment "$DEPLOY1"
expect_publish "operator publishes a group deployment" \
    "$OPERATOR" edge/groups/cameras/deployment "$GROUP"
expect_publish "operator publishes a shadow update request for dev1" \
    "$OPERATOR" '$aws/things/dev1/shadow/update' "$SHADOW_REQ"
expect_publish "operator publishes a sensor reading" "$OPERATOR" sensors/temperature "$SENSOR"
# (Retained here only so the check can read it back; edgectl's control requests are not retained.)
expect_publish "operator sends a control request to dev1" "$OPERATOR" edge/things/dev1/control "$CONTROL"

# A device on its own topics
expect_publish "dev1 publishes its own health" dev1 edge/things/dev1/health "$HEALTH"
expect_publish "dev1 publishes its own deployment status" \
    dev1 edge/things/dev1/deployment/status "$STATUS"
expect_receive "dev1 subscribes to its own deployment" dev1 edge/things/dev1/deployment "$DEPLOY1"
expect_receive "dev1 subscribes to a group deployment" dev1 edge/groups/cameras/deployment "$GROUP"
expect_receive "dev1 subscribes to its own shadow request topic" \
    dev1 '$aws/things/dev1/shadow/update' "$SHADOW_REQ"
expect_publish "dev1 publishes to its own shadow response topic" \
    dev1 '$aws/things/dev1/shadow/update/accepted' "$SHADOW_ACC"
expect_receive "dev1 reads its own control topic" dev1 edge/things/dev1/control "$CONTROL"
expect_receive "dev1 reads sensors/# (example functions' input)" dev1 sensors/temperature "$SENSOR"
expect_publish "dev1 writes alerts/# (example functions' output)" dev1 alerts/dev1 "alert-$NONCE"
expect_publish "dev1 answers an invocation on edgectl/replies/dev1/..." dev1 edgectl/replies/dev1/r1 "reply-$NONCE"
expect_publish "dev1 sends its delivery check to itself" dev1 'edge/things/dev1/functions/~probe/invoke' "probe-$NONCE"

# A device on another device's topics
expect_nothing "dev2 cannot read dev1's deployment" dev2 edge/things/dev1/deployment
expect_nothing "dev2 cannot read dev1's shadow" dev2 '$aws/things/dev1/shadow/update'
receive dev2 'edge/#' "$NEG_WAIT"
if (( SUB_RC == 0 || SUB_RC == 27 )) && [[ "$GOT" != *dev1* ]]; then
    pass "dev2 subscribing to edge/# receives nothing of dev1"
else
    fail "dev2 subscribing to edge/# receives nothing of dev1" "got '$GOT' (exit $SUB_RC)"
fi
expect_publish_dropped "dev2 cannot overwrite dev1's health" \
    dev2 edge/things/dev1/health "forged-by-dev2" "$HEALTH"
expect_publish_dropped "dev2 cannot overwrite dev1's deployment status" \
    dev2 edge/things/dev1/deployment/status "forged-by-dev2" "$STATUS"
expect_publish_dropped "dev2 cannot write dev1's shadow" \
    dev2 '$aws/things/dev1/shadow/update/accepted' "forged-by-dev2" "$SHADOW_ACC"
expect_publish_dropped "dev2 cannot send a deployment to dev1" \
    dev2 edge/things/dev1/deployment "forged-by-dev2" "$DEPLOY1"
expect_publish_dropped "dev1 cannot send a deployment to dev2" \
    dev1 edge/things/dev2/deployment "forged-by-dev1" ""
expect_publish_dropped "dev1 cannot overwrite a group deployment" \
    dev1 edge/groups/cameras/deployment "forged-by-dev1" "$GROUP"
expect_publish_dropped "dev2 cannot answer in dev1's name (edgectl/replies/dev1/...)" \
    dev2 edgectl/replies/dev1/r1 "forged-by-dev2" "reply-$NONCE"
expect_publish_dropped "dev1 cannot invoke its own functions (only its delivery check)" \
    dev1 edge/things/dev1/functions/digits/invoke "forged-by-dev1" ""
expect_nothing "dev2 cannot read dev1's control topic" dev2 edge/things/dev1/control
expect_publish_dropped "dev2 cannot restart, stop or read the logs of dev1's functions (its control topic)" \
    dev2 edge/things/dev1/control "forged-by-dev2" "$CONTROL"
expect_publish_dropped "dev1 cannot send control requests to itself" \
    dev1 edge/things/dev1/control "forged-by-dev1" "$CONTROL"
expect_publish_dropped "dev1 cannot write sensors/#" \
    dev1 sensors/temperature "forged-by-dev1" "$SENSOR"

# Identities the broker must not accept, or must not treat as operators
expect_nothing "an operator-style certificate whose CN is not in the ACL gets no operator rights" \
    unlisted-operator edge/things/dev1/deployment
expect_refused "a TLS client without a certificate is refused" "no-cert" \
    -p "$PORT" -h localhost --cafile "$CERTS/ca.crt" -i dev1 -u dev1
expect_refused "a plain (non-TLS) client is refused on the TLS port" "plain" \
    -p "$PORT" -h 127.0.0.1 -i dev1 -u dev1
expect_refused "a certificate from another CA is refused" "rogue" \
    -p "$PORT" -h localhost --cafile "$CERTS/ca.crt" --cert "$ROGUE/dev1.crt" --key "$ROGUE/dev1.key" -i dev1
expect_refused "a TLS client without a certificate is refused on the operator listener" "no-cert-op" \
    -p "$OP_PORT" -h localhost --cafile "$CERTS/ca.crt" -i dev1 -u "$OPERATOR"
expect_refused "a plain (non-TLS) client is refused on the operator listener" "plain-op" \
    -p "$OP_PORT" -h 127.0.0.1 -i dev1 -u "$OPERATOR"
expect_refused "a device certificate is refused on the operator listener" "device-on-op" \
    -p "$OP_PORT" -h localhost --cafile "$CERTS/ca.crt" --cert "$CERTS/dev1.crt" --key "$CERTS/dev1.key" -i dev1
expect_refused "an operator certificate is refused on the device listener" "operator-on-dev" \
    -p "$PORT" -h localhost --cafile "$CERTS/ca.crt" --cert "$CERTS/$OPERATOR.crt" --key "$CERTS/$OPERATOR.key" -i op-on-dev
expect_refused "an operator certificate from another operators' CA is refused" "rogue-op" \
    -p "$OP_PORT" -h localhost --cafile "$CERTS/ca.crt" --cert "$ROGUE/$OPERATOR.crt" --key "$ROGUE/$OPERATOR.key" -i rogue-op

# A device certificate that carries an operator's CN is still a device: the devices listener's
# ACL has no operator rights to give.
client_seq=$((client_seq + 1))
SUB_RC=0
GOT="$(timeout $(( NEG_WAIT + 10 )) mosquitto_sub "${BASE[@]}" -p "$PORT" --cert "$IMPOSTOR/$OPERATOR.crt" \
    --key "$IMPOSTOR/$OPERATOR.key" -i "impostor-$client_seq" -t edge/things/dev1/deployment -C 1 -W "$NEG_WAIT" \
    2>"$TMP/sub.err")" || SUB_RC=$?
if (( SUB_RC == 27 )) && [[ -z "$GOT" ]]; then
    pass "a device certificate with the operator's CN gets no operator rights"
else
    fail "a device certificate with the operator's CN gets no operator rights" \
        "it received '$GOT' (mosquitto_sub exit $SUB_RC: $(head -c 200 -- "$TMP/sub.err"))"
fi

# --- Client ids: no takeover ---------------------------------------------------------------
# Mosquitto closes the older of two connections with one client id. A watcher is a long-lived
# mosquitto_sub with -d: it prints "sending CONNECT" on every (re)connection, so a watcher that
# was disconnected and reconnected shows two. It exits after its first message (a marker the
# operator sends once the attempts are over).
start_watcher() {  # NAME WHO TOPIC [ID]: its pid is appended to WATCHERS, its output in $TMP/watch-NAME.out
    identity "$2" "${4:-}"
    timeout $(( POS_WAIT + 40 )) stdbuf -oL mosquitto_sub -d -R "${BASE[@]}" "${ID_ARGS[@]}" -q 1 -t "$3" -C 1 -W $(( POS_WAIT + 30 )) \
        >"$TMP/watch-$1.out" 2>&1 &
    WATCHERS+=($!)
    local deadline=$((SECONDS + POS_WAIT))
    until grep -q 'received SUBACK' "$TMP/watch-$1.out" 2>/dev/null; do
        if (( SECONDS >= deadline )); then
            abort "watcher $1 ($2) subscribed to $3" "$(head -c 300 -- "$TMP/watch-$1.out")"
        fi
        sleep 0.05
    done
}
# expect_watcher_undisturbed DESC NAME MARKER PID: the watcher NAME (process PID) got MARKER over
# its one connection.
expect_watcher_undisturbed() {
    local pid="$4" rc=0 connects
    wait "$pid" || rc=$?
    connects="$(grep -c 'sending CONNECT' "$TMP/watch-$2.out" || true)"
    if (( rc == 0 )) && grep -qx -- "$3" "$TMP/watch-$2.out" && [[ "$connects" == 1 ]]; then
        pass "$1"
    else
        fail "$1" "exit $rc, $connects connection(s), output: $(tr '\n' '|' <"$TMP/watch-$2.out" | head -c 400)"
    fi
}

start_watcher dev1 dev1 edge/things/dev1/control
# dev2's certificate asks for client id dev1: the broker gives it client id dev2 instead.
# It publishes a forged health report for dev1 (dropped: its ACL is dev2's), then its own.
publish_as() {  # WHO ID TOPIC PAYLOAD
    identity "$1" "$2"
    PUB_RC=0
    timeout 15 mosquitto_pub "${BASE[@]}" "${ID_ARGS[@]}" -q 1 -r -t "$3" -m "$4" >"$TMP/pub.out" 2>&1 || PUB_RC=$?
}
publish_as dev2 dev1 edge/things/dev1/health "forged-by-dev2-as-dev1"
publish_as dev2 dev1 edge/things/dev2/health "dev2-as-dev1-$NONCE"
TAKEOVER_RC=$PUB_RC
# The same id through the operator listener, and with a rogue CA's dev1 certificate: refused.
timeout 15 mosquitto_pub "${BASE[@]}" -p "$OP_PORT" --cert "$CERTS/dev2.crt" --key "$CERTS/dev2.key" -i dev1 \
    -q 1 -t edge/things/dev1/health -m "forged-on-op" >"$TMP/pub-op.out" 2>&1 && OP_TAKEOVER_RC=0 || OP_TAKEOVER_RC=$?
timeout 15 mosquitto_pub "${BASE[@]}" -p "$PORT" --cert "$ROGUE/dev1.crt" --key "$ROGUE/dev1.key" -i dev1 \
    -q 1 -t edge/things/dev1/health -m "forged-rogue" >/dev/null 2>&1 || true
# dev2 subscribing under the id dev1 reads nothing of dev1's either.
receive dev2 edge/things/dev1/deployment "$NEG_WAIT"
DEV2_AS_DEV1_SUB_RC=$SUB_RC DEV2_AS_DEV1_GOT="$GOT"
publish "$OPERATOR" edge/things/dev1/control "marker-$NONCE"
expect_watcher_undisturbed "dev1 stays connected while dev2's certificate connects with client id dev1" \
    dev1 "marker-$NONCE" "${WATCHERS[0]}"
if (( TAKEOVER_RC == 0 )); then
    expect_receive "dev2's certificate with client id dev1 still acts as dev2 (its own health is written)" \
        "$OPERATOR" edge/things/dev2/health "dev2-as-dev1-$NONCE"
    expect_receive "dev2's certificate with client id dev1 cannot write dev1's health" \
        "$OPERATOR" edge/things/dev1/health "$HEALTH"
else
    fail "dev2's certificate with client id dev1 connects (as dev2)" "mosquitto_pub exit $TAKEOVER_RC: $(head -c 200 -- "$TMP/pub.out")"
fi
if (( DEV2_AS_DEV1_SUB_RC == 27 )) && [[ -z "$DEV2_AS_DEV1_GOT" ]]; then
    pass "dev2's certificate with client id dev1 cannot read dev1's deployment"
else
    fail "dev2's certificate with client id dev1 cannot read dev1's deployment" \
        "got '$DEV2_AS_DEV1_GOT' (exit $DEV2_AS_DEV1_SUB_RC)"
fi
if (( OP_TAKEOVER_RC != 0 )); then
    pass "dev2's certificate cannot use client id dev1 through the operator listener"
else
    fail "dev2's certificate cannot use client id dev1 through the operator listener" "mosquitto_pub succeeded"
fi
# Two sessions of one operator (edgectl and a dashboard sharing a certificate) keep their
# own client ids and do not disconnect each other.
start_watcher op-a "$OPERATOR" edge/things/dev1/health "$OPERATOR-session-a"
start_watcher op-b "$OPERATOR" edge/things/dev1/health "$OPERATOR-session-b"
publish dev1 edge/things/dev1/health "marker-op-$NONCE"
expect_watcher_undisturbed "two sessions of one operator certificate stay connected side by side (a)" \
    op-a "marker-op-$NONCE" "${WATCHERS[1]}"
expect_watcher_undisturbed "two sessions of one operator certificate stay connected side by side (b)" \
    op-b "marker-op-$NONCE" "${WATCHERS[2]}"
