#!/usr/bin/env bash
# Benchmarks ingot side by side with the peer tools in one run and prints ratios.
#   scripts/bench.sh        every benchmark
#   scripts/bench.sh fat    the ESP build: ingot build vs truncate+sgdisk+mkfs.vfat+mcopy+dd
#   scripts/bench.sh ext4   the ext4 writer vs mke2fs -t ext4 -d, and a 64 GiB sparse disk
# Wall time comes from criterion (target/criterion); peak RSS from GNU time; disk use from du.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
which="${1:-all}"

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
mean_s() {
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate']/1e9)" \
        "target/criterion/$1/new/estimates.json"
}

if [[ "$which" == all || "$which" == fat ]]; then
    cargo bench --bench build --locked -- esp_2000_files
    data=target/bench-data/fat
    ingot_t=$(mean_s esp_2000_files/ingot)
    ingot_nd_t=$(mean_s esp_2000_files/ingot_no_digest)
    peer_t=$(mean_s esp_2000_files/peer)
    peer_sum_t=$(mean_s esp_2000_files/peer_sha256sum)
    ingot_rss=$( (cd "$data" && /usr/bin/time -f %M ../../release/ingot build recipe.toml -o ingot.img --json >/dev/null) 2>&1 | tail -1)
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
    printf "  %-8s %10.3f   (peer, then sha256sum of the image: the digest ingot reports)\n" "peer+sum" "$peer_sum_t"
    echo "  ratios ingot/peer: wall $(ratio "$ingot_t" "$peer_t"), RSS $(ratio "$ingot_rss" "$peer_rss"), disk $(ratio "$ingot_du" "$peer_du")"
    echo "  ratio ingot/(peer+sha256sum): wall $(ratio "$ingot_t" "$peer_sum_t"); ingot --no-digest/peer: wall $(ratio "$ingot_nd_t" "$peer_t")"
    echo "  (ingot's time includes SHA-256 digests of the whole 1 GiB image and of each partition)"
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
    ingot_rss=$( (cd "$data" && /usr/bin/time -f %M ../../release/ingot build recipe.toml -o build.img --json >/dev/null) 2>&1 | tail -1)
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
    echo
    for flags in "--no-digest" ""; do
        start=$(date +%s.%N)
        (cd "$data" && ../../release/ingot build big.toml -o big.img --json $flags >/dev/null)
        end=$(date +%s.%N)
        echo "64 GiB disk, 60 GiB ext4 holding 1000 MiB, ingot build ${flags:-(with digests)}: $(python3 -c "print(f'{$end-$start:.1f}')") s wall, $(du -k "$data/big.img" | cut -f1) KiB on disk"
    done
    echo "  (with digests the time is the SHA-256 of all 64 GiB and of each partition)"
    rm -f "$data/big.img" "$data/build.img"
fi
