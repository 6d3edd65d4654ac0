#!/usr/bin/env bash
# Benchmarks ingot side by side with the peer tools in one run and prints ratios.
#   scripts/bench.sh        every benchmark
#   scripts/bench.sh fat    the ESP build: ingot build vs truncate+sgdisk+mkfs.vfat+mcopy+dd
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
    printf "  %-8s %10.3f   (peer, then sha256sum of the image: the digest ingot reports)\n" "peer+sum" "$peer_sum_t"
    echo "  ratios ingot/peer: wall $(ratio "$ingot_t" "$peer_t"), RSS $(ratio "$ingot_rss" "$peer_rss"), disk $(ratio "$ingot_du" "$peer_du")"
    echo "  ratio ingot/(peer+sha256sum): wall $(ratio "$ingot_t" "$peer_sum_t")"
    echo "  (ingot's time includes SHA-256 digests of the whole 1 GiB image and of each partition)"
fi
