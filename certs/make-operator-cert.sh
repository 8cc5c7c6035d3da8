#!/usr/bin/env bash
# Issue an operator client certificate (for edgectl and dashboards).
#
#   make-operator-cert.sh [--out DIR] [--days N] [--force] NAME
#
# The subject is OU=operators, CN=NAME, signed by the operators' CA (operators-ca.crt), which
# only the broker's operator listener (8884) trusts: an operator certificate cannot connect
# as a device, and a device certificate cannot use the operator listener. Mosquitto maps the
# CN to the username; NAME must also be listed as a `user` in deploy/operators.acl.
set -euo pipefail

PROG="$(basename -- "$0")"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

usage() {
    cat <<USAGE
usage: $PROG [--out DIR] [--days N] [--force] [--] NAME

Issue an operator client certificate (OU = operators, CN = NAME, clientAuth), signed by
the operators' CA (operators-ca.crt, made by make-ca.sh).
  NAME        the operator's name: 1-128 characters from A-Z a-z 0-9 : _ -
              It must be listed as "user NAME" in deploy/operators.acl.
  --out DIR   directory holding operators-ca.crt/.key, and where NAME.key/NAME.crt go
              (default: certs/out next to this script, or \$EDGE_CERTS_OUT)
  --days N    validity in days (default: 825)
  --force     replace an existing NAME.key
USAGE
}

DAYS=825
SIGNING_CA="operators-ca"
parse_common usage "$@"
(( ${#ARGS[@]} == 1 )) || { usage >&2; die "expected exactly one NAME"; }
name="${ARGS[0]}"
validate_name operator "$name"

need_openssl
require_ca
prepare_out
# The reverse of the device check: do not turn an existing device identity into an operator.
if [[ -f "$OUT/$name.crt" ]] && ! subject_is_operator "$OUT/$name.crt"; then
    die "'$name' already names a non-operator certificate in $OUT; pick another operator name"
fi
refuse_existing_key "$OUT/$name.key"
make_work_dir

ext="$WORK/ext.cnf"
printf '%s\n' \
    '[leaf]' \
    'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature' \
    'extendedKeyUsage = clientAuth' \
    'subjectKeyIdentifier = hash' \
    'authorityKeyIdentifier = keyid' >"$ext"

new_key "$WORK/$name.key"
issue_leaf "$WORK/$name.key" "$WORK/$name.crt" "/O=edge-agent/OU=operators/CN=$name" "$ext"
install_pair "$name"
printf 'remember: add "user %s" to deploy/operators.acl (see the operators section)\n' "$name"
