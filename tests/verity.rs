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

/// A hash device made by `veritysetup format` (not by ingot) in a `root-x86-64-verity`
/// partition: `ingot inspect` names the type and reads its superblock as `veritysetup
/// dump` does, and `veritysetup verify` accepts the pair read back out of the image.
#[test]
fn inspect_reads_a_verity_hash_partition_as_veritysetup_dump_does() {
    let dir = tempfile::tempdir().unwrap();
    let (data_path, hash_path) = (dir.path().join("data"), dir.path().join("hash"));
    std::fs::write(&data_path, data(300)).unwrap();
    let salt = "0123456789abcdef".repeat(4);
    let (ok, out) =
        veritysetup(&["format", &format!("--salt={salt}"), &format!("--uuid={UUID}")], &[&data_path, &hash_path]);
    assert!(ok, "{out}");
    let root = out.lines().find_map(|l| l.strip_prefix("Root hash:")).unwrap().trim().to_string();
    let recipe = dir.path().join("v.toml");
    std::fs::write(
        &recipe,
        "name = \"v\"\nsource_date_epoch = 1\n\
         [[partition]]\nlabel = \"root\"\ntype = \"root-x86-64\"\nsize = \"2 MiB\"\n\
         [[partition.contents]]\nimage = \"data\"\n\
         [[partition]]\nlabel = \"root-verity\"\ntype = \"root-x86-64-verity\"\nsize = \"1 MiB\"\n\
         [[partition.contents]]\nimage = \"hash\"\n",
    )
    .unwrap();
    let image = dir.path().join("v.raw");
    let report = crate::util::build(&recipe, &image);
    crate::util::sgdisk_verify(&image);

    let o = run(crate::util::ingot().arg("inspect").arg(&image).arg("--json"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hash_part = &inspected["partitions"][1];
    assert_eq!(hash_part["type_name"], "root-x86-64-verity");
    let v = &hash_part["verity"];
    assert_eq!(
        (v["uuid"].as_str(), v["algorithm"].as_str(), v["salt"].as_str()),
        (Some(UUID), Some("sha256"), Some(&*salt))
    );
    assert_eq!(
        (v["data_blocks"].as_u64(), v["data_block_size"].as_u64(), v["hash_type"].as_u64()),
        (Some(300), Some(4096), Some(1))
    );
    assert!(inspected["partitions"][0]["verity"].is_null(), "the data partition has no superblock");
    let text = run(crate::util::ingot().arg("inspect").arg(&image));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("dm-verity hash device  sha256  4096/4096-byte blocks  300 data blocks"), "{text}");

    // The pair, read back out of the image, is still one veritysetup accepts.
    let parts = report["partitions"].as_array().unwrap();
    let (back_data, back_hash) = (dir.path().join("back-data"), dir.path().join("back-hash"));
    for (p, to) in parts.iter().zip([&back_data, &back_hash]) {
        let (offset, size) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        crate::util::extract(&image, offset, size, to);
    }
    let (ok, out) = veritysetup(&["verify"], &[&back_data, &back_hash, Path::new(&root)]);
    assert!(ok, "{out}");
}
