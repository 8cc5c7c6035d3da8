#!/usr/bin/env bash
# Issue the broker's TLS server certificate.
#
#   make-broker-cert.sh [--out DIR] [--days N] [--force] NAME [SAN...]
#
# NAME is the broker's host name (file names DIR/NAME.key, DIR/NAME.crt). The certificate
# carries subjectAltName entries for localhost, 127.0.0.1, ::1, NAME and every SAN given
# (DNS names or IP addresses, optionally written DNS:x / IP:x), and the serverAuth EKU.
set -euo pipefail

PROG="$(basename -- "$0")"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

usage() {
    cat <<USAGE
usage: $PROG [--out DIR] [--days N] [--force] NAME [SAN...]

Issue a broker server certificate signed by the CA in DIR.
  NAME        the broker's host name, e.g. broker or mqtt.example.com
  SAN...      extra subjectAltNames: DNS names or IP addresses (DNS:x or IP:x to be explicit)
              localhost, 127.0.0.1, ::1 and NAME are always included
  --out DIR   directory holding ca.crt/ca.key, and where NAME.key/NAME.crt go
              (default: certs/out next to this script, or \$EDGE_CERTS_OUT)
  --days N    validity in days (default: 825)
  --force     replace an existing NAME.key
USAGE
}

DAYS=825
parse_common usage "$@"
(( ${#ARGS[@]} >= 1 )) || { usage >&2; die "missing NAME"; }
name="${ARGS[0]}"
is_hostname "$name" && (( ${#name} <= 128 )) \
    || die "invalid broker name '$name': a host name (letters, digits, '-', dots between labels), at most 128 characters"
reject_reserved "$name"

sans=()
for value in localhost 127.0.0.1 ::1 "$name" "${ARGS[@]:1}"; do
    entry="$(san_entry "$value")"
    # Keep the list free of duplicates: the default entries and NAME may repeat user input.
    dup=0
    for existing in ${sans[@]+"${sans[@]}"}; do
        [[ "$existing" != "$entry" ]] || { dup=1; break; }
    done
    (( dup )) || sans+=("$entry")
done

need_openssl
require_ca
prepare_out
refuse_existing_key "$OUT/$name.key"
make_work_dir

ext="$WORK/ext.cnf"
{
    printf '%s\n' \
        '[leaf]' \
        'basicConstraints = critical, CA:FALSE' \
        'keyUsage = critical, digitalSignature' \
        'extendedKeyUsage = serverAuth' \
        'subjectKeyIdentifier = hash' \
        'authorityKeyIdentifier = keyid' \
        'subjectAltName = @alt' \
        '[alt]'
    i=0
    for entry in "${sans[@]}"; do
        i=$((i + 1))
        printf '%s.%d = %s\n' "${entry%%:*}" "$i" "${entry#*:}"
    done
} >"$ext"

new_key "$WORK/$name.key"
issue_leaf "$WORK/$name.key" "$WORK/$name.crt" "/O=edge-agent/CN=$name" "$ext"
install_pair "$name"
printf 'subjectAltName: %s\n' "${sans[*]}"
