# Shared helpers for the certificate scripts in this directory.
# Sourced, never executed: the calling script has already done `set -euo pipefail`.

# Thing and operator names end up in file names, MQTT usernames and topics.
readonly NAME_RE='^[A-Za-z0-9:_-]{1,128}$'
# One DNS label; a hostname is labels joined by dots. A leading "*." is allowed in SANs only.
readonly LABEL_RE='^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
readonly IPV4_RE='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
readonly IPV6_RE='^[0-9A-Fa-f:.]+$'

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

warn() {
    printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

need_openssl() {
    command -v openssl >/dev/null 2>&1 || die "openssl is not installed"
}

# validate_name KIND VALUE: a thing or operator name.
validate_name() {
    if [[ ! "$2" =~ $NAME_RE ]]; then
        die "invalid $1 name '$2': it must be 1 to 128 characters from A-Z a-z 0-9 : _ - (it becomes a file name and the MQTT username)"
    fi
    # X.509 limits a commonName to 64 characters (RFC 5280, ub-common-name), and the broker
    # takes the username from the CN, so a longer name cannot be a certificate identity.
    (( ${#2} <= 64 )) \
        || die "$1 name '$2' is ${#2} characters long: a certificate's CN (the MQTT username) holds at most 64 (RFC 5280); use a shorter name"
    reject_reserved "$2"
}

# reject_reserved NAME: "ca" and "operators-ca" would collide with the CAs' own files in the
# output directory (compared case-insensitively for case-insensitive file systems).
reject_reserved() {
    local lower
    lower="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')"
    [[ "$lower" != "ca" && "$lower" != "operators-ca" ]] \
        || die "the name '$1' is reserved: it would overwrite a CA's files"
}

# is_hostname VALUE: true for a DNS name of dot-separated labels, at most 253 characters.
is_hostname() {
    local value="$1" label
    [[ -n "$value" && ${#value} -le 253 ]] || return 1
    local IFS='.'
    local -a labels
    read -r -a labels <<<"$value"
    # Reject empty labels ("a..b", leading or trailing dot): the split would hide them.
    [[ "$value" != .* && "$value" != *. && "$value" != *..* ]] || return 1
    for label in "${labels[@]}"; do
        [[ "$label" =~ $LABEL_RE ]] || return 1
    done
}

is_ipv4() {
    local value="$1" octet
    [[ "$value" =~ $IPV4_RE ]] || return 1
    local IFS='.'
    local -a octets
    read -r -a octets <<<"$value"
    for octet in "${octets[@]}"; do
        # 10# avoids octal reading of "08"; leading zeros are still refused below.
        (( 10#$octet <= 255 )) || return 1
        [[ "$octet" == 0 || "$octet" != 0* ]] || return 1
    done
}

is_ipv6() {
    local value="$1"
    [[ "$value" == *:* && "$value" =~ $IPV6_RE && ${#value} -le 45 ]] || return 1
    # Let OpenSSL's own parser have the last word is not possible without building a config,
    # so apply the structural rules that matter: at most one "::", no ":::".
    [[ "$value" != *:::* ]] || return 1
    local rest="${value#*::}"
    [[ "$rest" == "$value" || "$rest" != *::* ]] || return 1
}

# san_entry VALUE: print "DNS:x" or "IP:x" for a validated SAN, or fail.
# Accepts an explicit "DNS:" or "IP:" prefix, otherwise guesses from the form.
san_entry() {
    local value="$1"
    case "$value" in
        DNS:*)
            value="${value#DNS:}"
            if is_hostname "$value" || { [[ "$value" == '*.'* ]] && is_hostname "${value#\*.}"; }; then
                printf 'DNS:%s\n' "$value"; return 0
            fi
            ;;
        IP:*)
            value="${value#IP:}"
            if is_ipv4 "$value" || is_ipv6 "$value"; then
                printf 'IP:%s\n' "$value"; return 0
            fi
            ;;
        *)
            if is_ipv4 "$value" || is_ipv6 "$value"; then
                printf 'IP:%s\n' "$value"; return 0
            elif is_hostname "$value" || { [[ "$value" == '*.'* ]] && is_hostname "${value#\*.}"; }; then
                printf 'DNS:%s\n' "$value"; return 0
            fi
            ;;
    esac
    die "invalid subjectAltName '$1': give a DNS name (e.g. broker.example.com) or an IP address, optionally prefixed DNS: or IP:"
}

validate_days() {
    [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] || die "invalid --days '$1': a whole number of days from 1 to 99999"
}

# Common option parsing. Sets OUT, FORCE, DAYS and the array ARGS (positionals).
# Each script passes its usage function name first.
parse_common() {
    local usage_fn="$1"; shift
    OUT="${EDGE_CERTS_OUT:-$SCRIPT_DIR/out}"
    FORCE=0
    ARGS=()
    while (( $# > 0 )); do
        case "$1" in
            --out)
                (( $# >= 2 )) || die "--out needs a directory"
                OUT="$2"; shift 2 ;;
            --out=*)
                OUT="${1#--out=}"; shift ;;
            --days)
                (( $# >= 2 )) || die "--days needs a number"
                validate_days "$2"; DAYS="$2"; shift 2 ;;
            --days=*)
                DAYS="${1#--days=}"; validate_days "$DAYS"; shift ;;
            --force)
                FORCE=1; shift ;;
            -h|--help)
                "$usage_fn"; exit 0 ;;
            --)
                shift; ARGS+=("$@"); break ;;
            -*)
                die "unknown option '$1' (a name that starts with '-' must come after '--'); see --help" ;;
            *)
                ARGS+=("$1"); shift ;;
        esac
    done
    [[ -n "$OUT" ]] || die "--out must not be empty"
}

# prepare_out: create the output directory (0700: it holds private keys).
prepare_out() {
    if [[ ! -d "$OUT" ]]; then
        mkdir -p -- "$OUT"
        chmod 0700 -- "$OUT"
    fi
    [[ -w "$OUT" ]] || die "output directory '$OUT' is not writable"
}

# refuse_existing_key FILE: honour the never-overwrite rule.
refuse_existing_key() {
    if [[ -e "$1" ]]; then
        if (( FORCE )); then
            warn "replacing the existing key $1 (--force)"
        else
            die "$1 already exists; refusing to overwrite a private key (use --force to replace it and re-issue the certificate)"
        fi
    fi
}

# make_work_dir: a private scratch directory inside OUT (same file system, so the final
# rename of a key or certificate into place is atomic). Removed by the EXIT trap.
make_work_dir() {
    WORK="$(mktemp -d "$OUT/.work.XXXXXX")"
    trap 'rm -rf -- "$WORK"' EXIT
}

# new_key FILE: an EC P-256 private key, created 0600 from the start.
new_key() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1") \
        || die "openssl could not generate a key"
    chmod 0600 -- "$1"
}

# A minimal request config so that the system openssl.cnf (absent or customised on some
# devices) does not add extensions of its own.
write_req_config() {
    printf '%s\n' \
        '[req]' \
        'distinguished_name = dn' \
        'prompt = no' \
        'utf8 = yes' \
        '[dn]' >"$1"
}

# random_serial: 128 random bits, printed as 0x... for -set_serial.
random_serial() {
    printf '0x%s\n' "$(openssl rand -hex 16)"
}

# The CA that signs: "ca" (devices and the broker) unless a script sets "operators-ca" (the
# operators' CA, which only the broker's operator listener trusts: deploy/mosquitto.conf).
SIGNING_CA="ca"

# require_ca: the CA files must exist before a leaf certificate can be signed.
require_ca() {
    [[ -f "$OUT/$SIGNING_CA.crt" && -f "$OUT/$SIGNING_CA.key" ]] \
        || die "no CA in '$OUT' (expected $SIGNING_CA.crt and $SIGNING_CA.key): run make-ca.sh --out '$OUT' first"
}

# issue_leaf KEYFILE CERTFILE SUBJECT EXTFILE: sign a CSR for KEYFILE with the CA.
issue_leaf() {
    local key="$1" crt="$2" subject="$3" ext="$4"
    local reqcnf="$WORK/req.cnf" csr="$WORK/leaf.csr"
    write_req_config "$reqcnf"
    openssl req -new -config "$reqcnf" -key "$key" -subj "$subject" -out "$csr" \
        || die "openssl could not create the certificate request"
    openssl x509 -req -in "$csr" -CA "$OUT/$SIGNING_CA.crt" -CAkey "$OUT/$SIGNING_CA.key" \
        -set_serial "$(random_serial)" -days "$DAYS" -sha256 \
        -extfile "$ext" -extensions leaf -out "$crt" 2>"$WORK/x509.err" \
        || { cat -- "$WORK/x509.err" >&2; die "openssl could not sign the certificate"; }
    openssl verify -CAfile "$OUT/$SIGNING_CA.crt" "$crt" >/dev/null \
        || die "the new certificate does not verify against $OUT/$SIGNING_CA.crt"
    chmod 0644 -- "$crt"
}

# install_pair NAME: move the new key and certificate from WORK into OUT.
install_pair() {
    local name="$1"
    mv -f -- "$WORK/$name.key" "$OUT/$name.key"
    mv -f -- "$WORK/$name.crt" "$OUT/$name.crt"
    printf 'wrote %s (0600) and %s\n' "$OUT/$name.key" "$OUT/$name.crt"
}

# subject_is_operator FILE: true if the certificate's subject has OU=operators.
subject_is_operator() {
    openssl x509 -in "$1" -noout -subject -nameopt multiline 2>/dev/null \
        | grep -Eq '^[[:space:]]*organizationalUnitName[[:space:]]*=[[:space:]]*operators$'
}
