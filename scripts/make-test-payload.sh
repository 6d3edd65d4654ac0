#!/usr/bin/env bash
# Assembles the test OS payload from Debian packages, without installing anything into
# the host: `apt-get download` + `dpkg-deb -x` into target/test-payload/root, cached.
#   - linux-image-cloud-amd64: the cloud kernel (NVMe, ext4, jbd2, crc32c built in;
#     virtio-blk and virtio-pci as modules), copied to /boot/vmlinuz
#   - busybox-static: /bin/busybox for the test /init
#   - systemd-boot-efi: /usr/lib/systemd/boot/efi/systemd-bootx64.efi
# Prints the payload root on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/test-payload
root=$out/root
if [ -f "$out/done" ]; then
    echo "$root"
    exit 0
fi
rm -rf "$out"
mkdir -p "$out/debs" "$root"
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    apt-get update -qq
fi
kernel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel" ] || { echo "cannot find the package linux-image-cloud-amd64 depends on" >&2; exit 1; }
(cd "$out/debs" && apt-get download -q "$kernel" busybox-static systemd-boot-efi >/dev/null 2>&1) || {
    echo "apt-get download failed for $kernel busybox-static systemd-boot-efi" >&2
    exit 1
}
for deb in "$out"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
cp "$root"/boot/vmlinuz-* "$root/boot/vmlinuz"
test -x "$root/bin/busybox"
test -f "$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
touch "$out/done"
echo "$root"
