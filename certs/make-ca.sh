#!/usr/bin/env bash
# Create the two certificate authorities:
#
#   make-ca.sh [--out DIR] [--days N] [--force] [--subject-cn NAME]
#
# DIR/ca.key, DIR/ca.crt: the CA of the broker and the devices.
# DIR/operators-ca.key, DIR/operators-ca.crt: the CA of the operators (edgectl, dashboards).
# The broker's device listener trusts only the first and its operator listener only the
# second (deploy/mosquitto.conf), so the issuing CA decides which listener a certificate
# opens. Both: EC P-256, key mode 0600, self-signed, 10 years by default, basicConstraints
# critical CA:TRUE with pathlen 0, keyUsage critical keyCertSign,cRLSign.
# A CA whose key already exists is kept (the other one is still made), unless --force.
set -euo pipefail

PROG="$(basename -- "$0")"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

usage() {
    cat <<USAGE
usage: $PROG [--out DIR] [--days N] [--force] [--subject-cn NAME]

Create the certificate authorities: DIR/ca.key (0600) and DIR/ca.crt for the broker and
the devices, DIR/operators-ca.key (0600) and DIR/operators-ca.crt for the operators.
A CA that already exists is kept; the command fails only if both exist.
  --out DIR          output directory (default: certs/out next to this script,
                     or \$EDGE_CERTS_OUT)
  --days N           validity in days (default: 3650)
  --subject-cn NAME  the devices CA's common name (default: "edge-agent CA"); the
                     operators' CA is named "NAME operators"
  --force            replace existing CA keys. Every certificate they signed stops
                     being trusted by anything that gets the new ca.crt/operators-ca.crt.
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
# The CN goes into a config file: allow only a plain, printable set of characters, and room
# for the " operators" suffix within X.509's 64 characters.
[[ "$CA_CN" =~ ^[A-Za-z0-9\ ._:-]{1,54}$ ]] \
    || die "invalid --subject-cn '$CA_CN': 1 to 54 characters from A-Z a-z 0-9 space . _ : -"

need_openssl
prepare_out
if [[ -e "$OUT/ca.key" && -e "$OUT/operators-ca.key" ]] && (( ! FORCE )); then
    die "$OUT/ca.key and $OUT/operators-ca.key already exist; refusing to overwrite a private key (use --force to replace both and re-issue every certificate)"
fi
make_work_dir

# make_ca NAME CN: NAME.key and NAME.crt in OUT.
make_ca() {
    local name="$1" cn="$2" cnf="$WORK/$1.cnf"
    if [[ -e "$OUT/$name.key" ]] && (( ! FORCE )); then
        printf 'kept the existing %s (and %s)\n' "$OUT/$name.key" "$OUT/$name.crt"
        return 0
    fi
    refuse_existing_key "$OUT/$name.key"
    {
        printf '%s\n' \
            '[req]' \
            'distinguished_name = dn' \
            'x509_extensions = v3_ca' \
            'prompt = no' \
            'utf8 = yes' \
            '[dn]' \
            'O = edge-agent'
        printf 'CN = %s\n' "$cn"
        printf '%s\n' \
            '[v3_ca]' \
            'basicConstraints = critical, CA:TRUE, pathlen:0' \
            'keyUsage = critical, keyCertSign, cRLSign' \
            'subjectKeyIdentifier = hash' \
            'authorityKeyIdentifier = keyid:always'
    } >"$cnf"
    new_key "$WORK/$name.key"
    openssl req -new -x509 -config "$cnf" -key "$WORK/$name.key" -sha256 -days "$DAYS" \
        -set_serial "$(random_serial)" -out "$WORK/$name.crt" \
        || die "openssl could not create the $name certificate"
    chmod 0644 -- "$WORK/$name.crt"
    install_pair "$name"
}

make_ca ca "$CA_CN"
make_ca operators-ca "$CA_CN operators"
