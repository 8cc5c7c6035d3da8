#!/usr/bin/env bash
# Installs what edge-agent needs on a Debian machine, skipping what is already there:
# the C libraries and the broker from Debian, the Python packages of the runtime, the tests and
# the examples from PyPI, the system user `edgefn` that functions run as when the agent runs as
# root, and the interpreter for Python functions (a venv every user can read, with the packages of
# requirements-functions.txt). Swift itself must already be installed (swift.org toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(mosquitto mosquitto-clients libmosquitto-dev libjson-c-dev libcurl4-openssl-dev
                 zlib1g-dev libssl-dev libsqlite3-dev pkg-config gcc make openssl python3 python3-pip python3-venv
                 iproute2 nftables
                 # The other brokers of the test matrix and the cluster benchmark (docs/brokers.md):
                 # the tests start each on free loopback ports, never as a system service.
                 nats-server rabbitmq-server ejabberd
                 # The dashboard's browser test (Tests/Integration/test_dashboard.py): headless
                 # Chromium driven through the system's chromedriver, never a downloaded one.
                 chromium chromium-driver
                 # The cgroup v2 test VM (scripts/vm/, Tests/Integration/test_cgroup_v2_vm.py): qemu,
                 # Debian's kernel (booted by qemu only; the machine's own kernel stays as it is), and
                 # busybox and cpio for the VM's initramfs.
                 qemu-system-x86 linux-image-amd64 busybox-static cpio
                 # The inspection example's frames print serial numbers in DejaVu Sans Mono.
                 fonts-dejavu-core)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # No package may start its service (RabbitMQ, ejabberd, Mosquitto would take their ports and
    # an epmd system-wide): a policy-rc.d that denies every start, for the install only, unless
    # the machine has one of its own.
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        own_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$own_policy" >/dev/null
        "${sudo_cmd[@]}" chmod 0755 "$own_policy"
    fi
    status=0
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
    [ -z "$own_policy" ] || "${sudo_cmd[@]}" rm -f "$own_policy"
    [ "$status" -eq 0 ] || exit "$status"
fi
# The broker is started by the scripts and tests on ports of their own, not as a system service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    echo "setup: note: a system mosquitto is running; the scripts use their own on a free port"
fi

python="${PYTHON:-python3}"
pip_install() {
    "$python" -m pip install --quiet --disable-pip-version-check "$@" \
        || "$python" -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
if ! "$python" -c 'import paho.mqtt, pytest, onnxruntime, numpy, selenium, PIL, onnx, onnxconverter_common, matplotlib' 2>/dev/null; then
    echo "setup: installing Python packages from requirements-dev.txt"
    pip_install -r requirements-dev.txt
fi
# The inspection example's PP-OCRv4 models ship in this wheel (Apache-2.0, pinned: its models'
# hashes are pinned in examples/inspection). Without its dependencies: OpenCV and the rest are
# only for its own pipeline, which nothing here imports; examples/inspection/prepare.py copies
# the models out of the installed package.
rapidocr=rapidocr-onnxruntime==1.4.4
if ! "$python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("rapidocr-onnxruntime") != "1.4.4")' 2>/dev/null; then
    echo "setup: installing $rapidocr (its models only: --no-deps)"
    pip_install --no-deps "$rapidocr"
fi

# Functions run as this unprivileged system user when the agent runs as root.
function_user=edgefn
if [ "$(id -u)" -eq 0 ]; then
    if ! id -u "$function_user" >/dev/null 2>&1; then
        echo "setup: creating the system user $function_user (functions run as it when the agent runs as root)"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$function_user"
    fi
else
    echo "setup: note: not root, so no user $function_user is created; functions will run as the agent's own user"
fi

# The interpreter for Python functions: a venv from Debian's /usr/bin/python3 (not a pyenv or a
# home-directory one, which the function user cannot reach), readable by every user, with the
# packages functions use (requirements-functions.txt). The agent is given it with --python.
venv="${EDGE_FUNCTION_VENV:-/opt/edge-agent/python}"
if [ -z "${EDGE_FUNCTION_VENV:-}" ] && [ "$(id -u)" -ne 0 ]; then
    parent=/opt/edge-agent
    [ -d "$parent" ] || parent=/opt
    if [ ! -w "$parent" ]; then
        venv="$PWD/run/function-python"
        echo "setup: note: not root and $parent is not writable: the function interpreter goes to $venv instead"
    fi
fi
# Works when it imports what functions use, as the user functions run as (when there is one).
venv_works() {
    local check=("$venv/bin/python3" -c 'import numpy, onnxruntime, PIL')
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u "$function_user" -- "${check[@]}") >/dev/null 2>&1
    else
        "${check[@]}" >/dev/null 2>&1
    fi
}
if venv_works; then
    echo "setup: function interpreter: $venv/bin/python3 (already there)"
else
    echo "setup: creating the function interpreter in $venv from /usr/bin/python3 with requirements-functions.txt"
    (
        umask 022
        mkdir -p "$venv"
        /usr/bin/python3 -m venv "$venv"
        PIP_ROOT_USER_ACTION=ignore "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
            -r requirements-functions.txt
    )
    # Every user must be able to run it and read its packages, whatever umask made them.
    chmod -R u+rwX,go+rX,go-w "$venv"
    [ "$venv" != /opt/edge-agent/python ] || chmod 0755 /opt/edge-agent
    if ! venv_works; then
        who="the current user"
        [ "$(id -u)" -ne 0 ] || who="user $function_user (can every user reach $venv?)"
        echo "setup: $venv/bin/python3 cannot import numpy, onnxruntime and PIL as $who" >&2
        exit 1
    fi
    echo "setup: function interpreter: $venv/bin/python3"
fi

# edge-model (tools/edge-model: optimize and fit a model for a device, docs/models.md), as the
# command `edge-model`, editable: it runs this checkout's code (installed again when it runs
# another checkout's). --no-deps: what it imports comes from requirements-dev.txt above.
edge_model_here() {
    local source="$PWD/tools/edge-model/edge_model"
    (cd / && "$python" -c 'import os, sys, edge_model
sys.exit(os.path.realpath(os.path.dirname(edge_model.__file__)) != os.path.realpath(sys.argv[1]))' \
        "$source") 2>/dev/null
}
if ! edge_model_here; then
    echo "setup: installing edge-model (tools/edge-model) as the command edge-model"
    pip_install --no-deps -e tools/edge-model
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH: install the Swift 6 toolchain from swift.org and put its bin/ on PATH" >&2
    exit 1
fi
echo "setup: ready ($(swift --version 2>/dev/null | head -1))"
