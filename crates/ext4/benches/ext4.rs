//! The ext4 writer against `mke2fs -t ext4 -d` on the same tree: 20,000 files of 1–8 KiB
//! in nested directories plus 3 × 100 MiB files, into a 4 GiB filesystem. Both write a
//! sparse file from scratch with fixed UUIDs, hash seed and time. Run through
//! scripts/bench.sh, which prints the ratios.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SIZE: u64 = 4 << 30;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data/ext4")
}

fn make_tree(root: &Path) {
    if root.join("done").exists() {
        return;
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..20_000u64 {
        let dir = root.join(format!("tree/d{:02}/s{:02}", i % 40, (i / 40) % 25));
        std::fs::create_dir_all(&dir).unwrap();
        let len = 1024 + (next() % 7168) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        std::fs::write(dir.join(format!("f{i:05}")), data).unwrap();
    }
    for i in 0..3 {
        let data: Vec<u8> = (0..100 << 20).map(|_| next() as u8).collect();
        std::fs::write(root.join(format!("tree/big{i}.bin")), data).unwrap();
    }
    std::fs::write(root.join("done"), "").unwrap();
}

fn ingot(root: &Path) {
    let mut tree = ingot_tree::Tree::new(1_577_836_800);
    tree.add_dir(&root.join("tree"), "/", false, false).unwrap();
    let mut image = ingot_disk::Image::create(&root.join("ingot.img"), SIZE).unwrap();
    let opts = ingot_ext4::Options::new(uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2), 1_577_836_800);
    ingot_ext4::write(&tree, &mut image, 0, SIZE, &opts).unwrap();
}

fn mke2fs(root: &Path) {
    let _ = std::fs::remove_file(root.join("peer.img"));
    let o = Command::new("mke2fs")
        .current_dir(root)
        .env("E2FSPROGS_FAKE_TIME", "1577836800")
        .args(["-q", "-F", "-t", "ext4", "-d", "tree", "-U", "2d7a0c4e-5b3f-4e1a-9c2d-0123456789ab"])
        .args(["-E", "hash_seed=6f1b2c3d-4e5f-4a6b-8c7d-0123456789ab", "peer.img", "4G"])
        .output()
        .expect("mke2fs is needed: scripts/install-test-deps.sh installs e2fsprogs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn bench(c: &mut Criterion) {
    let root = data_dir();
    make_tree(&root);
    let mut g = c.benchmark_group("ext4_20000_files");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("ingot", |b| b.iter(|| ingot(&root)));
    g.bench_function("mke2fs", |b| b.iter(|| mke2fs(&root)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
