#!/usr/bin/env bash
# Makes target/debian-rootfs/rootfs.tar.gz: a Debian 12 root filesystem for
# recipes/debian-cloud.toml, made with debootstrap --variant=minbase plus the cloud
# kernel (with an initramfs-tools initrd), systemd, udev and GRUB's EFI and i386-pc
# modules. Owners are kept as numbers in the tarball, so ingot (not root) sets them in the
# image. Cached: nothing is done when the tarball exists.
#
# debootstrap needs root (it chroots to run maintainer scripts); ingot itself does not.
# The mirror is the one apt is configured with on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/debian-rootfs
tarball="$out/rootfs.tar.gz"
if [ -f "$tarball" ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
fi
if ! command -v debootstrap >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' | awk '$2 == "bookworm" {print $1; exit}')
if [ -z "$mirror" ]; then
    echo "make-debian-rootfs: apt has no bookworm source to take the mirror from" >&2
    exit 1
fi
root="$out/root"
$sudo rm -rf "$root"
mkdir -p "$out"
packages=systemd-sysv,udev,kmod,initramfs-tools,linux-image-cloud-amd64,grub-efi-amd64-bin,grub-pc-bin,e2fsprogs
echo "debootstrap bookworm (minbase + $packages)" >&2
attempt=1
until $sudo debootstrap --variant=minbase --include="$packages" --merged-usr bookworm "$root" "$mirror" \
    >"$out/debootstrap.log" 2>&1; do
    if [ $attempt -ge 3 ]; then
        tail -20 "$out/debootstrap.log" >&2
        exit 1
    fi
    attempt=$((attempt + 1))
    echo "debootstrap failed; retrying ($attempt/3)" >&2
    $sudo rm -rf "$root"
done

# Stable names for the recipe's [boot] kernel and initrd (hard links, not copies).
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd=$(cd "$root/boot" && ls initrd.img-* | sort -V | tail -1)
$sudo ln -f "$root/boot/$kernel" "$root/boot/vmlinuz"
$sudo ln -f "$root/boot/$initrd" "$root/boot/initrd.img"
echo ingot-debian | $sudo tee "$root/etc/hostname" >/dev/null
# A fresh machine id at first boot; no apt caches in the image.
$sudo truncate -s 0 "$root/etc/machine-id"
$sudo rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
# A marker the boot test looks for once systemd has reached multi-user.target.
$sudo tee "$root/etc/systemd/system/ingot-marker.service" >/dev/null <<'UNIT'
[Unit]
Description=Tell the serial console that the system is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "INGOT-DEBIAN-UP $(systemctl is-active multi-user.target) failed=$(systemctl list-units --failed --no-legend | wc -l) $(uname -r)" > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
UNIT
$sudo ln -sf /etc/systemd/system/ingot-marker.service "$root/etc/systemd/system/multi-user.target.wants/ingot-marker.service"

$sudo tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -czf "$tarball.partial" .
$sudo chown "$(id -u):$(id -g)" "$tarball.partial"
mv "$tarball.partial" "$tarball"
$sudo rm -rf "$root"
echo "$tarball: $(du -h "$tarball" | cut -f1)" >&2
