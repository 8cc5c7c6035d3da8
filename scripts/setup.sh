#!/usr/bin/env bash
# Installs what edge-agent needs on a Debian machine, skipping what is already there:
# the C libraries and the broker from Debian, the Python packages of the runtime, the tests and
# the examples from PyPI. Swift itself must already be installed (swift.org toolchain).
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(mosquitto mosquitto-clients libmosquitto-dev libjson-c-dev libcurl4-openssl-dev
                 zlib1g-dev libssl-dev pkg-config gcc make openssl python3 python3-pip)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The broker is started by the scripts and tests on ports of their own, not as a system service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    echo "setup: note: a system mosquitto is running; the scripts use their own on a free port"
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import paho.mqtt, pytest, onnxruntime, numpy' 2>/dev/null; then
    echo "setup: installing Python packages from requirements-dev.txt"
    "$python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt \
        || "$python" -m pip install --quiet --disable-pip-version-check --break-system-packages -r requirements-dev.txt
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH: install the Swift 6 toolchain from swift.org and put its bin/ on PATH" >&2
    exit 1
fi
echo "setup: ready ($(swift --version 2>/dev/null | head -1))"
