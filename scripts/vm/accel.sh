#!/usr/bin/env bash
# Prints qemu's accelerator options for the test VM. KVM when /dev/kvm can run a stock kernel;
# TCG (qemu's own emulation, several times slower, multi-threaded over the host's cores) when
# there is no usable /dev/kvm, or when it is PVM's (the kvm_pvm module: a KVM for machines
# without hardware virtualisation, which boots only kernels built as PVM guests; Debian's kernel
# spends minutes in its decompressor there). EDGE_VM_ACCEL=kvm or tcg forces one.
set -euo pipefail
kvm_usable() {
    [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]
}
choice="${EDGE_VM_ACCEL:-}"
if [ -z "$choice" ]; then
    if kvm_usable; then choice=kvm; else choice=tcg; fi
fi
case "$choice" in
    # arch-capabilities off: nested KVM on some hosts refuses that MSR and aborts qemu at start.
    kvm) echo "-accel kvm -cpu host,arch-capabilities=off" ;;
    tcg) echo "-accel tcg,thread=multi -cpu max" ;;
    *) echo "accel.sh: EDGE_VM_ACCEL must be kvm or tcg, not $choice" >&2; exit 1 ;;
esac
