//! dm-verity hash devices (`ingot_boot::verity`) judged by cryptsetup's `veritysetup`
//! (Debian's cryptsetup-bin): it verifies what ingot writes, reads its superblock, and
//! writes the same bytes and root hash from the same data and salt.

use crate::util::run;
use ingot_boot::verity;
use std::path::Path;
use std::process::Command;

const UUID: &str = "12345678-1234-5678-9abc-def012345678";

/// `blocks` data blocks, every seventh all zeros (the digest computed once), the others
/// filled with a byte of their own.
fn data(blocks: u64) -> Vec<u8> {
    (0..blocks).flat_map(|i| [if i % 7 == 0 { 0 } else { (i % 251) as u8 + 1 }; verity::BLOCK_SIZE]).collect()
}

fn veritysetup(args: &[&str], files: &[&Path]) -> (bool, String) {
    let o = run(Command::new("veritysetup").args(args).args(files));
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
}

#[test]
fn veritysetup_verifies_reads_and_rewrites_the_hash_device_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let salt = [0x5a_u8; 32];
    let salt_hex = hex::encode(salt);
    // One block (no level), one level, two levels, three levels.
    for blocks in [1_u64, 2, 129, 16_385] {
        let (data_path, hash_path) = (dir.path().join("data"), dir.path().join("hash"));
        let bytes = data(blocks);
        std::fs::write(&data_path, &bytes).unwrap();
        let tree = verity::hash_tree(&mut &bytes[..], blocks, &salt, UUID.parse().unwrap()).unwrap();
        std::fs::write(&hash_path, &tree.area).unwrap();
        let root = hex::encode(tree.root);

        let (ok, out) = veritysetup(&["verify"], &[&data_path, &hash_path, Path::new(&root)]);
        assert!(ok, "{blocks} blocks: veritysetup verify refuses ingot's tree: {out}");
        let (ok, dump) = veritysetup(&["dump"], &[&hash_path]);
        assert!(ok, "{dump}");
        for want in [UUID, "sha256", &salt_hex, "4096", &format!("Data blocks:     \t{blocks}")] {
            assert!(dump.contains(want), "{blocks} blocks: dump lacks {want:?}: {dump}");
        }

        let theirs = dir.path().join("theirs");
        let salt_arg = format!("--salt={salt_hex}");
        let (ok, out) = veritysetup(&["format", &salt_arg, &format!("--uuid={UUID}")], &[&data_path, &theirs]);
        assert!(ok, "{out}");
        assert!(out.contains(&root), "{blocks} blocks: veritysetup's root hash differs from {root}: {out}");
        assert!(std::fs::read(&theirs).unwrap() == tree.area, "{blocks} blocks: the hash devices differ");

        let mut changed = bytes.clone();
        changed[bytes.len() - 1] ^= 1;
        std::fs::write(&data_path, &changed).unwrap();
        let (ok, _) = veritysetup(&["verify"], &[&data_path, &hash_path, Path::new(&root)]);
        assert!(!ok, "{blocks} blocks: a changed data byte passes verify");
        std::fs::remove_file(&theirs).unwrap();
    }
}
