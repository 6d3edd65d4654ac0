//! Bounded fuzzing on stable Rust: each parser ingot runs on untrusted bytes (partition
//! tables, FAT volumes, the ext4 superblock, PE/COFF and Authenticode, bundle manifests,
//! tar archives) is fed the seeds in `tests/fuzz-corpus/TARGET/` and a fixed number of
//! deterministic mutations of each (bit flips, edge values, 32-bit fields set to edge
//! numbers, truncation, copied runs). It must return, an error or a value, without
//! panicking and within [`TARGET_TIMEOUT`]. A failing input is saved under
//! `target/fuzz-failures/` and named in the failure, so it can join the corpus once fixed.
//!
//! The seeds are made by ingot and committed (tests/fuzz-corpus/README.md says how); the
//! mutations come from a fixed xorshift seed, so every run feeds the same inputs.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Mutated inputs per seed: enough to walk every field of these small seeds many times
/// over, few enough that the module costs seconds of the suite.
const ROUNDS: usize = 4000;
/// How long one target may run before it counts as a hang.
const TARGET_TIMEOUT: Duration = Duration::from_secs(180);

/// xorshift64: a fixed, dependency-free stream of mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of `seed` inside `window` (clamped to the seed).
fn mutate(seed: &[u8], window: &std::ops::Range<usize>, rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let (lo, hi) = (window.start.min(b.len()), window.end.min(b.len()));
        if hi <= lo {
            break;
        }
        let at = lo + rng.below(hi - lo);
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][rng.below(6)],
            2 => {
                let at = at & !3;
                let edge = [0u32, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 128, 4096, b.len() as u32];
                let v = edge[rng.below(edge.len())].to_le_bytes();
                let n = v.len().min(b.len() - at);
                b[at..at + n].copy_from_slice(&v[..n]);
            }
            3 if rng.below(8) == 0 => b.truncate(at),
            4 => {
                let from = lo + rng.below(hi - lo);
                let n = rng.below(64).min(b.len() - from).min(b.len() - at);
                let run = b[from..from + n].to_vec();
                b[at..at + n].copy_from_slice(&run);
            }
            _ => b[at] = rng.next() as u8,
        }
    }
    b
}

/// Feeds `target`'s seeds and [`ROUNDS`] mutations of each (inside `window`) to `call`,
/// which gets the input and a scratch directory. Fails on a panic or a hang, naming the
/// saved input.
fn fuzz(target: &'static str, window: std::ops::Range<usize>, call: fn(&[u8], &Path)) {
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "no seeds in tests/fuzz-corpus/{target}");
    let current: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (done, finished) = mpsc::channel();
    let shared = Arc::clone(&current);
    std::thread::spawn(move || {
        let scratch = tempfile::tempdir().unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for seed in &seeds {
            for round in 0..=ROUNDS {
                let input = if round == 0 { seed.clone() } else { mutate(seed, &window, &mut rng) };
                *shared.lock().unwrap_or_else(|e| e.into_inner()) = input.clone();
                let outcome = std::panic::catch_unwind(|| call(&input, scratch.path()));
                if outcome.is_err() {
                    let _ = done.send(Err(save(target, &input)));
                    return;
                }
            }
        }
        let _ = done.send(Ok(seeds.len() * (ROUNDS + 1)));
    });
    match finished.recv_timeout(TARGET_TIMEOUT) {
        Ok(Ok(inputs)) => eprintln!("fuzz target {target}: {inputs} inputs, no panic"),
        Ok(Err(saved)) => panic!("fuzz target {target} panicked on the input saved as {}", saved.display()),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("fuzz target {target}: the harness itself failed"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let input = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
            panic!(
                "fuzz target {target} did not finish in {TARGET_TIMEOUT:?}: input saved as {}",
                save(target, &input).display()
            )
        }
    }
}

/// The seed files of `target`, in name order.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = repo().join("tests/fuzz-corpus").join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Saves a failing input under target/fuzz-failures/; returns where.
fn save(target: &str, input: &[u8]) -> PathBuf {
    let dir = repo().join("target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{}", &sha256(input)[..16]));
    std::fs::write(&path, input).unwrap();
    path
}

/// Writes `input` to a file in `scratch`; returns it.
fn as_file(input: &[u8], scratch: &Path) -> PathBuf {
    let path = scratch.join("input");
    std::fs::write(&path, input).unwrap();
    path
}

/// GPT and MBR tables, as `ingot inspect` reads them (the whole inspection: table,
/// filesystem sniffing, placement warnings).
#[test]
fn fuzz_partition_tables() {
    fuzz("table", 0..40 << 10, |input, scratch| {
        let path = as_file(input, scratch);
        let file = std::fs::File::open(&path).unwrap();
        let _ = ingot_disk::read_table(&file, input.len() as u64);
        let _ = ingot::inspect(&path);
    });
}

/// FAT volumes: the boot sector, the FATs, the root directory and the first clusters of
/// a FAT12 ESP, through `ingot inspect` (which walks the volume for EFI binaries).
#[test]
fn fuzz_fat_volumes() {
    // The ESP starts at LBA 34 of the seed image.
    fuzz("fat", 17408..17408 + (24 << 10), |input, scratch| {
        let _ = ingot::inspect(&as_file(input, scratch));
    });
}

/// The ext4 superblock, as inspect reads its figures.
#[test]
fn fuzz_ext4_superblocks() {
    fuzz("ext4", 0..1024, |input, _| {
        let _ = ingot_ext4::summary(input);
    });
}

/// PE/COFF headers and Authenticode signatures, as inspect and the signer read them.
#[test]
fn fuzz_pe_and_authenticode() {
    fuzz("pe", 0..64 << 10, |input, _| {
        let _ = ingot_boot::architecture(input);
        let _ = ingot_boot::pe::Layout::read(input);
        let _ = ingot_boot::authenticode::signers(input);
        let _ = ingot_boot::authenticode::image_hash(input);
        let _ = ingot_boot::pe::without_signature(input.to_vec());
    });
}

/// Bundle manifests (2007-10-10), as unbundle and deregister read them.
#[test]
fn fuzz_bundle_manifests() {
    fuzz("manifest", 0..8 << 10, |input, _| {
        let _ = ingot_bundle::Manifest::parse(&String::from_utf8_lossy(input));
    });
}

/// Tar headers (ustar, GNU, PAX with xattrs, links, devices, long names), as a `tar`
/// source reads them into a tree.
#[test]
fn fuzz_tar_headers() {
    fuzz("tar", 0..10 << 10, |input, scratch| {
        let path = as_file(input, scratch);
        let _ = ingot_tree::Tree::new(1_700_000_000).add_tar(&path, "/", scratch);
    });
}
