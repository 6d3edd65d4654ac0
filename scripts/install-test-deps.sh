#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the tests use to judge ingot's output
# independently: sgdisk (gdisk), fsck.fat (dosfstools), mtools, sfdisk (fdisk),
# e2fsck/debugfs (e2fsprogs), GNU tar, gzip, zstd, GNU time for the benchmarks, and
# QEMU with OVMF and SeaBIOS (x86_64) and with AAVMF (arm64) for the boot tests, cpio and
# kmod (depmod) for the test initramfs, grub-common for grub-mkimage (what GRUB boot
# runs), binutils-multiarch for objdump (the independent PE reader that checks x86_64 and
# arm64 UKIs), debootstrap and qemu-user-static for the Debian rootfs of
# recipes/debian-cloud*.toml, the openssl command line that checks bundles and keys, and
# sbsigntool (sbverify) and efitools (sig-list-to-certs, hash-to-efi-sig-list) that judge
# Secure Boot signatures and signature lists, zsh and fish (bash is there) that parse the
# shell completions, man-db with groff that render the manual pages, and util-linux
# (blkid, which reads filesystem labels and UUIDs back) and bsdutils (script, a terminal
# for the progress test), cryptsetup-bin (veritysetup, the judge of dm-verity hash
# devices), systemd (systemd-measure, the judge of PCR11), swtpm with swtpm-tools (the
# software TPM behind `ingot boot --tpm`), and erofs-utils (fsck.erofs and dump.erofs, the
# judges of EROFS).
# From PyPI, into target/venv: moto[server] (the AWS test server), boto3 (the
# independent read-back of uploaded blocks), AWS's uefivars (the reader of the UEFI
# variable stores ingot writes, and their converter to OVMF's store) and virt-firmware
# (virt-fw-vars: a second reader of them, which enrolls them into AAVMF's store), at
# pinned versions.
# From crates.io: AWS's nitro-tpm-pcr-compute (pinned), the judge of `ingot measure`,
# built once per machine into ~/.cache/ingot (a few minutes) and linked at
# target/nitro-tpm-pcr-compute.
# Installs only what is missing. Needs root or sudo for apt-get.
set -euo pipefail

packages=(gdisk dosfstools mtools fdisk e2fsprogs tar gzip zstd time
    qemu-system-x86 ovmf seabios qemu-system-arm qemu-efi-aarch64 cpio kmod grub-common
    binutils-multiarch debootstrap qemu-user-static openssl sbsigntool efitools zsh fish man-db groff-base util-linux bsdutils
    cryptsetup-bin systemd swtpm swtpm-tools erofs-utils)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} > 0)); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
    fi
    echo "installing test dependencies: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The AWS test venv (tests/util/aws.rs runs target/venv/bin/python).
cd "$(dirname "$0")/.."
venv=target/venv
pins=("moto[server]==5.2.5" "boto3==1.44.8" "uefivars==1.2" "virt-firmware==26.7.3")
stamp="$venv/.ingot-pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
    echo "creating $venv with ${pins[*]}" >&2
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
    echo "${pins[*]}" > "$stamp"
fi

# AWS's PCR tool, built from crates.io once per machine (its version is the cache key).
npc_version=1.1.2
npc_root="$HOME/.cache/ingot/nitro-tpm-pcr-compute-$npc_version"
if [ ! -x "$npc_root/bin/nitro-tpm-pcr-compute" ]; then
    echo "building nitro-tpm-pcr-compute $npc_version from crates.io into $npc_root (a few minutes, once)" >&2
    rm -rf "$npc_root.partial"
    cargo install nitro-tpm-pcr-compute --version "=$npc_version" --locked -q \
        --root "$npc_root.partial" --target-dir "$npc_root.partial/build"
    rm -rf "$npc_root.partial/build"
    mv "$npc_root.partial" "$npc_root"
fi
ln -sfn "$npc_root/bin/nitro-tpm-pcr-compute" target/nitro-tpm-pcr-compute
