//! ext4 partitions end to end: every kind of entry from a tarball, checked with
//! `e2fsck -fn` (nothing beyond its pass lines), walked with the ext4-view crate and
//! compared entry by entry, xattrs listed by debugfs, and built twice to one SHA-256.

use crate::util::*;
use ext4_view::{Ext4, Ext4Read};
use std::collections::BTreeMap;
use std::path::Path;

/// The filesystem inside a partition of an image file.
struct Part {
    file: std::fs::File,
    offset: u64,
}

impl Ext4Read for Part {
    fn read(&mut self, start: u64, dst: &mut [u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(dst, self.offset + start).map_err(|e| Box::new(e) as _)
    }
}

/// What an entry should look like.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Want {
    File(Vec<u8>),
    Dir,
    Link(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) want: Want,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: (i64, u32),
}

pub(crate) fn tarball(path: &Path) -> BTreeMap<String, Entry> {
    let mut want = BTreeMap::new();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add =
        |name: &str, kind: tar::EntryType, e: Entry, data: &[u8], link: Option<&str>, pax: &[(&str, &[u8])]| {
            if !pax.is_empty() {
                b.append_pax_extensions(pax.iter().map(|(k, v)| (*k, *v))).unwrap();
            }
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(e.mode);
            h.set_uid(u64::from(e.uid));
            h.set_gid(u64::from(e.gid));
            h.set_mtime(e.mtime.0 as u64);
            h.set_size(data.len() as u64);
            if let Want::Char(ma, mi) | Want::Block(ma, mi) = e.want {
                h.set_device_major(ma).unwrap();
                h.set_device_minor(mi).unwrap();
            }
            if let Some(l) = link {
                b.append_link(&mut h, name, l).unwrap();
            } else {
                b.append_data(&mut h, name, data).unwrap();
            }
            want.insert(format!("/{}", name.trim_end_matches('/')), e);
        };
    let t = (1_600_000_000, 0);
    let e = |want: Want, mode: u32| Entry { want, mode, uid: 0, gid: 0, mtime: t };
    add("empty", tar::EntryType::Regular, e(Want::File(vec![]), 0o644), b"", None, &[]);
    add("small.txt", tar::EntryType::Regular, e(Want::File(b"hello\n".to_vec()), 0o600), b"hello\n", None, &[]);
    let big = bytes(1, 5 << 20);
    add(
        "big.bin",
        tar::EntryType::Regular,
        Entry { uid: 4_000_000_000, gid: 3_000_000_000, ..e(Want::File(big.clone()), 0o640) },
        &big,
        None,
        &[],
    );
    add(
        "hardlink",
        tar::EntryType::Link,
        Entry { uid: 4_000_000_000, gid: 3_000_000_000, ..e(Want::File(big.clone()), 0o640) },
        b"",
        Some("big.bin"),
        &[],
    );
    add("suid", tar::EntryType::Regular, e(Want::File(b"#!".to_vec()), 0o4755), b"#!", None, &[]);
    add("dev/", tar::EntryType::Directory, e(Want::Dir, 0o755), b"", None, &[]);
    add("dev/null", tar::EntryType::Char, e(Want::Char(1, 3), 0o666), b"", None, &[]);
    add("dev/big", tar::EntryType::Block, e(Want::Block(259, 70_000), 0o660), b"", None, &[]);
    add("dev/fifo", tar::EntryType::Fifo, e(Want::Fifo, 0o600), b"", None, &[]);
    add("fast", tar::EntryType::Symlink, e(Want::Link(b"small.txt".to_vec()), 0o777), b"", Some("small.txt"), &[]);
    let long_target = format!("{}/target", "t".repeat(200));
    add(
        "slow",
        tar::EntryType::Symlink,
        e(Want::Link(long_target.clone().into_bytes()), 0o777),
        b"",
        Some(&long_target),
        &[],
    );
    let cap: &[u8] = &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let selinux = vec![b's'; 300];
    add(
        "xattr-inode",
        tar::EntryType::Regular,
        e(Want::File(b"x".to_vec()), 0o755),
        b"x",
        None,
        &[("SCHILY.xattr.security.capability", cap), ("SCHILY.xattr.user.note", b"in the inode")],
    );
    add(
        "xattr-block",
        tar::EntryType::Regular,
        e(Want::File(b"y".to_vec()), 0o644),
        b"y",
        None,
        &[("SCHILY.xattr.security.selinux", &selinux), ("SCHILY.xattr.trusted.t", b"v")],
    );
    let acl: &[u8] = b"user::rw-,user:1000:r--,group::r--,mask::r--,other::---";
    let dflt: &[u8] = b"u::rwx,g::r-x,o::r-x";
    let acls = [("SCHILY.acl.access", acl), ("SCHILY.acl.default", dflt)];
    add("acl", tar::EntryType::Directory, e(Want::Dir, 0o750), b"", None, &acls);
    add(
        "nanos",
        tar::EntryType::Regular,
        Entry { mtime: (1_650_000_000, 123_456_789), ..e(Want::File(vec![]), 0o644) },
        b"",
        None,
        &[("mtime", b"1650000000.123456789")],
    );
    add("1", tar::EntryType::Regular, e(Want::File(b"one".to_vec()), 0o644), b"one", None, &[]);
    let text: Vec<u8> =
        (0..20_000).flat_map(|i| format!("line {i} of a text that compresses\n").into_bytes()).collect();
    add("text", tar::EntryType::Regular, e(Want::File(text.clone()), 0o644), &text, None, &[]);
    // Sizes around a block: one byte, a block less one, a block, a block and one.
    for len in [1, 4095, 4096, 4097, 8191, 8193] {
        let data = bytes(len as u64, len);
        add(&format!("size-{len}"), tar::EntryType::Regular, e(Want::File(data.clone()), 0o644), &data, None, &[]);
    }
    let name255 = "n".repeat(255);
    add(&name255, tar::EntryType::Regular, e(Want::File(b"255".to_vec()), 0o644), b"255", None, &[]);
    let mut deep = String::new();
    for i in 0..30 {
        deep += &format!("level{i:02}/");
        add(&deep, tar::EntryType::Directory, e(Want::Dir, 0o755), b"", None, &[]);
    }
    add(&format!("{deep}bottom"), tar::EntryType::Regular, e(Want::File(b"deep".to_vec()), 0o644), b"deep", None, &[]);
    add("many/", tar::EntryType::Directory, e(Want::Dir, 0o755), b"", None, &[]);
    for i in 0..12_000 {
        let data = format!("{i}");
        add(
            &format!("many/entry-number-{i:06}"),
            tar::EntryType::Regular,
            e(Want::File(data.clone().into_bytes()), 0o644),
            data.as_bytes(),
            None,
            &[],
        );
    }
    b.finish().unwrap();
    want
}

/// What the walk found: kind and content, mode, uid, gid, mtime.
type Found = (Want, u32, u32, u32, (i64, u32));

fn walk(fs: &Ext4, dir: &str, out: &mut BTreeMap<String, Found>) {
    for entry in fs.read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = String::from_utf8_lossy(name.as_ref()).into_owned();
        if name == "." || name == ".." || (dir == "/" && name == "lost+found") {
            continue;
        }
        let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
        let m = fs.symlink_metadata(path.as_str()).unwrap();
        let ft = m.file_type();
        let want = if ft.is_dir() {
            Want::Dir
        } else if ft.is_symlink() {
            Want::Link(fs.read_link(path.as_str()).unwrap().as_ref().to_vec())
        } else if ft.is_regular_file() {
            Want::File(fs.read(path.as_str()).unwrap())
        } else if ft.is_fifo() {
            Want::Fifo
        } else {
            Want::Char(0, 0) // a device: ext4-view has no numbers; debugfs checks them
        };
        let t = m.modified();
        out.insert(
            path.clone(),
            (want.clone(), u32::from(m.mode()) & 0o7777, m.uid(), m.gid(), (t.seconds(), t.nanoseconds())),
        );
        if want == Want::Dir {
            walk(fs, &path, out);
        }
    }
}

const RECIPE: &str = r#"name = "rootfs"
size = "auto"
source_date_epoch = 1700000000
[[partition]]
label = "root"
type = "root-x86-64"
size = "auto"
filesystem = "ext4"
[partition.ext4]
label = "rootfs"
[[partition.contents]]
tar = "root.tar"
[[partition.contents]]
tar = "sparse.tar"
"#;

#[test]
fn every_kind_of_entry_survives_and_the_filesystem_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let want = tarball(&tmp.path().join("root.tar"));
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(tmp.path().join("holey")).unwrap();
        f.write_all_at(b"start", 0).unwrap();
        f.write_all_at(b"end", (40 << 20) - 3).unwrap();
        let o = run(std::process::Command::new("tar").current_dir(tmp.path()).args([
            "-cSf",
            "sparse.tar",
            "--owner=0",
            "--group=0",
            "--mtime=@1600000000",
            "holey",
        ]));
        assert!(o.status.success());
    }
    let r = recipe(tmp.path(), RECIPE);
    let out = tmp.path().join("root.raw");
    let report = build(&r, &out);
    sgdisk_verify(&out);
    let p = &report["partitions"][0];
    let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    assert_eq!(p["filesystem"], "ext4");
    e2fsck_clean(&out, off, len);

    let fs = Ext4::load(Box::new(Part { file: std::fs::File::open(&out).unwrap(), offset: off })).unwrap();
    assert_eq!(fs.uuid().to_string(), p["filesystem_uuid"].as_str().unwrap());
    let mut got = BTreeMap::new();
    walk(&fs, "/", &mut got);
    for (path, e) in &want {
        let g = got.get(path).unwrap_or_else(|| panic!("{path} is missing"));
        match &e.want {
            Want::Char(..) | Want::Block(..) => assert_eq!(g.0, Want::Char(0, 0), "{path} is a device"),
            w => assert!(&g.0 == w, "{path}: content or type differs"),
        }
        assert_eq!((g.1, g.2, g.3), (e.mode, e.uid, e.gid), "{path}: mode, uid, gid");
        assert_eq!(g.4, e.mtime, "{path}: mtime");
    }
    let holey = &got["/holey"].0;
    assert!(
        matches!(holey, Want::File(d) if d.len() == 40 << 20 && &d[..5] == b"start" && &d[d.len() - 3..] == b"end")
    );
    assert_eq!(got.len(), want.len() + 1, "no extra entries");

    let stat = debugfs(&out, off, len, "stat /holey");
    assert!(
        stat.contains("Blockcount: 16\n") || stat.contains("Blockcount: 16 "),
        "sparse file keeps its holes: {stat}"
    );
    let dev = debugfs(&out, off, len, "stat /dev/big");
    assert!(dev.contains("Device major/minor number: 259:70000"), "{dev}");
    let links = debugfs(&out, off, len, "stat /big.bin");
    assert!(links.contains("Links: 2"), "a hard link counts twice: {links}");
    let ea = debugfs(&out, off, len, "ea_list /xattr-inode");
    assert!(ea.contains("user.note (12) = \"in the inode\"") && ea.contains("security.capability (20)"), "{ea}");
    let ea = debugfs(&out, off, len, "ea_list /xattr-block");
    assert!(ea.contains("security.selinux (300)") && ea.contains("trusted.t (1) = \"v\""), "{ea}");
    let acl = debugfs(&out, off, len, "ea_list /acl");
    assert!(acl.contains("system.posix_acl_access") && acl.contains("system.posix_acl_default"), "{acl}");
    assert!(acl.contains("user:1000:r--") || acl.contains("(28)"), "the ACL keeps its named user: {acl}");
    let many = debugfs(&out, off, len, "htree_dump /many");
    assert!(
        many.contains("Indirect levels: 0") || many.contains("Indirect levels: 1"),
        "/many is hash-indexed: {}",
        &many[..many.len().min(500)]
    );

    // the same recipe and inputs again: one digest
    let again = build(&r, &tmp.path().join("again.raw"));
    assert_eq!(again["digest"], report["digest"]);
    assert_eq!(again["digest"], image_digest(&tmp.path().join("again.raw"), None));
}

#[test]
fn feature_toggles_and_free_space() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("t/wide")).unwrap();
    for i in 0..400 {
        std::fs::write(tmp.path().join(format!("t/wide/a-file-with-a-long-name-{i:04}")), format!("{i}")).unwrap();
    }
    let _socket = std::os::unix::net::UnixListener::bind(tmp.path().join("t/control.sock")).unwrap();
    let r = recipe(
        tmp.path(),
        r#"name = "toggles"
[[partition]]
type = "linux"
size = "auto"
filesystem = "ext4"
[partition.ext4]
features = ["^dir_index", "^has_journal", "metadata_csum_seed"]
free_space = "64 MiB"
[[partition.contents]]
dir = "t"
"#,
    );
    let out = tmp.path().join("t.raw");
    let report = build(&r, &out);
    let p = &report["partitions"][0];
    let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    e2fsck_clean(&out, off, len);
    let stats = debugfs(&out, off, len, "stats");
    let features = stats.lines().find(|l| l.starts_with("Filesystem features:")).unwrap_or_default().to_owned();
    assert!(features.contains("metadata_csum_seed") && features.contains("metadata_csum"), "{features}");
    assert!(!features.contains("dir_index") && !features.contains("has_journal"), "{features}");
    let free: u64 = stats.lines().find_map(|l| l.strip_prefix("Free blocks:")).unwrap().trim().parse().unwrap();
    let bs: u64 = stats.lines().find_map(|l| l.strip_prefix("Block size:")).unwrap().trim().parse().unwrap();
    assert!(free * bs >= 64 << 20, "free_space keeps 64 MiB free: {} bytes", free * bs);
    let wide = debugfs(&out, off, len, "stat /wide");
    assert!(
        wide.contains("Flags: 0x80000\n") || wide.contains("Flags: 0x80000 "),
        "without dir_index no directory is indexed: {wide}"
    );
    let sock = debugfs(&out, off, len, "stat /control.sock");
    assert!(sock.contains("Type: socket"), "{sock}");
    let ls = debugfs(&out, off, len, "ls /wide");
    assert!(ls.contains("a-file-with-a-long-name-0399"));
}

/// A 100,000-entry directory (a two-level hash tree at 1 KiB blocks) and a 2.5 GiB file
/// (extents split at 32,768 blocks, an extent tree below the inode, 64-bit sizes),
/// looked up and read back.
#[test]
fn a_huge_directory_and_a_multi_gib_file() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("src/big.bin");
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let chunk = bytes(42, 1 << 20);
        for i in 0u32..2560 {
            f.write_all(&i.to_le_bytes()).unwrap();
            f.write_all(&chunk[4..]).unwrap();
        }
    }
    let tarball = tmp.path().join("wide.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&tarball).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        b.append_data(&mut h, "wide/", &[][..]).unwrap();
        for i in 0..100_000 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_size(0);
            b.append_data(&mut h, format!("wide/entry-{i:06}"), &[][..]).unwrap();
        }
        b.finish().unwrap();
    }
    let r = recipe(
        tmp.path(),
        r#"name = "huge"
[[partition]]
type = "linux"
size = "3 GiB"
filesystem = "ext4"
[partition.ext4]
block_size = 1024
[[partition.contents]]
dir = "src"
[[partition.contents]]
tar = "wide.tar"
"#,
    );
    let out = tmp.path().join("huge.raw");
    let report = build(&r, &out);
    let p = &report["partitions"][0];
    let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    e2fsck_clean(&out, off, len);
    let dump = debugfs(&out, off, len, "htree_dump /wide");
    assert!(dump.contains("Indirect levels: 1"), "100,000 entries take two levels: {}", &dump[..dump.len().min(600)]);
    let stat = debugfs(&out, off, len, "stat /big.bin");
    assert!(
        stat.contains("Size: 2684354560") && stat.contains("(ETB0)"),
        "an extent tree: {}",
        &stat[..stat.len().min(900)]
    );
    let stat = debugfs(&out, off, len, "stat /wide/entry-099999");
    assert!(stat.contains("Type: regular"), "lookup through the hash tree: {stat}");
    let fs = Ext4::load(Box::new(Part { file: std::fs::File::open(&out).unwrap(), offset: off })).unwrap();
    assert_eq!(fs.read_dir("/wide").unwrap().count(), 100_002);
    let data = fs.read("/big.bin").unwrap();
    assert_eq!(data.len() as u64, 2560 << 20);
    assert_eq!(sha256(&data), sha256_file(&big));
}
