#!/usr/bin/env bash
# Issue a device (thing) client certificate.
#
#   make-device-cert.sh [--out DIR] [--days N] [--force] THING
#
# The subject CN is THING. The broker (use_identity_as_username true) takes the CN as the
# MQTT username, and the ACL gives that username the thing's own topics only.
set -euo pipefail

PROG="$(basename -- "$0")"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

usage() {
    cat <<USAGE
usage: $PROG [--out DIR] [--days N] [--force] [--] THING

Issue a device client certificate (CN = THING, extendedKeyUsage clientAuth).
  THING       the thing name: 1-128 characters from A-Z a-z 0-9 : _ -
  --out DIR   directory holding ca.crt/ca.key, and where THING.key/THING.crt go
              (default: certs/out next to this script, or \$EDGE_CERTS_OUT)
  --days N    validity in days (default: 825)
  --force     replace an existing THING.key
USAGE
}

DAYS=825
parse_common usage "$@"
(( ${#ARGS[@]} == 1 )) || { usage >&2; die "expected exactly one THING"; }
thing="${ARGS[0]}"
validate_name thing "$thing"

need_openssl
require_ca
prepare_out
# A device must never get an operator's name: the broker maps the CN to the username, so
# it would inherit the operator's ACL. --force does not override this.
if [[ -f "$OUT/$thing.crt" ]] && subject_is_operator "$OUT/$thing.crt"; then
    die "'$thing' is an operator identity in $OUT; a device must not use an operator's name"
fi
refuse_existing_key "$OUT/$thing.key"
make_work_dir

ext="$WORK/ext.cnf"
printf '%s\n' \
    '[leaf]' \
    'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature' \
    'extendedKeyUsage = clientAuth' \
    'subjectKeyIdentifier = hash' \
    'authorityKeyIdentifier = keyid' >"$ext"

new_key "$WORK/$thing.key"
issue_leaf "$WORK/$thing.key" "$WORK/$thing.crt" "/O=edge-agent/OU=devices/CN=$thing" "$ext"
install_pair "$thing"
