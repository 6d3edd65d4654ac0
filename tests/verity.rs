//! dm-verity hash devices (`ingot_verity`) judged by cryptsetup's `veritysetup`
//! (Debian's cryptsetup-bin): it verifies what ingot writes, reads its superblock, and
//! writes the same bytes and root hash from the same data and salt.

use crate::util::run;
use ingot_verity as verity;
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
    // ingot's own check agrees on a tree it did not write.
    let o = run(crate::util::ingot().arg("inspect").arg(&image).arg("--verify").arg("--json"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let checked: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(checked["verify"][0]["root_hash"].as_str(), Some(&*root));
    assert_eq!(checked["verify"][0]["partuuids_match"], false, "veritysetup does not name partitions");
}

/// A recipe with a verity root of `files` (name, content) and its hash partition.
fn verity_recipe(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    for (name, content) in files {
        std::fs::write(root.join(name), content).unwrap();
    }
    crate::util::recipe(
        dir,
        "name = \"v\"\nsource_date_epoch = 1700000000\n\
         [[partition]]\nlabel = \"root\"\ntype = \"root-x86-64\"\nsize = \"auto\"\nfilesystem = \"ext4\"\nverity = true\n\
         [[partition.contents]]\ndir = \"root\"\n\
         [[partition]]\nlabel = \"root-verity\"\ntype = \"root-x86-64-verity\"\nsize = \"auto\"\nverity_of = \"root\"\n",
    )
}

/// The pair ingot writes in a build: `veritysetup verify` accepts it on the image itself
/// (`--hash-offset`), `dump` shows the seed's salt, `format` of the same data with that
/// salt writes the same hash area byte for byte; the PARTUUIDs are the root hash's
/// halves; the root is ext4 without a journal or reserved blocks; one changed byte fails
/// both veritysetup and `ingot inspect --verify`; two builds agree and one changed file
/// changes the root hash and both PARTUUIDs.
#[test]
fn a_built_verity_pair_is_what_veritysetup_writes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = verity_recipe(dir.path(), &[("etc/hello", "hello\n"), ("etc/big", &"x".repeat(100_000))]);
    let image = dir.path().join("v.raw");
    let report = crate::util::build_checked(&recipe, &image);
    let v = &report["verity"][0];
    let (root, salt) = (v["root_hash"].as_str().unwrap().to_string(), v["salt"].as_str().unwrap().to_string());
    let num = |k: &str| v[k].as_u64().unwrap();
    let data_part = &report["partitions"][0];
    let (data_offset, data_size) = (data_part["offset"].as_u64().unwrap(), data_part["size"].as_u64().unwrap());
    assert_eq!((num("data_partition"), num("hash_partition"), num("data_offset")), (1, 2, data_offset));
    assert_eq!(num("data_blocks") * 4096, data_size, "the tree covers the whole data partition");
    assert_eq!((v["algorithm"].as_str(), salt.len()), (Some("sha256"), 64));
    assert_eq!(data_part["guid"].as_str().unwrap().replace('-', ""), root[..32]);
    assert_eq!(report["partitions"][1]["guid"].as_str().unwrap().replace('-', ""), root[32..]);

    let data_path = dir.path().join("data");
    crate::util::extract(&image, data_offset, data_size, &data_path);
    let hash_offset = format!("--hash-offset={}", num("hash_offset"));
    let (ok, out) = veritysetup(&["verify", &hash_offset], &[&data_path, &image, Path::new(&root)]);
    assert!(ok, "veritysetup verify refuses the built pair: {out}");
    let (ok, dump) = veritysetup(&["dump", &hash_offset], &[&image]);
    assert!(ok, "{dump}");
    for line in [format!("Salt:{}", salt), "Data block size:4096".into(), "Hash algorithm:sha256".into()] {
        assert!(dump.replace([' ', '\t'], "").contains(&line.replace(' ', "")), "{line} not in {dump}");
    }
    let uuid = dump.lines().find_map(|l| l.strip_prefix("UUID:")).unwrap().trim().to_string();
    let theirs = dir.path().join("theirs");
    let (ok, out) =
        veritysetup(&["format", &format!("--salt={salt}"), &format!("--uuid={uuid}")], &[&data_path, &theirs]);
    assert!(ok && out.contains(&root), "veritysetup format gives another root hash than {root}: {out}");
    let ours = std::fs::read(&image).unwrap();
    let theirs = std::fs::read(&theirs).unwrap();
    let at = num("hash_offset") as usize;
    assert!(ours[at..at + theirs.len()] == theirs[..], "the hash area differs from veritysetup format's");
    assert_eq!(num("hash_blocks") as usize * 4096, theirs.len());

    let fs = crate::util::debugfs(&image, data_offset, data_size, "stats");
    assert!(!fs.contains("has_journal"), "a verity root has no journal: {fs}");
    assert!(fs.contains("Reserved block count:     0"), "no reserved blocks: {fs}");

    let verify = |image: &Path| run(crate::util::ingot().arg("inspect").arg(image).arg("--verify"));
    let o = verify(&image);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains(&format!("ok, root hash {root}")), "{text}");
    assert!(!text.contains("not its halves"), "{text}");

    // One byte of a file changed after the build: both judges refuse it.
    let changed = dir.path().join("changed.raw");
    std::fs::copy(&image, &changed).unwrap();
    let hello = crate::util::debugfs(&image, data_offset, data_size, "blocks /etc/hello");
    let block: u64 = hello.trim().parse().unwrap();
    assert!(fs.contains("Block size:               4096"), "4 KiB blocks under dm-verity: {fs}");
    let byte = data_offset + block * 4096;
    let f = std::fs::OpenOptions::new().write(true).open(&changed).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"J", byte).unwrap();
    crate::util::extract(&changed, data_offset, data_size, &data_path);
    let (ok, out) = veritysetup(&["verify", &hash_offset], &[&data_path, &changed, Path::new(&root)]);
    assert!(!ok, "veritysetup verify accepts a changed root: {out}");
    let o = verify(&changed);
    let bad_block = (byte - data_offset) / 4096;
    assert!(!o.status.success(), "inspect --verify accepts a changed root");
    let said = String::from_utf8_lossy(&o.stdout) + String::from_utf8_lossy(&o.stderr);
    assert!(said.contains(&format!("BAD: data block {bad_block} ")), "{said}");

    // Same inputs: same bytes and root hash. One file changed: another hash and PARTUUIDs.
    let again = crate::util::build(&recipe, &dir.path().join("again.raw"));
    assert_eq!((&again["digest"], &again["verity"][0]["root_hash"]), (&report["digest"], &v["root_hash"]));
    std::fs::write(dir.path().join("root/etc/hello"), "hallo\n").unwrap();
    let other = crate::util::build(&recipe, &dir.path().join("other.raw"));
    assert_ne!(other["verity"][0]["root_hash"], v["root_hash"]);
    for i in 0..2 {
        assert_ne!(other["partitions"][i]["guid"], report["partitions"][i]["guid"], "partition {}", i + 1);
    }

    let o = run(crate::util::ingot().arg("check").arg(&recipe));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("dm-verity data, hash tree in partition 2"), "{text}");
    assert!(text.contains("dm-verity hash tree of partition 1"), "{text}");
    assert!(text.contains("PARTUUID (from the root hash)"), "{text}");
}

/// Bad verity recipes: each refused at its key, with file:line:col, and nothing built.
#[test]
fn bad_verity_recipes_are_refused_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    std::fs::write(dir.path().join("root/f"), "f").unwrap();
    let data = |fs: &str, extra: &str| {
        format!(
            "[[partition]]\nlabel = \"root\"\ntype = \"root-x86-64\"\nsize = \"auto\"\nfilesystem = \"{fs}\"\nverity = true\n{extra}"
        )
    };
    let contents = "[[partition.contents]]\ndir = \"root\"\n";
    let hash = |of: &str, kind: &str, size: &str| {
        format!("[[partition]]\nlabel = \"hash\"\ntype = \"{kind}\"\nsize = \"{size}\"\nverity_of = {of}\n")
    };
    let h = hash("\"root\"", "root-x86-64-verity", "auto");
    let cases: Vec<(String, &str, &str)> = vec![
        (data("vfat", contents) + &h, "verity = true", "filesystem = \"ext4\" or \"erofs\"; this partition's is \"vfat\""),
        (data("none", "") + &h, "verity = true", "this partition's is \"none\""),
        (data("ext4", "") + &h, "verity = true", "partition[0].contents: a verity partition is read-only forever"),
        (data("ext4", contents) + &hash("\"rot\"", "root-x86-64-verity", "auto"), "\"rot\"", "no partition has the label \"rot\""),
        (data("ext4", contents) + &hash("7", "root-x86-64-verity", "auto"), "verity_of = 7", "there is no partition[7]"),
        (data("ext4", contents) + &hash("1", "root-x86-64-verity", "auto"), "verity_of = 1", "partition[1] does not say `verity = true`"),
        (data("ext4", contents) + &h + &hash("0", "root-x86-64-verity", "auto"), "verity_of = 0", "partition[0] already has its hash tree in partition[1]"),
        (data("ext4", contents) + &hash("0", "linux", "auto"), "verity_of = 0", "only a dm-verity hash partition names a data partition"),
        (data("ext4", contents) + &hash("0", "root-arm64-verity", "auto"), "\"root-arm64-verity\"", "type = \"root-x86-64-verity\""),
        (data("ext4", contents), "verity = true", "no partition holds its hash tree"),
        (data("ext4", contents) + &hash("0", "root-x86-64-verity", "4 KiB"), "\"4 KiB\"", "partition[1].size: the hash tree of partition[0]"),
        (format!("table = \"mbr\"\n{}", data("ext4", contents)), "verity = true", "use table = \"gpt\""),
        (
            data("ext4", &format!("[partition.ext4]\nblock_size = 1024\n{contents}")) + &h,
            "block_size = 1024",
            "under dm-verity the device reads in 4096-byte blocks",
        ),
        (
            format!("[boot]\nuefi = \"grub\"\nkernel = \"/vmlinuz\"\n[[partition]]\ntype = \"esp\"\nsize = \"8 MiB\"\nfilesystem = \"vfat\"\n{}{h}", data("ext4", contents)),
            "\"grub\"",
            "can't hold its own dm-verity root hash",
        ),
    ];
    for (body, at, says) in cases {
        let text = format!("name = \"bad\"\n{body}");
        let line = text.lines().position(|l| l.contains(at)).unwrap() + 1;
        let recipe = crate::util::recipe(dir.path(), &text);
        let e = crate::util::build_fails(&recipe, &dir.path().join("out.raw"));
        assert!(e.contains(says), "expected {says:?} in:\n{e}");
        let place = format!("recipe.toml:{line}:");
        let col = e.split(&place).nth(1).and_then(|rest| rest.split(':').next()).and_then(|c| c.parse::<u32>().ok());
        assert!(col.is_some(), "expected {place}COL (the line of {at:?}) in:\n{e}\nfor\n{text}");
    }
}

/// The boot tests' recipe `text` (crate::boot::RECIPE) with its root under dm-verity: the
/// root sized to its content with `verity = true`, a `root-x86-64-verity` partition for
/// its tree, and `/data/sums`, the SHA-256 of every file of the root (the payload at
/// `payload` and `dir/guest.tar`, which the guest's /init checks through dm-verity; the
/// guest's own big file first, which a changed root fails on).
pub(crate) fn verity_root(text: &str, dir: &Path, payload: &Path) -> String {
    verity_root_as(text, dir, payload, "ext4")
}

/// [`verity_root`] with the root written as `filesystem` ("ext4" or "erofs").
pub(crate) fn verity_root_as(text: &str, dir: &Path, payload: &Path, filesystem: &str) -> String {
    let mut sums = Vec::new();
    let mut by_path: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut guest = tar::Archive::new(std::fs::File::open(dir.join("guest.tar")).unwrap());
    for entry in guest.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let sum = match entry.header().entry_type() {
            tar::EntryType::Regular => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
                crate::util::sha256(&bytes)
            }
            tar::EntryType::Link => {
                by_path[&entry.link_name().unwrap().unwrap().to_string_lossy().into_owned()].clone()
            }
            _ => continue,
        };
        by_path.insert(path, sum);
    }
    let first = by_path.remove_entry("data/big.bin").unwrap();
    sums.push(first);
    sums.extend(by_path);
    sums.extend(crate::util::hash_tree(payload));
    sums.extend(crate::util::hash_tree(&dir.join("sparse")));
    let list: String = sums.iter().map(|(path, sum)| format!("{sum}  {path}\n")).collect();
    std::fs::create_dir_all(dir.join("sums/data")).unwrap();
    std::fs::write(dir.join("sums/data/sums"), list).unwrap();
    let root = "size = \"fill\"\nfilesystem = \"ext4\"\n";
    assert!(text.contains(root), "the root partition of {text}");
    text.replace(root, &format!("size = \"auto\"\nfilesystem = \"{filesystem}\"\nverity = true\n"))
        + "[[partition.contents]]\ndir = \"sums\"\n\
           [[partition]]\nlabel = \"root-verity\"\ntype = \"root-x86-64-verity\"\nsize = \"auto\"\nverity_of = \"root\"\n"
}

/// The guest's marker for the build `report`: `want` with the root hash the build
/// reported, when the root is under dm-verity.
pub(crate) fn marker_of(want: &str, report: &serde_json::Value) -> String {
    match report["verity"][0]["root_hash"].as_str() {
        Some(root) => want.replace("verity=none", &format!("verity={root}")),
        None => want.to_string(),
    }
}

/// A copy of the verity image `image` with one byte of the root's /data/big.bin changed
/// (in the partition, after the build) boots to the root's /init no further than its file
/// check: the kernel's dm-verity reports the block corrupted and the guest prints its
/// failure line, not the marker.
pub(crate) fn a_changed_root_is_refused(
    image: &Path,
    report: &serde_json::Value,
    firmware: crate::boot::Firmware,
    dir: &Path,
) {
    let root = &report["partitions"][1];
    assert!(report["verity"][0]["data_partition"] == 2, "the root is partition 2: {report}");
    let (offset, size) = (root["offset"].as_u64().unwrap(), root["size"].as_u64().unwrap());
    let blocks = crate::util::debugfs(image, offset, size, "blocks /data/big.bin");
    let first: u64 = blocks.split_whitespace().next().unwrap().parse().unwrap();
    let stats = crate::util::debugfs(image, offset, size, "stats");
    let fs_block: u64 = stats.lines().find_map(|l| l.strip_prefix("Block size:")).unwrap().trim().parse().unwrap();
    let changed = dir.join("changed-root.raw");
    std::fs::copy(image, &changed).unwrap();
    // Its report beside it: `ingot boot` starts the firmware with the build's store.
    std::fs::copy(format!("{}.json", image.display()), format!("{}.json", changed.display())).unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&changed).unwrap();
    let at = offset + first * fs_block + 100;
    let mut byte = [0u8];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut byte, at).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[byte[0] ^ 0x01], at).unwrap();
    let limit = std::time::Duration::from_secs(300);
    let (line, log) = crate::boot::boot_log(&changed, firmware, "nvme", dir, "INGOT-BOOT-FAIL", limit);
    assert!(line.contains("data/big.bin"), "the guest names the file it could not read: {line}");
    let kernel = log.iter().find(|l| l.contains("device-mapper: verity") && l.contains("is corrupted"));
    assert!(kernel.is_some(), "no dm-verity error from the kernel before {line:?}:\n{}", log.join("\n"));
    assert!(!log.iter().any(|l| l.contains("INGOT-BOOT-OK")), "the changed root reached the marker");
}

/// The root hash reaches the boot chain's command line, in the form systemd's veritysetup
/// generator reads: in a UKI's `.cmdline` and in systemd-boot's entry, with the build's
/// root hash and PARTUUIDs; `ingot check` shows the same line with placeholders.
#[test]
fn the_command_line_names_the_root_hash_and_its_partitions() {
    for loader in ["uki", "systemd-boot"] {
        let dir = tempfile::tempdir().unwrap();
        crate::boot::guest_files(dir.path());
        let payload = crate::util::payload("amd64", "boot/vmlinuz");
        let text = crate::boot::RECIPE.replace("uefi = \"systemd-boot\"", &format!("uefi = \"{loader}\""));
        let text = verity_root(&text, dir.path(), &payload).replace("PAYLOAD", &payload.display().to_string());
        let recipe = crate::util::recipe(dir.path(), &text);
        let image = dir.path().join("v.raw");
        let report = crate::util::build_checked(&recipe, &image);
        let (root, parts) = (report["verity"][0]["root_hash"].as_str().unwrap(), &report["partitions"]);
        let (data, hash) = (parts[1]["guid"].as_str().unwrap(), parts[2]["guid"].as_str().unwrap());
        let want = format!(
            "console=ttyS0 ro init=/init panic=-1 root=/dev/mapper/root rootfstype=ext4 roothash={root} systemd.verity_root_data=PARTUUID={data} systemd.verity_root_hash=PARTUUID={hash}"
        );
        let (path, copy) = match loader {
            "uki" => ("/EFI/BOOT/BOOTX64.EFI", dir.path().join("uki.efi")),
            _ => ("/loader/entries/ingot.conf", dir.path().join("ingot.conf")),
        };
        crate::util::from_esp(&image, &report, path, &copy);
        let bytes = std::fs::read(&copy).unwrap();
        let found = String::from_utf8_lossy(&bytes).contains(&want);
        assert!(found, "{loader}: {path} does not hold the command line {want}");
        let o = run(crate::util::ingot().arg("check").arg(&recipe));
        let placeholders =
            want.replace(root, "ROOT_HASH").replace(data, "ROOT_HASH[0..16]").replace(hash, "ROOT_HASH[16..32]");
        assert!(String::from_utf8_lossy(&o.stdout).contains(&placeholders), "{loader}: check shows {placeholders}");
    }
}
