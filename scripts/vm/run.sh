#!/usr/bin/env bash
# Boots Debian's kernel (linux-image-amd64) under qemu-system-x86_64 with KVM, on a pure cgroup v2
# hierarchy, with the host's root as the guest's (read-only, under a tmpfs overlay: see
# scripts/vm/initramfs-init), and runs one command there from the repository's root. The guest
# writes the command's output (guest.log) and exit code into RESULTS, with its serial console
# (console.log); this script exits with the command's exit code, or 124 when the VM overran
# VM_TIMEOUT seconds (default 600), or 125 when the guest never reported one.
#   scripts/vm/run.sh RESULTS [--env KEY=VALUE]... -- COMMAND [ARG]...
# Needs root (the initramfs builder makes a device node; the guest must be root to manage
# cgroups), /dev/kvm, qemu-system-x86 and linux-image-amd64 (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# The guest finds its script through the kernel command line, which splits at white space.
case "$repo" in *[[:space:]]*) echo "run.sh: the repository's path has white space in it: $repo" >&2; exit 2 ;; esac
results="${1:?usage: run.sh RESULTS [--env KEY=VALUE]... -- COMMAND [ARG]...}"
shift
envs=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
        --env) envs+=("$2"); shift 2 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "${1:-}" = "--" ] && shift
[ "$#" -gt 0 ] || { echo "run.sh: no command to run in the VM" >&2; exit 2; }

qemu=$(command -v qemu-system-x86_64) || { echo "run.sh: qemu-system-x86_64 is missing: install qemu-system-x86 (scripts/setup.sh)" >&2; exit 3; }
accel_options=$(scripts/vm/accel.sh) || exit 3
read -ra accel <<< "$accel_options"
kernel=$(scripts/vm/kernel.sh) || exit 3
kver=${kernel##*/vmlinuz-}
initramfs=$(scripts/vm/build-initramfs.sh "$kver") || exit 3

mkdir -p "$results"
results=$(cd "$results" && pwd)
rm -f "$results"/{exit-code,guest.log,console.log,repo,argv,env}
echo "$repo" > "$results/repo"
printf '%s\n' "$@" > "$results/argv"
: > "$results/env"
[ "${#envs[@]}" -eq 0 ] || printf '%s\n' "${envs[@]}" > "$results/env"

# 2 vCPUs (the agent, mosquitto, the test and the functions under test run at once) and memory
# enough for them and the tmpfs overlay. The host's root is shared read-only and as it is (the
# guest's functions run as edgefn and need its real owners and modes); the results folder with
# mapped-xattr, so that the guest's root can create no set-id or foreign-owned file on the host.
# panic=-1 and -no-reboot: a guest that panics, or a PID 1 that dies, ends qemu at once instead
# of hanging to the timeout.
append="console=ttyS0 panic=-1 quiet loglevel=4 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 edge.guest=$repo/scripts/vm/guest.sh"
status=0
timeout --kill-after=10 "${VM_TIMEOUT:-600}" "$qemu" \
    "${accel[@]}" -smp 2 -m 2048 \
    -kernel "$kernel" -initrd "$initramfs" -append "$append" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$results,mount_tag=results,security_model=mapped-xattr,multidevs=remap" \
    -nic none -display none -monitor none -no-reboot \
    -serial "file:$results/console.log" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "run.sh: the VM overran ${VM_TIMEOUT:-600} s and was killed; see $results/console.log and $results/guest.log" >&2
    exit 124
fi
if [ ! -s "$results/exit-code" ]; then
    echo "run.sh: the guest reported no exit code (qemu exited with $status); console:" >&2
    tail -n 30 "$results/console.log" >&2 || true
    exit 125
fi
exit "$(cat "$results/exit-code")"
