#!/usr/bin/env bash
# Assembles the test OS payload for ARCH (amd64, the default, or arm64) from Debian's
# packages, without installing anything into the host: `apt-get download PKG:ARCH` +
# `dpkg-deb -x` into target/test-payload/ARCH/root, cached. For another architecture than
# the host's, the script adds it to dpkg (`dpkg --add-architecture`) first.
#   - linux-image-cloud-ARCH: the cloud kernel (NVMe, ext4, jbd2, crc32c built in;
#     virtio-blk and virtio-pci as modules), copied to /boot/vmlinuz
#   - busybox-static: /bin/busybox for the test /init
#   - systemd-boot-efi: /usr/lib/systemd/boot/efi/systemd-boot{x64,aa64}.efi and the UKI stub
#   - amd64: grub-pc-bin (/usr/lib/grub/i386-pc: boot.img and the modules core.img is made
#     of) and grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)
#   - arm64: grub-efi-arm64-bin (/usr/lib/grub/arm64-efi)
#   - dmsetup and the libraries it loads (libdevmapper1.02.1, libselinux1, libudev1,
#     libpcre2-8-0, libc6): what maps a dm-verity root in the initramfs
#   - attr and libattr1: getfattr, with which the boot tests' guest reads xattrs back
#   - /boot/initrd.img: a busybox initramfs (cpio newc, gzip) that insmods virtio-pci,
#     virtio-blk, dm-mod, dm-bufio, dm-verity and erofs in modules.dep order (depmod run on
#     the payload, not the host) and finds the root partition by the PARTUUID on the
#     kernel command line (reading the partition table itself: static busybox cannot
#     resolve PARTUUID), mounts it as `rootfstype=` says (ext4 by default) and
#     switch_roots. With `roothash=` (the form systemd's
#     veritysetup generator reads: systemd.verity_root_data=PARTUUID=…,
#     systemd.verity_root_hash=PARTUUID=…) it first maps the root with dmsetup, from the
#     hash partition's verity superblock and the command line's root hash, and mounts
#     /dev/mapper/root.
# Needs kmod (depmod) and cpio, which scripts/install-test-deps.sh installs.
# Prints the payload root on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
case "$arch" in
    amd64) packages=(busybox-static systemd-boot-efi grub-pc-bin grub-efi-amd64-bin) grub=x86_64-efi efi=x64 ;;
    arm64) packages=(busybox-static systemd-boot-efi grub-efi-arm64-bin) grub=arm64-efi efi=aa64 ;;
    *) echo "make-test-payload: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
out=target/test-payload/$arch
root=$out/root
if [ -f "$out/done" ]; then
    echo "$root"
    exit 0
fi
rm -rf "$out"
mkdir -p "$out/debs" "$root"
if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo dpkg --add-architecture "$arch"
    $sudo apt-get update -qq
fi
if ! apt-cache show "linux-image-cloud-$arch:$arch" >/dev/null 2>&1; then
    apt-get update -qq
fi
kernel=$(apt-cache depends "linux-image-cloud-$arch:$arch" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel" ] || { echo "cannot find the package linux-image-cloud-$arch depends on" >&2; exit 1; }
kernel=${kernel%:"$arch"}
debs=("$kernel:$arch")
packages+=(dmsetup libdevmapper1.02.1 libselinux1 libudev1 libpcre2-8-0 libc6 attr libattr1)
for p in "${packages[@]}"; do debs+=("$p:$arch"); done
(cd "$out/debs" && apt-get download -q "${debs[@]}" >/dev/null 2>&1) || {
    echo "apt-get download failed for ${debs[*]}" >&2
    exit 1
}
for deb in "$out"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
cp "$root"/boot/vmlinuz-* "$root/boot/vmlinuz"
test -x "$root/bin/busybox"
test -f "$root/usr/lib/systemd/boot/efi/systemd-boot$efi.efi"
test -f "$root/usr/lib/grub/$grub/linux.mod"
[ "$arch" != amd64 ] || test -f "$root/usr/lib/grub/i386-pc/boot.img"

# The initramfs.
ver=$(basename "$(ls -d "$root"/lib/modules/*)")
depmod -b "$root" "$ver"
dep="$root/lib/modules/$ver/modules.dep"
order=()
resolve() {
    local m=$1 d
    for d in "${order[@]}"; do [ "$d" = "$m" ] && return 0; done
    for d in $(awk -v m="$m:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$dep"); do
        resolve "$d"
    done
    order+=("$m")
}
resolve kernel/drivers/virtio/virtio_pci.ko
resolve kernel/drivers/block/virtio_blk.ko
resolve kernel/drivers/md/dm-verity.ko
resolve kernel/fs/erofs/erofs.ko
ird=$out/initramfs
mkdir -p "$ird/bin" "$ird/sbin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp "$root/bin/busybox" "$ird/bin/busybox"
cp "$root/sbin/dmsetup" "$ird/sbin/dmsetup"
# dmsetup's libraries (from /lib and /usr/lib) and the dynamic loader, symlinks kept
# (lib64/ld-linux-x86-64.so.2, lib/ld-linux-aarch64.so.1 point into the multiarch
# directory).
dest=$(pwd)/$ird
libdirs=()
for d in lib lib64 usr/lib; do [ ! -d "$root/$d" ] || libdirs+=("$d"); done
(cd "$root" && find "${libdirs[@]}" -maxdepth 2 \( -name 'lib*.so*' -o -name 'ld-linux*' \) | cpio -pdm --quiet "$dest")
for m in "${order[@]}"; do
    mkdir -p "$ird/lib/modules/$ver/$(dirname "$m")"
    cp "$root/lib/modules/$ver/$m" "$ird/lib/modules/$ver/$m"
    echo "lib/modules/$ver/$m" >> "$ird/modules"
done
cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules); do $B insmod "/$m" || echo "initramfs: insmod $m failed"; done
want="" roothash="" vdata="" vhash="" fstype=ext4
for a in $($B cat /proc/cmdline); do
    case "$a" in
        root=PARTUUID=*) want="${a#root=PARTUUID=}" ;;
        rootfstype=*) fstype="${a#rootfstype=}" ;;
        roothash=*) roothash="${a#roothash=}" ;;
        systemd.verity_root_data=PARTUUID=*) vdata="${a#systemd.verity_root_data=PARTUUID=}" ;;
        systemd.verity_root_hash=PARTUUID=*) vhash="${a#systemd.verity_root_hash=PARTUUID=}" ;;
    esac
done
[ -n "$want" ] || [ -n "$roothash" ] || { echo "initramfs: no root=PARTUUID= or roothash= on the command line"; $B poweroff -f; }
# A partition's PARTUUID: on GPT its entry's unique GUID (mixed-endian); on MBR the
# disk signature and the partition number, SSSSSSSS-PP.
partuuid() {
    disk=$1 n=$2
    if [ "$($B dd if="/dev/$disk" bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ]; then
        array=$($B od -An -tu8 -j $((512 + 72)) -N 8 "/dev/$disk" | $B tr -d ' ')
        set -- $($B od -An -tx1 -j $((array * 512 + (n - 1) * 128 + 16)) -N 16 "/dev/$disk")
        echo "$4$3$2$1-$6$5-$8$7-$9${10}-${11}${12}${13}${14}${15}${16}"
    else
        sig=$($B od -An -tx4 -j 440 -N 4 "/dev/$disk" | $B tr -d ' ')
        printf '%s-%02x\n' "$sig" "$n"
    fi
}
# The partition with PARTUUID $1, waiting up to 10 s for the disk.
find_partuuid() {
    found="" tries=0
    while [ -z "$found" ] && [ $tries -lt 100 ]; do
        for p in /sys/class/block/*; do
            [ -f "$p/partition" ] || continue
            disk=$($B basename "$($B readlink -f "$p/..")")
            if [ "$(partuuid "$disk" "$($B cat "$p/partition")")" = "$1" ]; then
                found=/dev/$($B basename "$p")
            fi
        done
        [ -n "$found" ] || { tries=$((tries + 1)); $B sleep 0.1; }
    done
    [ -n "$found" ] || { echo "initramfs: no partition with PARTUUID $1" >&2; $B poweroff -f; }
    echo "$found"
}
# Maps the dm-verity root as systemd-veritysetup would: data and hash partitions by
# PARTUUID, block sizes, data blocks and salt from the hash device's superblock (struct
# verity_sb: data_block_size at 64, hash_block_size at 68, data_blocks at 72, salt_size
# at 80, salt at 88), the root hash from the command line.
verity_root() {
    data=$(find_partuuid "$vdata") hash=$(find_partuuid "$vhash")
    [ "$($B dd if="$hash" bs=6 count=1 2>/dev/null)" = "verity" ] || { echo "initramfs: no verity superblock on $hash" >&2; $B poweroff -f; }
    dbs=$($B od -An -tu4 -j 64 -N 4 "$hash" | $B tr -d ' ')
    hbs=$($B od -An -tu4 -j 68 -N 4 "$hash" | $B tr -d ' ')
    blocks=$($B od -An -tu8 -j 72 -N 8 "$hash" | $B tr -d ' ')
    ssize=$($B od -An -tu2 -j 80 -N 2 "$hash" | $B tr -d ' ')
    salt=$($B od -An -tx1 -j 88 -N "$ssize" "$hash" | $B tr -d ' \n')
    table="0 $((blocks * dbs / 512)) verity 1 $data $hash $dbs $hbs $blocks 1 sha256 $roothash $salt"
    LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu /sbin/dmsetup create root --readonly --noudevsync --table "$table" >&2 \
        || { echo "initramfs: dmsetup cannot map the verity root" >&2; $B poweroff -f; }
    echo /dev/dm-0
}
if [ -n "$roothash" ]; then root=$(verity_root); else root=$(find_partuuid "$want"); fi
$B mount -t "$fstype" -o ro "$root" /newroot || { echo "initramfs: cannot mount $root ($fstype)"; $B poweroff -f; }
exec $B switch_root /newroot /init
INIT
chmod 0755 "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n > "$root/boot/initrd.img"
touch "$out/done"
echo "$root"
