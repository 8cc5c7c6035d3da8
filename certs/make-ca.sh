#!/usr/bin/env bash
# Create the certificate authority that signs the broker, device and operator certificates.
#
#   make-ca.sh [--out DIR] [--days N] [--force] [--subject-cn NAME]
#
# Writes DIR/ca.key (EC P-256, mode 0600) and DIR/ca.crt (self-signed, 10 years by default,
# basicConstraints critical CA:TRUE with pathlen 0, keyUsage critical keyCertSign,cRLSign).
set -euo pipefail

PROG="$(basename -- "$0")"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

usage() {
    cat <<USAGE
usage: $PROG [--out DIR] [--days N] [--force] [--subject-cn NAME]

Create a certificate authority: DIR/ca.key (0600) and DIR/ca.crt.
  --out DIR          output directory (default: certs/out next to this script,
                     or \$EDGE_CERTS_OUT)
  --days N           validity in days (default: 3650)
  --subject-cn NAME  the CA's common name (default: "edge-agent CA")
  --force            replace an existing CA key. Every certificate it signed stops
                     being trusted by anything that gets the new ca.crt.
USAGE
}

DAYS=3650
CA_CN="edge-agent CA"
# --subject-cn is specific to this script: take it out before the common parser runs.
rest=()
while (( $# > 0 )); do
    case "$1" in
        --subject-cn)
            (( $# >= 2 )) || die "--subject-cn needs a value"
            CA_CN="$2"; shift 2 ;;
        --subject-cn=*)
            CA_CN="${1#--subject-cn=}"; shift ;;
        --)
            rest+=("$@"); break ;;
        *)
            rest+=("$1"); shift ;;
    esac
done
parse_common usage ${rest[@]+"${rest[@]}"}
(( ${#ARGS[@]} == 0 )) || die "unexpected argument '${ARGS[0]}'; see --help"
# The CN goes into a config file: allow only a plain, printable set of characters.
[[ "$CA_CN" =~ ^[A-Za-z0-9\ ._:-]{1,64}$ ]] \
    || die "invalid --subject-cn '$CA_CN': 1 to 64 characters from A-Z a-z 0-9 space . _ : -"

need_openssl
prepare_out
refuse_existing_key "$OUT/ca.key"
make_work_dir

cnf="$WORK/ca.cnf"
{
    printf '%s\n' \
        '[req]' \
        'distinguished_name = dn' \
        'x509_extensions = v3_ca' \
        'prompt = no' \
        'utf8 = yes' \
        '[dn]' \
        'O = edge-agent'
    printf 'CN = %s\n' "$CA_CN"
    printf '%s\n' \
        '[v3_ca]' \
        'basicConstraints = critical, CA:TRUE, pathlen:0' \
        'keyUsage = critical, keyCertSign, cRLSign' \
        'subjectKeyIdentifier = hash' \
        'authorityKeyIdentifier = keyid:always'
} >"$cnf"

new_key "$WORK/ca.key"
openssl req -new -x509 -config "$cnf" -key "$WORK/ca.key" -sha256 -days "$DAYS" \
    -set_serial "$(random_serial)" -out "$WORK/ca.crt" \
    || die "openssl could not create the CA certificate"
chmod 0644 -- "$WORK/ca.crt"
install_pair ca
