#!/usr/bin/env bash
# Builds the test VM's initramfs for kernel KVER: busybox-static, the modules the guest needs to
# mount the host's root (virtio-pci, 9p over virtio, overlay) in dependency order, and
# scripts/vm/initramfs-init as /init. Prints the path of the image. Cached under .build/vm/: the
# image is rebuilt only when one of its inputs (kernel version, busybox, the init, this script)
# changes.
#   scripts/vm/build-initramfs.sh KVER
set -euo pipefail
cd "$(dirname "$0")/../.."
kver="${1:?usage: build-initramfs.sh KERNEL-VERSION}"
modules_dir="/lib/modules/$kver"
busybox=/bin/busybox
out_dir=.build/vm
[ -d "$modules_dir" ] || { echo "build-initramfs: no modules for kernel $kver in $modules_dir" >&2; exit 1; }
[ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 || { echo "build-initramfs: $busybox is missing or not static: install busybox-static" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "build-initramfs: must run as root (it makes the /dev/console node)" >&2; exit 1; }

wanted=(virtio_pci 9pnet_virtio 9p overlay)
# Each module once, dependencies first, as modprobe would load them (built-in ones print no insmod).
mapfile -t paths < <(for module in "${wanted[@]}"; do
    modprobe -S "$kver" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++')
[ "${#paths[@]}" -gt 0 ] || { echo "build-initramfs: modprobe found none of ${wanted[*]} for $kver" >&2; exit 1; }

key=$( { echo "$kver"; sha256sum "$busybox" scripts/vm/initramfs-init "$0"; printf '%s\n' "${paths[@]}"; } | sha256sum | cut -c1-16)
image="$out_dir/initramfs-$kver-$key.cpio.gz"
if [ -s "$image" ]; then
    echo "$PWD/$image"
    exit 0
fi

mkdir -p "$out_dir"
stage=$(mktemp -d "$out_dir/initramfs-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,modules}
cp "$busybox" "$stage/bin/busybox"
cp scripts/vm/initramfs-init "$stage/init"
chmod 755 "$stage/init"
mknod "$stage/dev/console" c 5 1
for path in "${paths[@]}"; do
    name=$(basename "$path")
    case "$name" in
        *.ko.xz) xz -dc "$path" > "$stage/modules/${name%.xz}"; name="${name%.xz}" ;;
        *.ko.zst) zstd -qdc "$path" > "$stage/modules/${name%.zst}"; name="${name%.zst}" ;;
        *) cp "$path" "$stage/modules/$name" ;;
    esac
    echo "$name" >> "$stage/modules/order"
done
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -9 > "$image.tmp"
mv "$image.tmp" "$image"
# Older images of this kernel are stale now.
find "$out_dir" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" ! -name "$(basename "$image")" -delete
echo "$PWD/$image"
