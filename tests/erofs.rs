//! EROFS partitions end to end: every kind of entry from a tarball (the ext4 tests'
//! tree: 12,000 entries in one directory, names of 1 and 255 bytes, 30 levels deep, files of
//! 0, 1, 4095, 4096, 4097 bytes and up to 5 MiB, devices, a FIFO, symlinks, a hard link, owners past 16 bits,
//! nanosecond times, xattrs and ACLs), checked by erofs-utils (`fsck.erofs --extract`
//! decodes every inode and file), extracted by it and compared entry by entry, hard links
//! read with `dump.erofs`, under dm-verity (`veritysetup verify`), and built twice to one
//! SHA-256. The extended attributes are read back by the kernel in the boot test
//! (erofs-utils 1.5 extracts none).

use crate::ext4::{tarball, Want};
use crate::util::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

const RECIPE: &str = r#"name = "erofs"
size = "auto"
source_date_epoch = 1700000000
[[partition]]
label = "root"
type = "root-x86-64"
size = "auto"
filesystem = "erofs"
verity = true
[[partition.contents]]
tar = "tree.tar"
[[partition]]
label = "root-verity"
type = "root-x86-64-verity"
size = "auto"
verity_of = "root"
"#;

/// `dump.erofs --path=PATH` of `image`: the inode's `NID`, `Links` and permission bits
/// (`Access`).
fn dumped(image: &Path, path: &str) -> (u64, u32, u32) {
    let o = run(Command::new("dump.erofs").arg(format!("--path={path}")).arg(image));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "dump.erofs --path={path}: {out}{}", String::from_utf8_lossy(&o.stderr));
    let field = |name: &str| {
        let at = out.find(name).unwrap_or_else(|| panic!("no {name} in {out}")) + name.len();
        out[at..].split(|c: char| c.is_whitespace() || c == '/').find(|w| !w.is_empty()).unwrap().to_owned()
    };
    let access = u32::from_str_radix(&field("Access:"), 8).unwrap();
    (field("NID:").parse().unwrap(), field("Links:").parse().unwrap(), access)
}

#[test]
fn every_kind_of_entry_survives_and_fsck_erofs_extracts_the_same_tree() {
    every_kind_of_entry(RECIPE);
}

/// The same with `compression = "lz4"`: fsck.erofs decodes every extent as the kernel
/// does (leading zeros skipped, LZ4 to exactly the extent's length), and the tree it
/// extracts is the same.
#[test]
fn an_lz4_compressed_tree_extracts_the_same() {
    let lz4 = RECIPE.replace("verity = true\n", "verity = true\n[partition.erofs]\ncompression = \"lz4\"\n");
    assert!(lz4.contains("compression"));
    every_kind_of_entry(&lz4);
}

fn every_kind_of_entry(text: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let want = tarball(&tmp.path().join("tree.tar"));
    let out = tmp.path().join("erofs.raw");
    let report = build_checked(&recipe(tmp.path(), text), &out);
    let root = &report["partitions"][0];
    assert_eq!(root["filesystem"], "erofs");
    let (offset, size) = (root["offset"].as_u64().unwrap(), root["size"].as_u64().unwrap());
    let part = tmp.path().join("root.img");
    extract(&out, offset, size, &part);
    let dir = tmp.path().join("x");
    let o = run(Command::new("fsck.erofs").arg(format!("--extract={}", dir.display())).arg("--preserve").arg(&part));
    assert!(o.status.success(), "fsck.erofs --extract: {}", String::from_utf8_lossy(&o.stderr));
    for (path, e) in &want {
        let at = dir.join(path.trim_start_matches('/'));
        let m = std::fs::symlink_metadata(&at).unwrap_or_else(|err| panic!("{path}: {err}"));
        let kind = match &e.want {
            Want::File(data) => m.is_file() && std::fs::read(&at).unwrap() == *data,
            Want::Dir => m.is_dir(),
            Want::Link(target) => {
                m.file_type().is_symlink() && std::fs::read_link(&at).unwrap().as_os_str().as_encoded_bytes() == target
            }
            Want::Char(ma, mi) => m.file_type().is_char_device() && m.rdev() == libc::makedev(*ma, *mi),
            Want::Block(ma, mi) => m.file_type().is_block_device() && m.rdev() == libc::makedev(*ma, *mi),
            Want::Fifo => m.file_type().is_fifo(),
        };
        assert!(kind, "{path}: not the {:?} it should be: {m:?}", e.want);
        // erofs-utils 1.5 drops the set-id bits (fsck.erofs --preserve extracts 0755 of
        // an 04755 file, and dump.erofs prints 0755, for mkfs.erofs's own image too): the
        // permission bits are compared here, the set-id ones by the kernel in the boot
        // test.
        if !matches!(e.want, Want::Link(_)) {
            assert_eq!(m.mode() & 0o777, e.mode & 0o777, "{path}: mode");
            if !path.starts_with("/many/") {
                assert_eq!(dumped(&part, path).2, e.mode & 0o777, "{path}: mode (dump.erofs)");
            }
        }
        assert_eq!((m.uid(), m.gid()), (e.uid, e.gid), "{path}: owner");
        assert_eq!(m.mtime(), e.mtime.0, "{path}: mtime");
    }
    let (big, links, _) = dumped(&part, "/big.bin");
    assert_eq!(dumped(&part, "/hardlink").0, big, "one inode for both names");
    assert_eq!(links, 2);
    // dm-verity over it: cryptsetup's veritysetup reads the tree ingot wrote.
    let v = &report["verity"][0];
    let hash = &report["partitions"][1];
    let hash_img = tmp.path().join("hash.img");
    extract(&out, hash["offset"].as_u64().unwrap(), hash["size"].as_u64().unwrap(), &hash_img);
    let o =
        run(Command::new("veritysetup").arg("verify").arg(&part).arg(&hash_img).arg(v["root_hash"].as_str().unwrap()));
    assert!(o.status.success(), "veritysetup verify: {}", String::from_utf8_lossy(&o.stderr));
    // Exactly its size, rounded to the alignment.
    let inspect = run(ingot().arg("inspect").arg(&out).arg("--json"));
    let inspected: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let fs = &inspected["partitions"][0]["filesystem_info"];
    assert_eq!(inspected["partitions"][0]["filesystem"], "erofs", "{inspected}");
    assert_eq!(fs["label"], "root");
    // dump.erofs reads the superblock as inspect does.
    let o = run(Command::new("dump.erofs").arg("-s").arg(&part));
    let sb = String::from_utf8_lossy(&o.stdout);
    let blocks = sb.lines().find_map(|l| l.strip_prefix("Filesystem blocks:")).map(str::trim);
    assert_eq!(blocks.and_then(|b| b.parse::<u64>().ok()), fs["units"].as_u64(), "dump.erofs -s: {sb}");
    assert_eq!(fs["compression"], if text.contains("lz4") { "lz4" } else { "none" });
    assert_eq!(fs["uuid"], root["filesystem_uuid"]);
    assert!(size - fs["size"].as_u64().unwrap() < 1 << 20, "size = \"auto\" is the filesystem's size, aligned: {fs}");
    let again = tmp.path().join("again.raw");
    build(&recipe(tmp.path(), text), &again);
    assert_eq!(sha256_file(&again), sha256_file(&out), "two builds, one image");
}

/// What EROFS cannot hold, and options that are not EROFS's, are refused at their key,
/// and nothing is left behind.
#[test]
fn erofs_refuses_what_it_cannot_hold_naming_the_key_or_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = RECIPE.split("[[partition]]\nlabel = \"root-verity\"").next().unwrap().replace("verity = true\n", "");
    let cases = [
        (
            plain.replace(
                "filesystem = \"erofs\"\n",
                "filesystem = \"erofs\"\n[partition.erofs]\ncompression = \"lzma\"\n",
            ),
            "partition[0].erofs.compression: \"lzma\": Debian 12's kernels read EROFS compressed with LZ4 only",
        ),
        (
            plain.replace("filesystem = \"erofs\"\n", "filesystem = \"erofs\"\n[partition.ext4]\njournal = false\n"),
            "partition[0].ext4: an EROFS partition takes no [partition.ext4] options",
        ),
        (
            plain.replace(
                "filesystem = \"erofs\"\n",
                "filesystem = \"erofs\"\n[partition.erofs]\nlabel = \"a-label-of-17-byte\"\n",
            ),
            "longer than EROFS's 16 bytes",
        ),
    ];
    for (text, want) in cases {
        let err = build_fails(&recipe(tmp.path(), &text), &tmp.path().join("out.raw"));
        assert!(err.contains(want) && err.contains("recipe.toml:"), "{want}: {err}");
    }
    // An xattr no EROFS name index covers, named with its entry.
    let mut b = tar::Builder::new(std::fs::File::create(tmp.path().join("tree.tar")).unwrap());
    append_file(&mut b, "odd", b"x", 0, &[("SCHILY.xattr.system.other", b"v")]);
    b.finish().unwrap();
    let err = build_fails(&recipe(tmp.path(), &plain), &tmp.path().join("out.raw"));
    assert!(err.contains("/odd: xattr \"system.other\": EROFS stores user.*, trusted.*, security.*"), "{err}");
    // A name over 255 bytes, named with its path.
    let mut b = tar::Builder::new(std::fs::File::create(tmp.path().join("tree.tar")).unwrap());
    let long = format!("dir/{}", "n".repeat(256));
    append_file(&mut b, &long, b"x", 0, &[]);
    b.finish().unwrap();
    let err = build_fails(&recipe(tmp.path(), &plain), &tmp.path().join("out.raw"));
    assert!(err.contains(&format!("/{long}: its name is 256 bytes, over EROFS's 255")), "{err}");
    // An xattr value over the format's 16-bit `e_value_size`.
    let mut b = tar::Builder::new(std::fs::File::create(tmp.path().join("tree.tar")).unwrap());
    append_file(&mut b, "big-xattr", b"x", 0, &[("SCHILY.xattr.user.big", &[b'v'; 70_000])]);
    b.finish().unwrap();
    let err = build_fails(&recipe(tmp.path(), &plain), &tmp.path().join("out.raw"));
    assert!(err.contains("/big-xattr: xattr \"user.big\": its value of 70000 bytes is over EROFS's 65,535"), "{err}");
}

/// `dump.erofs -e --path=PATH` of `image`: the file's extents, (logical offset, length,
/// physical offset).
fn extents(image: &Path, path: &str) -> Vec<(u64, u64, u64)> {
    let o = run(Command::new("dump.erofs").arg("-e").arg(format!("--path={path}")).arg(image));
    assert!(o.status.success(), "dump.erofs -e: {}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let number = |s: &str| s.trim().parse::<u64>().unwrap();
    out.lines()
        .filter_map(|l| {
            // "   3: 50331648..67108864 | 16777216 :   139264..  16916480 | 16777216"
            let (_, rest) = l.split_once(':')?;
            let (logical, rest) = rest.split_once('|')?;
            let (len, physical) = rest.split_once(':')?;
            let (from, _) = logical.split_once("..")?;
            let (at, _) = physical.split_once("..")?;
            Some((number(from), number(len), number(at)))
        })
        .collect()
}

/// Sparse files become chunk-based: a 64 MiB file with data in three places extracts
/// equal to its source; a file of 4 GiB and a byte takes the blocks of its data chunks
/// only, and dump.erofs maps each of its chunks to its data or to zeros (fsck.erofs
/// would write it whole to extract it).
#[test]
fn sparse_files_take_only_their_data_chunks() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let small: [(u64, &[u8]); 3] = [(0, b"head"), (30 << 20, &[7u8; 10_000]), ((64 << 20) - 3, b"end")];
    let big: [(u64, &[u8]); 3] = [(0, &[1u8; 4096]), (2 << 30, b"middle"), (4 << 30, b"e")];
    let mut parts = Vec::new();
    for (name, len, pieces) in [("small", 64 << 20, &small), ("big", (4 << 30) + 1, &big)] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::File::create(dir.join("file")).unwrap();
        f.set_len(len).unwrap();
        pieces.iter().for_each(|(at, data)| f.write_all_at(data, *at).unwrap());
        let text = format!("name = \"sparse\"\nsize = \"auto\"\nsource_date_epoch = 1700000000\n[[partition]]\ntype = \"linux\"\nsize = \"auto\"\nfilesystem = \"erofs\"\n[[partition.contents]]\ndir = \"{name}\"\n");
        let out = tmp.path().join(format!("{name}.raw"));
        let report = build_checked(&recipe(tmp.path(), &text), &out);
        let p = &report["partitions"][0];
        let (offset, size) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        assert!(size <= 2 << 20, "{name}: holes cost no space: the partition is {size} bytes");
        let part = tmp.path().join(format!("{name}.img"));
        extract(&out, offset, size, &part);
        parts.push(part);
    }
    let dir = tmp.path().join("x");
    let o = run(Command::new("fsck.erofs").arg(format!("--extract={}", dir.display())).arg(&parts[0]));
    assert!(o.status.success(), "fsck.erofs --extract: {}", String::from_utf8_lossy(&o.stderr));
    let mut want = vec![0u8; 64 << 20];
    small.iter().for_each(|(at, data)| want[*at as usize..*at as usize + data.len()].copy_from_slice(data));
    assert!(std::fs::read(dir.join("file")).unwrap() == want, "the 64 MiB sparse file extracts equal to its source");
    let image = std::fs::File::open(&parts[1]).unwrap();
    let map = extents(&parts[1], "/file");
    assert_eq!(
        map.iter().map(|e| e.1).sum::<u64>(),
        (4 << 30) + 4096,
        "every chunk is mapped, the last one's block whole"
    );
    for (from, len, at) in map {
        let mut bytes = vec![0u8; len.min((4 << 30) + 1 - from) as usize];
        image.read_exact_at(&mut bytes, at).unwrap();
        let mut want = vec![0u8; bytes.len()];
        for (p, data) in big.iter().filter(|(p, _)| *p >= from && *p < from + len) {
            want[(p - from) as usize..(p - from) as usize + data.len()].copy_from_slice(data);
        }
        assert!(bytes == want, "the chunk at {from} maps to its data (or to zeros) at {at}");
    }
}
