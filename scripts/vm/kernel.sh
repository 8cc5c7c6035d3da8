#!/usr/bin/env bash
# Prints the kernel image the test VM boots: the newest /boot/vmlinuz-*-amd64 that has its modules
# in /lib/modules (Debian's linux-image-amd64; the host may run another kernel, which does not
# matter: the VM boots this one), or $EDGE_VM_KERNEL.
set -euo pipefail
if [ -n "${EDGE_VM_KERNEL:-}" ]; then
    [ -f "$EDGE_VM_KERNEL" ] || { echo "kernel.sh: EDGE_VM_KERNEL=$EDGE_VM_KERNEL is no file" >&2; exit 1; }
    echo "$EDGE_VM_KERNEL"
    exit 0
fi
best=""
for image in /boot/vmlinuz-*; do
    [ -e "$image" ] || continue
    version=${image##*/vmlinuz-}
    [ -d "/lib/modules/$version/kernel" ] || continue
    if [ -z "$best" ] || dpkg --compare-versions "$version" gt "${best##*/vmlinuz-}"; then best=$image; fi
done
[ -n "$best" ] || { echo "kernel.sh: no /boot/vmlinuz-* with its modules: install linux-image-amd64 (scripts/setup.sh)" >&2; exit 1; }
echo "$best"
