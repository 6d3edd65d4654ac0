//! `ingot build` against the peer pipeline (truncate + sgdisk + mkfs.vfat + mcopy -s + dd)
//! on the same tree: a 1 GiB disk with a 256 MiB ESP holding 2,000 files of 1–64 KiB.
//! `peer_sha256sum` adds `sha256sum` of the image, the digest ingot's report carries.
//! Run through scripts/bench.sh, which prints the ratios.

// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/fat")
}

/// 2,000 files of 1–64 KiB of incompressible bytes in 20 × 5 nested directories.
fn make_tree(root: &Path) {
    if root.join("done").exists() {
        return;
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for d in 0..20 {
        for s in 0..5 {
            let dir = root.join(format!("src/dir{d:02}/sub{s}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..20 {
                let len = 1024 + (next() % (63 * 1024)) as usize;
                let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                std::fs::write(dir.join(format!("file{f:02}.bin")), data).unwrap();
            }
        }
    }
    std::fs::write(
        root.join("recipe.toml"),
        "name = \"bench\"\nsize = \"1 GiB\"\n[[partition]]\nlabel = \"ESP\"\ntype = \"esp\"\nsize = \"256 MiB\"\nfilesystem = \"vfat\"\n[[partition.contents]]\ndir = \"src\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("peer.sh"),
        "set -e\nrm -f peer.img esp.img\ntruncate -s 1G peer.img\nsgdisk -q -n 1:2048:+256M -t 1:ef00 -c 1:ESP peer.img\n\
         truncate -s 256M esp.img\nmkfs.vfat -F 32 -n ESP esp.img >/dev/null\nMTOOLS_SKIP_CHECK=1 mcopy -s -i esp.img src/* ::/\n\
         dd if=esp.img of=peer.img bs=1M seek=1 conv=notrunc,sparse status=none\nrm esp.img\n",
    )
    .unwrap();
    std::fs::write(root.join("done"), "").unwrap();
}

fn run(cmd: &mut Command) {
    let o = cmd.output().expect("benchmark tools missing: run scripts/install-test-deps.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn esp(c: &mut Criterion) {
    let root = data_dir();
    make_tree(&root);
    let mut g = c.benchmark_group("esp_2000_files");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("ingot", |b| {
        b.iter(|| {
            run(Command::new(env!("CARGO_BIN_EXE_ingot")).current_dir(&root).args([
                "build",
                "recipe.toml",
                "-o",
                "ingot.img",
                "--json",
            ]))
        })
    });
    g.bench_function("ingot_no_digest", |b| {
        b.iter(|| {
            run(Command::new(env!("CARGO_BIN_EXE_ingot")).current_dir(&root).args([
                "build",
                "recipe.toml",
                "-o",
                "ingot.img",
                "--json",
                "--no-digest",
            ]))
        })
    });
    g.bench_function("peer", |b| b.iter(|| run(Command::new("bash").arg("peer.sh").current_dir(&root))));
    // The peer followed by the whole-file SHA-256 of the image: what `ingot build --sha256` adds.
    g.bench_function("peer_sha256sum", |b| {
        b.iter(|| {
            run(Command::new("bash").arg("-c").arg("bash peer.sh && sha256sum peer.img >/dev/null").current_dir(&root))
        })
    });
    g.finish();
}

criterion_group!(benches, esp);
criterion_main!(benches);
