#!/bin/bash
# PID 1 of the test VM, after the initramfs (scripts/vm/initramfs-init) switched to the overlay of
# the host's root. It sets up what a booted Debian would have (proc, sys, dev, a cgroup v2
# hierarchy and nothing of v1, loopback, tmpfs /tmp and /run), runs the job the host runner left
# in the results share (/vm-results: `repo`, `env`, `argv`), puts the job's output and exit code
# there, and powers the VM off. Nothing reaches the network: the guest has loopback only.
set -u
results=/vm-results
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

finish() {
    echo "$1" > "$results/exit-code"
    sync
    echo "EDGE-VM-RESULT exit-code=$1"
    echo o > /proc/sysrq-trigger
    sleep 60
}
trap 'finish 125' ERR

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# The repository may live under /tmp or /run (CI clones it where it likes): it is held aside
# before the fresh tmpfs mounts hide it, and put back at its own path after.
repo=$(cat "$results/repo")
mkdir -p /mnt/edge-repo
mount --bind "$repo" /mnt/edge-repo
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
if [ ! -d "$repo/scripts/vm" ]; then
    mkdir -p "$repo"
    mount --move /mnt/edge-repo "$repo"
fi
# The hierarchy a systemd machine with cgroup v2 has: cgroup2 on /sys/fs/cgroup (with
# nsdelegate and memory_recursiveprot, as systemd mounts it), no v1 hierarchy at all.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
ip link set lo up
hostname edge-vm

trap - ERR
mapfile -t argv < "$results/argv"
# The job's environment: KEY=VALUE lines, exported as they are (no shell evaluation).
env_args=()
[ -f "$results/env" ] && mapfile -t env_args < "$results/env"
{
    echo "== kernel $(uname -r); $(nproc) cpus; $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
    echo "== cgroup mounts:"; grep cgroup /proc/self/mountinfo
    echo "== root cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    echo "== job in $repo: ${argv[*]}"
} > "$results/guest.log" 2>&1
cd "$repo" || finish 126
env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 "${env_args[@]}" "${argv[@]}" >> "$results/guest.log" 2>&1 < /dev/null
finish $?
