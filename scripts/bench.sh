#!/usr/bin/env bash
# Benchmarks ingot side by side with the peer tools in one run and prints ratios.
#   scripts/bench.sh        every benchmark
#   scripts/bench.sh fat    the ESP build: ingot build vs truncate+sgdisk+mkfs.vfat+mcopy+dd
#   scripts/bench.sh tree   a 4 GiB ext4 disk from a copy of /usr/share and /usr/include:
#                           ingot build (default digests) vs mke2fs -t ext4 -d vs tar -cf
#   scripts/bench.sh ext4   the ext4 writer vs mke2fs -t ext4 -d, and a 64 GiB disk holding
#                           1,000 MiB vs the same data in a 4 GiB disk
#   scripts/bench.sh debian recipes/debian-cloud.toml vs the classic pipeline (tar -x,
#                           sgdisk, grub-mkimage, mkfs.vfat, mcopy, mke2fs -d, dd of boot code)
#   scripts/bench.sh bundle the instance-store bundle of a 4 GiB image holding 1 GiB, ingot vs
#                           tar -S | tee >(sha1) | gzip -9 | openssl enc | split + sha1 of parts
#   scripts/bench.sh secure-boot  the boot tests' recipe (tests/boot.rs without the guest
#                           tree: 1 GiB, Debian cloud kernel, test initramfs) as a UKI and with
#                           systemd-boot, with and without [secure_boot], vs sbsign
#                           (sbsigntool) signing the same binaries
#   scripts/bench.sh verity a 2 GiB dm-verity root holding 1 GiB (256 files of 4 MiB): ingot
#                           build with verity vs without (the same ext4: 4 KiB blocks, no
#                           journal, no reserved blocks) vs mke2fs -d + veritysetup format
#   scripts/bench.sh erofs  the Debian rootfs (recipes/debian-cloud.toml's tree) as EROFS:
#                           ingot build vs mkfs.erofs (erofs-utils) of the same tree, all
#                           times at the recipe's (clamped to SOURCE_DATE_EPOCH, -T), all
#                           owned by root (--all-root)
#   scripts/bench.sh measure the boot tests' recipe as a signed UKI: ingot build (which
#                           predicts the TPM measurements), ingot measure alone, and AWS's
#                           nitro-tpm-pcr-compute on the same UKI (install-test-deps.sh
#                           builds it)
#   scripts/bench.sh upload EBS direct upload of a 4 GiB image holding 1 GiB, ingot vs
#                           coldsnap 0.12 (built from crates.io into target/coldsnap), to
#                           one local moto server (scripts/moto-server.py)
# Wall time comes from criterion (TARGET/criterion) or the median of three runs (eleven for
# the sub-second Secure Boot builds); peak RSS
# from GNU time; disk use from du.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
which="${1:-all}"
# Where cargo builds (CARGO_TARGET_DIR, if set): the ingot binary and criterion's results.
tgt="${CARGO_TARGET_DIR:-$PWD/target}"
# The benchmarks' data (target/bench-data) lives in memory (tmpfs) when there is room: on
# a virtual machine's disk the writeback of each run's image varies by seconds between
# runs, and ingot fsyncs its image before renaming it into place while the peers do not.
# In memory each side costs what its work costs; the tree benchmark adds one run on disk.
if [ ! -e target/bench-data ] && [ -d /dev/shm ] && [ "$(df --output=avail -k /dev/shm | tail -1)" -gt $((12 << 20)) ]; then
    mkdir -p target /dev/shm/ingot-bench-data
    ln -s /dev/shm/ingot-bench-data target/bench-data
fi

# A 4 GiB sparse image holding 1 GiB of incompressible data in 8 runs of 128 MiB, 512 MiB
# apart (made once).
four_gib_image() {
    [ -f "$1" ] && return
    truncate -s 4G "$1"
    for i in 0 1 2 3 4 5 6 7; do
        head -c $((128 << 20)) /dev/urandom | dd of="$1" bs=1M seek=$((i * 512)) conv=notrunc status=none
    done
}
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
# The median wall time in seconds of N runs of a command (after one unmeasured run that
# warms the page cache): median N COMMAND…
median() {
    local n=$1
    shift
    "$@" >/dev/null 2>&1
    python3 - "$n" "$@" <<'PY'
import subprocess, sys, time
runs = []
for _ in range(int(sys.argv[1])):
    t = time.monotonic()
    subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs.append(time.monotonic() - t)
print(f"{sorted(runs)[len(runs) // 2]:.3f}")
PY
}
median3() { median 3 "$@"; }
# The boot tests' recipe (tests/boot.rs without the guest's own tree) with uefi = LOADER
# over the test payload at PAYLOAD, and with `signed`, [secure_boot] with the keys in
# keys/: boot_recipe LOADER PAYLOAD [signed]
boot_recipe() {
    cat <<RECIPE
name = "sb"
size = "1 GiB"
source_date_epoch = 1700000000
[boot]
uefi = "$1"
kernel = "/boot/vmlinuz"
initrd = "/boot/initrd.img"
cmdline = "console=ttyS0 ro"
[[partition]]
label = "ESP"
type = "esp"
size = "64 MiB"
filesystem = "vfat"
[[partition]]
label = "root"
type = "root-x86-64"
size = "fill"
filesystem = "ext4"
[[partition.contents]]
dir = "$2"
RECIPE
    [ "${3:-}" != signed ] || printf '[secure_boot]\npk = "keys/PK.crt"\nkek = "keys/KEK.crt"\ndb = "keys/db.crt"\ndb_key = "keys/db.key"\n'
}
mean_s() {
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate']/1e9)" \
        "$tgt/criterion/$1/new/estimates.json"
}

if [[ "$which" == all || "$which" == fat ]]; then
    cargo bench --bench build --locked -- esp_2000_files
    data=target/bench-data/fat
    ingot_t=$(mean_s esp_2000_files/ingot)
    ingot_nd_t=$(mean_s esp_2000_files/ingot_no_digest)
    peer_t=$(mean_s esp_2000_files/peer)
    peer_sum_t=$(mean_s esp_2000_files/peer_sha256sum)
    ingot_rss=$( (cd "$data" && /usr/bin/time -f %M "$tgt/release/ingot" build recipe.toml -o ingot.img --json >/dev/null) 2>&1 | tail -1)
    peer_rss=$( (cd "$data" && /usr/bin/time -f %M bash peer.sh) 2>&1 | tail -1)
    ingot_du=$(du -k "$data/ingot.img" | cut -f1)
    peer_du=$(du -k "$data/peer.img" | cut -f1)
    data_k=$(du -sk "$data/src" | cut -f1)
    echo
    echo "ESP build, 2,000 files of 1-64 KiB (${data_k} KiB of file data), 1 GiB disk:"
    printf "  %-8s %10s %12s %14s\n" "" "wall s" "peak RSS KiB" "image du KiB"
    printf "  %-8s %10.3f %12s %14s\n" ingot "$ingot_t" "$ingot_rss" "$ingot_du"
    printf "  %-8s %10.3f %12s %14s\n" peer "$peer_t" "$peer_rss" "$peer_du"
    printf "  %-8s %10.3f   (ingot build --no-digest)\n" "ingot-nd" "$ingot_nd_t"
    printf "  %-8s %10.3f   (peer, then sha256sum of the image: what ingot build --sha256 adds)\n" "peer+sum" "$peer_sum_t"
    echo "  ratios ingot/peer: wall $(ratio "$ingot_t" "$peer_t"), RSS $(ratio "$ingot_rss" "$peer_rss"), disk $(ratio "$ingot_du" "$peer_du")"
    echo "  ratio ingot --no-digest/peer: wall $(ratio "$ingot_nd_t" "$peer_t"); aim: ingot/peer <= 1.0"
    echo "  (ingot's time includes the image digest: the SHA-256 of every 512 KiB block holding data)"
fi

if [[ "$which" == all || "$which" == tree ]]; then
    cargo build --release --locked -q
    data="$PWD/target/bench-data/tree"
    mkdir -p "$data"
    # A real tree: the machine's /usr/share and /usr/include (about 60,000 entries).
    if [ ! -d "$data/src" ]; then
        mkdir -p "$data/src.partial"
        cp -a /usr/share /usr/include "$data/src.partial/"
        mv "$data/src.partial" "$data/src"
    fi
    entries=$(find "$data/src" | wc -l)
    mib=$(du -sm "$data/src" | cut -f1)
    cat > "$data/recipe.toml" <<'TOML'
name = "bench-tree"
size = "4 GiB"
source_date_epoch = 1577836800
[[partition]]
type = "linux"
size = "fill"
filesystem = "ext4"
[[partition.contents]]
dir = "src"
TOML
    ingot="$tgt/release/ingot"
    i_t=$(cd "$data" && median3 "$ingot" build recipe.toml -o ingot.img --json)
    n_t=$(cd "$data" && median3 "$ingot" build recipe.toml -o ingot.img --json --no-digest)
    s_t=$(cd "$data" && median3 "$ingot" build recipe.toml -o ingot.img --json --sha256)
    m_t=$(cd "$data" && median3 bash -c 'rm -f mke2fs.img && E2FSPROGS_FAKE_TIME=1577836800 mke2fs -q -F -t ext4 -d src mke2fs.img 4G')
    t_t=$(cd "$data" && median3 bash -c 'rm -f tree.tar && tar -cf tree.tar src')
    echo
    echo "A 4 GiB ext4 disk from a real tree ($entries entries, $mib MiB: /usr/share and /usr/include):"
    printf "  %-26s %8s %10s\n" "" "wall s" "/ tar -cf"
    printf "  %-26s %8.3f %10s\n" "ingot build" "$i_t" "$(ratio "$i_t" "$t_t")"
    printf "  %-26s %8.3f %10s\n" "ingot build --no-digest" "$n_t" "$(ratio "$n_t" "$t_t")"
    printf "  %-26s %8.3f %10s\n" "ingot build --sha256" "$s_t" "$(ratio "$s_t" "$t_t")"
    printf "  %-26s %8.3f %10s\n" "mke2fs -t ext4 -d" "$m_t" "$(ratio "$m_t" "$t_t")"
    printf "  %-26s %8.3f %10s\n" "tar -cf (the floor)" "$t_t" "1.00"
    echo "  aim: ingot build <= 1.3 x tar -cf; ingot/mke2fs: $(ratio "$i_t" "$m_t") (in $data)"
    rm -f "$data/ingot.img" "$data/ingot.img.json" "$data/mke2fs.img" "$data/tree.tar"
    if [ -L target/bench-data ]; then
        disk="$PWD/target/bench-disk"
        mkdir -p "$disk"
        cp "$data/recipe.toml" "$disk/" && ln -sfn "$data/src" "$disk/src"
        one() { /usr/bin/time -f %e -o "$disk/time" "$@" >/dev/null 2>&1; cat "$disk/time"; }
        d_i=$(cd "$disk" && one "$ingot" build recipe.toml -o ingot.img --json)
        d_t=$(cd "$disk" && one bash -c 'rm -f tree.tar && tar -cf tree.tar -C src/ .')
        d_s=$(cd "$disk" && one bash -c 'rm -f tree.tar && tar -cf tree.tar -C src/ . && sync tree.tar')
        echo "  on disk, one run each: ingot build $d_i s (it fsyncs the image before renaming it), tar -cf $d_t s, tar -cf + fsync $d_s s"
        rm -rf "$disk"
    fi
fi

if [[ "$which" == all || "$which" == ext4 ]]; then
    cargo bench -p ingot-ext4 --bench ext4 --locked -- ext4_20000_files
    data=target/bench-data/ext4
    ingot_t=$(mean_s ext4_20000_files/ingot)
    peer_t=$(mean_s ext4_20000_files/mke2fs)
    cargo build --release --locked -q
    cat > "$data/recipe.toml" <<'TOML'
name = "bench-ext4"
size = "4100 MiB"
source_date_epoch = 1577836800
[[partition]]
type = "linux"
size = "4 GiB"
filesystem = "ext4"
[[partition.contents]]
dir = "tree"
TOML
    ingot_rss=$( (cd "$data" && /usr/bin/time -f %M "$tgt/release/ingot" build recipe.toml -o build.img --json >/dev/null) 2>&1 | tail -1)
    peer_rss=$( (cd "$data" && rm -f peer.img && E2FSPROGS_FAKE_TIME=1577836800 /usr/bin/time -f %M mke2fs -q -F -t ext4 -d tree peer.img 4G) 2>&1 | tail -1)
    ingot_du=$(du -k "$data/ingot.img" | cut -f1)
    peer_du=$(du -k "$data/peer.img" | cut -f1)
    echo
    echo "ext4, 20,000 files of 1-8 KiB + 3 x 100 MiB, 4 GiB filesystem:"
    printf "  %-8s %10s %12s %14s\n" "" "wall s" "peak RSS KiB" "image du KiB"
    printf "  %-8s %10.3f %12s %14s\n" ingot "$ingot_t" "$ingot_rss" "$ingot_du"
    printf "  %-8s %10.3f %12s %14s\n" mke2fs "$peer_t" "$peer_rss" "$peer_du"
    echo "  ratios ingot/mke2fs: wall $(ratio "$ingot_t" "$peer_t"), RSS $(ratio "$ingot_rss" "$peer_rss"), disk $(ratio "$ingot_du" "$peer_du")"
    echo "  (wall: the writer alone, from the tree to the image; RSS: a whole ingot build of it)"

    mkdir -p "$data/gig"
    for i in 0 1 2 3 4 5 6 7 8 9; do
        [ -f "$data/gig/part$i.bin" ] || head -c $((100 << 20)) /dev/urandom > "$data/gig/part$i.bin"
    done
    cat > "$data/big.toml" <<'TOML'
name = "big"
size = "64 GiB"
[[partition]]
type = "esp"
size = "512 MiB"
filesystem = "vfat"
[[partition]]
type = "root-x86-64"
size = "60 GiB"
filesystem = "ext4"
[[partition.contents]]
dir = "gig"
TOML
    # The same 1,000 MiB in a 4 GiB disk: what the 64 GiB disk should cost, since only
    # the data is written and hashed.
    sed -e 's/^size = "64 GiB"/size = "4 GiB"/' -e 's/^size = "60 GiB"/size = "fill"/' "$data/big.toml" > "$data/small.toml"
    ingot="$tgt/release/ingot"
    b_t=$(cd "$data" && median3 "$ingot" build big.toml -o big.img --json)
    s_t=$(cd "$data" && median3 "$ingot" build small.toml -o small.img --json)
    bn_t=$(cd "$data" && median3 "$ingot" build big.toml -o big.img --json --no-digest)
    echo
    echo "1,000 MiB of files in an ext4 disk, ingot build with its default digests:"
    printf "  %-34s %8.3f s  %s KiB on disk\n" "64 GiB disk (60 GiB ext4)" "$b_t" "$(du -k "$data/big.img" | cut -f1)"
    printf "  %-34s %8.3f s  %s KiB on disk\n" "4 GiB disk" "$s_t" "$(du -k "$data/small.img" | cut -f1)"
    printf "  %-34s %8.3f s\n" "64 GiB disk, --no-digest" "$bn_t"
    echo "  ratio 64 GiB / 4 GiB: $(ratio "$b_t" "$s_t") (aim <= 2)"
    rm -f "$data/big.img" "$data/small.img" "$data/build.img" "$data"/*.img.json
fi

if [[ "$which" == all || "$which" == upload ]]; then
    cargo build --release --locked -q
    coldsnap=target/coldsnap/bin/coldsnap
    if [ ! -x "$coldsnap" ]; then
        echo "building coldsnap 0.12 from crates.io into target/coldsnap (several minutes)" >&2
        cargo install coldsnap --version '~0.12' --locked --root target/coldsnap -q
    fi
    data=target/bench-data/upload
    mkdir -p "$data"
    img="$data/disk.img"
    four_gib_image "$img"
    workers=64
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
    run_one() { # tool -> "wall user sys maxrss"
        target/venv/bin/python scripts/moto-server.py 0 > "$data/moto.out" 2>/dev/null &
        moto=$!
        while ! grep -q READY "$data/moto.out" 2>/dev/null; do sleep 0.2; done
        export AWS_ENDPOINT_URL="http://127.0.0.1:$(awk '/READY/{print $2}' "$data/moto.out")"
        case "$1" in
            ingot) /usr/bin/time -f "%e %U %S %M" -o "$data/time" "$tgt/release/ingot" upload "$img" --workers $workers --json >/dev/null ;;
            coldsnap) /usr/bin/time -f "%e %U %S %M" -o "$data/time" "$coldsnap" upload --omit-zero-blocks --no-progress --workers $workers "$img" >/dev/null ;;
        esac
        kill $moto; wait $moto 2>/dev/null || true
        cat "$data/time"
    }
    read -r i_wall i_user i_sys i_rss <<< "$(run_one ingot)"
    read -r c_wall c_user c_sys c_rss <<< "$(run_one coldsnap)"
    # The floor: one SHA-256 pass over the 1 GiB of data in 512 KiB blocks, CPU time of the
    # hashing alone (Python's hashlib is OpenSSL's SHA-256, SHA-NI where the CPU has it).
    hash_cpu=$(python3 - "$img" <<'PY'
import hashlib, sys, time
total = 0.0
with open(sys.argv[1], "rb") as f:
    for i in range(8):
        f.seek(i * 512 << 20)
        buf = f.read(128 << 20)
        t = time.process_time()
        for j in range(0, len(buf), 524288):
            hashlib.sha256(buf[j:j + 524288]).digest()
        total += time.process_time() - t
print(f"{total:.2f}")
PY
)
    # Memory flat in the image size: the same 1 GiB of data in a 64 GiB image.
    big="$data/big.img"
    cp --sparse=always "$img" "$big" && truncate -s 64G "$big"
    img_saved="$img"; img="$big"
    read -r b_wall b_user b_sys b_rss <<< "$(run_one ingot)"
    img="$img_saved"; rm -f "$big"
    i_cpu=$(python3 -c "print($i_user + $i_sys)")
    c_cpu=$(python3 -c "print($c_user + $c_sys)")
    echo
    echo "EBS direct upload, 4 GiB image holding 1 GiB of data, $workers workers, local moto server:"
    printf "  %-9s %8s %10s %12s\n" "" "wall s" "CPU s" "peak RSS KiB"
    printf "  %-9s %8.2f %10.2f %12s\n" ingot "$i_wall" "$i_cpu" "$i_rss"
    printf "  %-9s %8.2f %10.2f %12s\n" coldsnap "$c_wall" "$c_cpu" "$c_rss"
    echo "  ratios ingot/coldsnap: wall $(ratio "$i_wall" "$c_wall"), client CPU $(ratio "$i_cpu" "$c_cpu"), RSS $(ratio "$i_rss" "$c_rss")"
    echo "  client CPU per GiB uploaded: ingot ${i_cpu} s, coldsnap ${c_cpu} s; one SHA-256 pass over it: ${hash_cpu} s ($(ratio "$hash_cpu" "$i_cpu") of ingot's)"
    echo "  the same data in a 64 GiB image: ingot ${b_wall} s wall, $(python3 -c "print($b_user + $b_sys)") s CPU, ${b_rss} KiB peak RSS"
    echo "  (wall is bounded by the Python server on the same 2 cores; CPU is the client's alone)"
fi

if [[ "$which" == all || "$which" == debian ]]; then
    scripts/make-debian-rootfs.sh amd64
    cargo build --release --locked -q
    data="$PWD/target/bench-data/debian"
    mkdir -p "$data"
    rootfs="$(readlink -f target/debian-rootfs/amd64.tar.gz)"
    # The same disk by the classic pipeline: unpack the rootfs with owners (root only), lay
    # out the table, make both GRUB images, format and fill the ESP, write the root with
    # mke2fs -d, and dd boot.img and core.img into place (without grub-bios-setup's sector
    # patches: a little less work than ingot does).
    cat > "$data/peer.sh" <<'PEER'
set -e
rm -rf root peer.img && mkdir root
tar --numeric-owner -xpzf "$ROOTFS" -C root
truncate -s 8G peer.img
sgdisk -n1:2048:+1M -t1:ef02 -n2:0:+256M -t2:ef00 -n3:0:0 -t3:8304 peer.img >/dev/null 2>&1
mkdir -p root/boot/grub
printf 'set timeout=0\nmenuentry debian { linux /boot/vmlinuz root=PARTUUID=x rw console=ttyS0\n initrd /boot/initrd.img }\n' > root/boot/grub/grub.cfg
grub-mkimage -O x86_64-efi -d root/usr/lib/grub/x86_64-efi -p /boot/grub -o BOOTX64.EFI part_gpt ext2 search configfile normal linux echo
grub-mkimage -O i386-pc -d root/usr/lib/grub/i386-pc -p '(hd0,gpt3)/boot/grub' -o core.img biosdisk part_gpt ext2 normal linux echo
rm -f esp.img && truncate -s 256M esp.img
mkfs.vfat -F 32 -n ESP esp.img >/dev/null
MTOOLS_SKIP_CHECK=1 mmd -i esp.img ::/EFI ::/EFI/BOOT
MTOOLS_SKIP_CHECK=1 mcopy -i esp.img BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
dd if=esp.img of=peer.img bs=1M seek=2 conv=sparse,notrunc status=none
end=$(sgdisk -i 3 peer.img | awk '/Last sector/ {print $3}')
mke2fs -q -F -t ext4 -L root -d root -E offset=$((528384 * 512)) peer.img $(( (end - 528384 + 1) / 8 ))
dd if=root/usr/lib/grub/i386-pc/boot.img of=peer.img bs=440 count=1 conv=notrunc status=none
dd if=core.img of=peer.img bs=512 seek=2048 conv=notrunc status=none
PEER
    timed() { /usr/bin/time -f "%e %M" -o "$data/time" "$@" >/dev/null; cat "$data/time"; }
    read -r i_wall i_rss <<< "$(timed "$tgt/release/ingot" build recipes/debian-cloud.toml -o "$data/ingot.img" --json)"
    read -r n_wall n_rss <<< "$(timed "$tgt/release/ingot" build recipes/debian-cloud.toml -o "$data/ingot.img" --json --no-digest)"
    read -r p_wall p_rss <<< "$(cd "$data" && ROOTFS="$rootfs" timed bash peer.sh)"
    i_du=$(du -k "$data/ingot.img" | cut -f1)
    p_du=$(du -k "$data/peer.img" | cut -f1)
    echo
    echo "recipes/debian-cloud.toml (8 GiB, Debian 12 rootfs tarball of $(du -m "$rootfs" | cut -f1) MiB):"
    printf "  %-16s %8s %12s %14s\n" "" "wall s" "peak RSS KiB" "image du KiB"
    printf "  %-16s %8.2f %12s %14s\n" "ingot build" "$i_wall" "$i_rss" "$i_du"
    printf "  %-16s %8.2f %12s\n" "  --no-digest" "$n_wall" "$n_rss"
    printf "  %-16s %8.2f %12s %14s\n" "classic pipeline" "$p_wall" "$p_rss" "$p_du"
    echo "  ratios ingot/classic: wall $(ratio "$i_wall" "$p_wall") (aim <= 0.3; --no-digest $(ratio "$n_wall" "$p_wall")), disk $(ratio "$i_du" "$p_du")"
    echo "  (ingot's time includes the image digest of its data; the classic pipeline needs root to unpack the owners)"
    rm -rf "$data/root" "$data/peer.img" "$data/ingot.img" "$data/esp.img"
fi

if [[ "$which" == all || "$which" == bundle ]]; then
    cargo build --release --locked -q
    data="$PWD/target/bench-data/bundle"
    mkdir -p "$data"
    img="$data/disk.img"
    four_gib_image "$img"
    [ -f "$data/pk.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=bench \
        -keyout "$data/pk.pem" -out "$data/cert.pem" 2>/dev/null
    rm -rf "$data/ingot" "$data/peer" && mkdir -p "$data/peer"
    timed() { /usr/bin/time -f "%e %U %S %M" -o "$data/time" "$@" >/dev/null; cat "$data/time"; }
    read -r i_wall i_user i_sys i_rss <<< "$(timed "$tgt/release/ingot" bundle "$img" -d "$data/ingot" \
        --cert "$data/cert.pem" --privatekey "$data/pk.pem" --ec2-cert "$data/cert.pem" --user 123456789012 --json)"
    key=$(openssl rand -hex 16); iv=$(openssl rand -hex 16)
    cat > "$data/peer.sh" <<PEER
set -e
cd "$data/peer"
tar -c -h -S --owner 0 --group 0 -C "$data" disk.img | tee >(openssl sha1 > tar.sha1) | gzip -9 \
    | openssl enc -e -aes-128-cbc -K $key -iv $iv | split -b 10485760 -d -a 3 - disk.img.part.
openssl sha1 disk.img.part.* > parts.sha1
PEER
    read -r p_wall p_user p_sys p_rss <<< "$(timed bash "$data/peer.sh")"
    i_du=$(du -sk "$data/ingot" | cut -f1); p_du=$(du -sk "$data/peer" | cut -f1)
    echo
    echo "Instance-store bundle of a 4 GiB image holding 1 GiB of random data:"
    printf "  %-9s %8s %10s %12s %12s\n" "" "wall s" "CPU s" "peak RSS KiB" "bundle KiB"
    printf "  %-9s %8.2f %10.2f %12s %12s\n" ingot "$i_wall" "$(python3 -c "print($i_user + $i_sys)")" "$i_rss" "$i_du"
    printf "  %-9s %8.2f %10.2f %12s %12s\n" pipeline "$p_wall" "$(python3 -c "print($p_user + $p_sys)")" "$p_rss" "$p_du"
    echo "  ratio ingot/pipeline: wall $(ratio "$i_wall" "$p_wall") (aim <= 0.8)"
    echo "  (pipeline RSS is the largest single process's; CPU of the pipeline counts every process)"
    rm -rf "$data/ingot" "$data/peer"
fi

if [[ "$which" == all || "$which" == verity ]]; then
    cargo build --release --locked -q
    data="$PWD/target/bench-data/verity"
    mkdir -p "$data"
    if [ ! -d "$data/src" ]; then
        mkdir -p "$data/src.partial"
        for i in $(seq 0 255); do head -c $((4 << 20)) /dev/urandom > "$data/src.partial/f$i"; done
        mv "$data/src.partial" "$data/src"
    fi
    for v in plain verity; do
        {
            printf 'name = "bench-verity"\nsource_date_epoch = 1577836800\n[[partition]]\nlabel = "root"\n'
            printf 'type = "root-x86-64"\nsize = "2 GiB"\nfilesystem = "ext4"\n'
            if [ "$v" = verity ]; then
                printf 'verity = true\n'
            else
                printf '[partition.ext4]\nblock_size = 4096\njournal = false\nreserved_percent = 0\n'
            fi
            printf '[[partition.contents]]\ndir = "src"\n'
            [ "$v" = plain ] || printf '[[partition]]\ntype = "root-x86-64-verity"\nsize = "auto"\nverity_of = "root"\n'
        } > "$data/$v.toml"
    done
    ingot="$tgt/release/ingot"
    p_t=$(cd "$data" && median3 "$ingot" build plain.toml -o plain.img --json)
    v_t=$(cd "$data" && median3 "$ingot" build verity.toml -o verity.img --json)
    peer='rm -f root.img hash.img && E2FSPROGS_FAKE_TIME=1577836800 mke2fs -q -F -t ext4 -b 4096 -m 0 -O ^has_journal -d src root.img 2G && veritysetup format root.img hash.img >/dev/null'
    m_t=$(cd "$data" && median3 bash -c "$peer")
    v_rss=$( (cd "$data" && /usr/bin/time -f %M "$ingot" build verity.toml -o verity.img --json >/dev/null) 2>&1 | tail -1)
    p_rss=$( (cd "$data" && /usr/bin/time -f %M bash -c "$peer") 2>&1 | tail -1)
    echo
    echo "A 2 GiB dm-verity root holding 1 GiB (256 files of 4 MiB):"
    printf "  %-34s %8s %12s\n" "" "wall s" "peak RSS KiB"
    printf "  %-34s %8.3f %12s\n" "ingot build, verity" "$v_t" "$v_rss"
    printf "  %-34s %8.3f\n" "ingot build, no verity" "$p_t"
    printf "  %-34s %8.3f %12s\n" "mke2fs -d + veritysetup format" "$m_t" "$p_rss"
    echo "  ratios: ingot verity / ingot without $(ratio "$v_t" "$p_t") (aim <= 1.2), ingot verity / peer $(ratio "$v_t" "$m_t") (aim <= 0.3)"
    echo "  (ingot writes a GPT disk and digests it; the peer writes the filesystem and hash files only)"
    rm -f "$data"/*.img "$data"/*.img.json
fi

if [[ "$which" == all || "$which" == erofs ]]; then
    cargo build --release --locked -q
    scripts/make-debian-rootfs.sh amd64 >/dev/null
    rootfs="$(readlink -f target/debian-rootfs/amd64.tar.gz)"
    data="$PWD/target/bench-data/erofs"
    mkdir -p "$data"
    if [ ! -d "$data/src" ]; then
        mkdir -p "$data/src.partial"
        tar -xzf "$rootfs" -C "$data/src.partial" --numeric-owner
        mv "$data/src.partial" "$data/src"
    fi
    # SOURCE_DATE_EPOCH 1: every time clamps to it, as -T1 sets them for mkfs.erofs.
    printf 'name = "bench-erofs"\nsource_date_epoch = 1\n[[partition]]\ntype = "root-x86-64"\nsize = "auto"\nfilesystem = "erofs"\n' > "$data/erofs.toml"
    cp "$data/erofs.toml" "$data/lz4.toml"
    printf '[partition.erofs]\ncompression = "lz4"\n' >> "$data/lz4.toml"
    printf '[[partition.contents]]\ndir = "src"\n' | tee -a "$data/erofs.toml" >> "$data/lz4.toml"
    ingot="$tgt/release/ingot"
    i_t=$(cd "$data" && median3 "$ingot" build erofs.toml -o erofs.img --json)
    n_t=$(cd "$data" && median3 "$ingot" build erofs.toml -o erofs.img --json --no-digest)
    peer='rm -f peer.img && mkfs.erofs --quiet -T1 --all-root peer.img src'
    m_t=$(cd "$data" && median3 bash -c "$peer")
    i_rss=$( (cd "$data" && /usr/bin/time -f %M "$ingot" build erofs.toml -o erofs.img --json >/dev/null) 2>&1 | tail -1)
    m_rss=$( (cd "$data" && /usr/bin/time -f %M bash -c "$peer") 2>&1 | tail -1)
    i_size=$("$ingot" inspect "$data/erofs.img" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['partitions'][0]['filesystem_info']['size'])")
    m_size=$(stat -c %s "$data/peer.img")
    echo
    echo "The Debian rootfs ($(du -sm "$data/src" | cut -f1) MiB, $(find "$data/src" | wc -l) entries) as EROFS, uncompressed:"
    printf "  %-30s %8s %12s %14s\n" "" "wall s" "peak RSS KiB" "fs bytes"
    printf "  %-30s %8.3f %12s %14s\n" "ingot build" "$i_t" "$i_rss" "$i_size"
    printf "  %-30s %8.3f\n" "ingot build --no-digest" "$n_t"
    printf "  %-30s %8.3f %12s %14s\n" "mkfs.erofs -T1 --all-root" "$m_t" "$m_rss" "$m_size"
    echo "  ratios: wall $(ratio "$n_t" "$m_t") without the digest, $(ratio "$i_t" "$m_t") with it (aim <= 1.0), size $(ratio "$i_size" "$m_size") (aim <= 1.0), RSS $(ratio "$i_rss" "$m_rss") (aim <= 1.5)"
    echo "  (ingot writes a GPT disk around the filesystem and by default digests it; the peer writes the filesystem only)"
    z_t=$(cd "$data" && median3 "$ingot" build lz4.toml -o lz4.img --json --no-digest)
    zpeer='rm -f zpeer.img && mkfs.erofs --quiet -zlz4hc -T1 --all-root zpeer.img src'
    zm_t=$(cd "$data" && median3 bash -c "$zpeer")
    z_rss=$( (cd "$data" && /usr/bin/time -f %M "$ingot" build lz4.toml -o lz4.img --json --no-digest >/dev/null) 2>&1 | tail -1)
    zm_rss=$( (cd "$data" && /usr/bin/time -f %M bash -c "$zpeer") 2>&1 | tail -1)
    z_size=$("$ingot" inspect "$data/lz4.img" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['partitions'][0]['filesystem_info']['size'])")
    zm_size=$(stat -c %s "$data/zpeer.img")
    echo "The same, LZ4 (LZ4HC level 9, 4 KiB clusters):"
    printf "  %-30s %8.3f %12s %14s\n" "ingot build --no-digest" "$z_t" "$z_rss" "$z_size"
    printf "  %-30s %8.3f %12s %14s\n" "mkfs.erofs -zlz4hc -T1" "$zm_t" "$zm_rss" "$zm_size"
    echo "  ratios: wall $(ratio "$z_t" "$zm_t") (aim <= 1.0), size $(ratio "$z_size" "$zm_size") (aim <= 1.0), RSS $(ratio "$z_rss" "$zm_rss") (aim <= 1.5)"
    rm -f "$data"/*.img "$data"/*.img.json
fi

if [[ "$which" == all || "$which" == measure ]]; then
    cargo build --release --locked -q
    payload="$(readlink -f "$(scripts/make-test-payload.sh amd64)")"
    data="$PWD/target/bench-data/measure"
    mkdir -p "$data"
    [ -f "$data/keys/db.key" ] || "$tgt/release/ingot" keys "$data/keys" --common-name Bench --json >/dev/null
    boot_recipe uki "$payload" signed > "$data/uki.toml"
    boot_recipe uki "$payload" > "$data/unsigned.toml"
    ingot="$tgt/release/ingot"
    b=$(cd "$data" && median 5 "$ingot" build uki.toml -o uki.img --json)
    # What the build adds: the measurements OUT.json holds (both banks, PCR11), read from the ESP.
    m_all=$(cd "$data" && median 5 "$ingot" measure uki.img --json)
    m=$(cd "$data" && median 5 "$ingot" measure uki.img --format nitrotpm)
    (cd "$data" && "$ingot" build unsigned.toml -o unsigned.img --json >/dev/null)
    m_u=$(cd "$data" && median 5 "$ingot" measure unsigned.img --format nitrotpm)
    for img in uki unsigned; do
        esp=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['partitions'][0]['offset'])" "$data/$img.img.json")
        MTOOLS_SKIP_CHECK=1 mcopy -o -i "$data/$img.img@@$esp" ::/EFI/BOOT/BOOTX64.EFI "$data/$img.efi"
    done
    k="$data/keys"
    a=$(median 5 target/nitro-tpm-pcr-compute --image "$data/uki.efi" --PK "$k/PK.esl" --KEK "$k/KEK.esl" --db "$k/db.esl")
    a_u=$(median 5 target/nitro-tpm-pcr-compute --image "$data/unsigned.efi")
    floor=$(median 5 openssl dgst -sha384 "$data/uki.efi")
    echo
    echo "TPM measurements of a UKI ($(du -k "$data/uki.efi" | cut -f1) KiB), median of 5:"
    printf "  %-58s %8.3f\n" "ingot build, signed (measurements included)" "$b"
    printf "  %-58s %8.3f\n" "ingot measure IMAGE --json (both banks, PCR11: the build's)" "$m_all"
    printf "  %-58s %8.3f\n" "ingot measure IMAGE --format nitrotpm, signed" "$m"
    printf "  %-58s %8.3f\n" "nitro-tpm-pcr-compute --image UKI, signed" "$a"
    printf "  %-58s %8.3f\n" "ingot measure IMAGE --format nitrotpm, unsigned" "$m_u"
    printf "  %-58s %8.3f\n" "nitro-tpm-pcr-compute --image UKI, unsigned" "$a_u"
    printf "  %-58s %8.3f\n" "openssl dgst -sha384 UKI (one pass: the floor, signed)" "$floor"
    echo "  ratios: ingot measure / AWS's tool: signed $(ratio "$m" "$a"), unsigned $(ratio "$m_u" "$a_u") (aim <= 0.5);" \
        "one SHA-384 pass / AWS's tool $(ratio "$floor" "$a");" \
        "build / build without its measurement <= $(ratio "$b" "$(python3 -c "print($b - $m_all)")") (aim <= 1.05)"
    rm -f "$data"/*.img "$data"/*.img.json
fi

if [[ "$which" == all || "$which" == secure-boot ]]; then
    cargo build --release --locked -q
    payload="$(readlink -f "$(scripts/make-test-payload.sh amd64)")"
    data="$PWD/target/bench-data/secure-boot"
    mkdir -p "$data"
    [ -f "$data/keys/db.key" ] || "$tgt/release/ingot" keys "$data/keys" --common-name Bench --json >/dev/null
    echo
    echo "The boot tests' recipe (1 GiB; Debian cloud kernel $(du -k "$payload/boot/vmlinuz" | cut -f1) KiB, initramfs):"
    printf "  %-13s %10s %10s %8s %14s\n" "" "unsigned s" "signed s" "added s" "sbsign same s"
    for loader in uki systemd-boot; do
        boot_recipe "$loader" "$payload" > "$data/$loader.toml"
        boot_recipe "$loader" "$payload" signed > "$data/$loader-signed.toml"
        # Builds of well under a second vary by 0.1 s from run to run here: 11 runs each.
        u=$(median 11 "$tgt/release/ingot" build "$data/$loader.toml" -o "$data/u.img" --json)
        s=$(median 11 "$tgt/release/ingot" build "$data/$loader-signed.toml" -o "$data/s.img" --json)
        # sbsign signing what ingot signs, taken unsigned from the unsigned image's ESP.
        esp=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['partitions'][0]['offset'])" "$data/u.img.json")
        files=(/EFI/BOOT/BOOTX64.EFI)
        [ "$loader" = uki ] || files+=(/ingot/linux)
        printf 'set -e\n' > "$data/sbsign.sh"
        for f in "${files[@]}"; do
            name=$(basename "$f")
            MTOOLS_SKIP_CHECK=1 mcopy -o -i "$data/u.img@@$esp" "::$f" "$data/$name"
            echo "sbsign --key '$data/keys/db.key' --cert '$data/keys/db.crt' --output '$data/$name.signed' '$data/$name' 2>/dev/null" >> "$data/sbsign.sh"
        done
        p=$(median 11 bash "$data/sbsign.sh")
        printf "  %-13s %10.3f %10.3f %8.3f %14.3f\n" "$loader" "$u" "$s" "$(python3 -c "print($s - $u)")" "$p"
    done
    echo "  (the build with [secure_boot] also reads the keys and writes the UEFI variable store)"
    rm -f "$data"/*.img "$data"/*.img.json
fi
