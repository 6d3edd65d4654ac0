#!/usr/bin/env bash
# Makes target/debian-rootfs/ARCH.tar.gz (ARCH: amd64, the default, or arm64): a Debian 12
# root filesystem for recipes/debian-cloud.toml (amd64) and recipes/debian-cloud-arm64.toml,
# made with debootstrap --variant=minbase plus the cloud kernel (with an initramfs-tools
# initrd), systemd, udev and GRUB's EFI modules (and i386-pc on amd64). Owners are kept as
# numbers in the tarball, so ingot (not root) sets them in the image.
#
# debootstrap needs root (it chroots to run maintainer scripts); ingot itself does not. For
# arm64 on another host, the maintainer scripts run under qemu-user-static: the script
# installs it, mounts binfmt_misc when it is not mounted and registers qemu-aarch64.
# The mirror is the one apt is configured with on this machine.
#
# Cached outside the clone (INGOT_CACHE, default ~/.cache/ingot), keyed by this script's
# hash: target/debian-rootfs/ARCH.tar.gz is a link to the cached tarball, and nothing is
# made when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
case "$arch" in
    amd64) packages=linux-image-cloud-amd64,grub-efi-amd64-bin,grub-pc-bin console=ttyS0 ;;
    arm64) packages=linux-image-cloud-arm64,grub-efi-arm64-bin console=ttyAMA0 ;;
    *) echo "make-debian-rootfs: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
packages=systemd-sysv,udev,kmod,initramfs-tools,e2fsprogs,$packages
cache="${INGOT_CACHE:-$HOME/.cache/ingot}"
key=$(sha256sum "$0" | cut -c1-16)
cached="$cache/debian-rootfs-$arch-$key.tar.gz"
link=target/debian-rootfs/$arch.tar.gz
mkdir -p target/debian-rootfs "$cache"
if [ -f "$cached" ]; then
    ln -sfn "$cached" "$link"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
fi
need=(debootstrap)
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    need+=(qemu-user-static)
fi
for p in "${need[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null
    fi
done
if [ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ]; then
    binfmt=/proc/sys/fs/binfmt_misc
    [ -e "$binfmt/register" ] || $sudo mount -t binfmt_misc binfmt_misc "$binfmt"
    [ -e "$binfmt/qemu-aarch64" ] || $sudo sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"
fi
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' | awk '$2 == "bookworm" {print $1; exit}')
if [ -z "$mirror" ]; then
    echo "make-debian-rootfs: apt has no bookworm source to take the mirror from" >&2
    exit 1
fi
work="$cache/debian-rootfs-$arch.work"
root="$work/root"
$sudo rm -rf "$work"
mkdir -p "$work"
echo "debootstrap bookworm $arch (minbase + $packages)" >&2
attempt=1
until $sudo debootstrap --arch="$arch" --variant=minbase --include="$packages" --merged-usr bookworm "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1; do
    if [ $attempt -ge 3 ]; then
        tail -20 "$work/debootstrap.log" >&2
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
$sudo tee "$root/etc/systemd/system/ingot-marker.service" >/dev/null <<UNIT
[Unit]
Description=Tell the serial console that the system is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "INGOT-DEBIAN-UP \$(systemctl is-active multi-user.target) failed=\$(systemctl list-units --failed --no-legend | wc -l) \$(uname -r)" > /dev/$console'

[Install]
WantedBy=multi-user.target
UNIT
$sudo ln -sf /etc/systemd/system/ingot-marker.service "$root/etc/systemd/system/multi-user.target.wants/ingot-marker.service"

$sudo tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -czf "$work/rootfs.tar.gz" .
$sudo chown "$(id -u):$(id -g)" "$work/rootfs.tar.gz"
rm -f "$cache/debian-rootfs-$arch"-*.tar.gz
mv "$work/rootfs.tar.gz" "$cached"
$sudo rm -rf "$work"
ln -sfn "$cached" "$link"
echo "$link: $(du -hL "$link" | cut -f1)" >&2
