//! The tree's sources: tarballs (with owners, devices, links, long names, PAX xattrs and
//! both sparse formats), host directories, layering, excludes and path confinement.

use ingot_tree::{Content, Kind, Meta, Tree};
use std::io::Read;
use std::path::Path;
use std::process::Command;

const SDE: i64 = 1_700_000_000;

fn read_all(c: &Content) -> Vec<u8> {
    let mut v = Vec::new();
    c.reader().unwrap().read_to_end(&mut v).unwrap();
    v
}

fn node<'a>(t: &'a Tree, p: &str) -> &'a ingot_tree::Node {
    t.node(t.lookup(p).unwrap_or_else(|| panic!("{p} missing")))
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(1_600_000_000);
    h.set_size(0);
    h
}

#[test]
fn tar_keeps_owners_modes_devices_links_and_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut h = header(tar::EntryType::Directory, 0o750, 1000, 1001);
        b.append_data(&mut h, "home/user/", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o4755, 0, 0);
        h.set_size(4);
        b.append_data(&mut h, "usr/bin/su", &b"su!\n"[..]).unwrap();
        let mut h = header(tar::EntryType::Link, 0o644, 0, 0);
        h.set_link_name("usr/bin/su").unwrap();
        b.append_data(&mut h, "usr/bin/su-again", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
        h.set_link_name("../bin/su").unwrap();
        b.append_data(&mut h, "usr/sbin/su", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Char, 0o620, 0, 5);
        h.set_device_major(4).unwrap();
        h.set_device_minor(300).unwrap();
        b.append_data(&mut h, "dev/tty300", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Block, 0o660, 0, 6);
        h.set_device_major(259).unwrap();
        h.set_device_minor(1).unwrap();
        b.append_data(&mut h, "dev/nvme0n1p1", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Fifo, 0o600, 0, 0);
        b.append_data(&mut h, "run/initctl", &[][..]).unwrap();
        let long = format!("usr/share/{}/{}.txt", "d".repeat(120), "n".repeat(150));
        let mut h = header(tar::EntryType::Regular, 0o644, 0, 0);
        h.set_size(2);
        b.append_data(&mut h, &long, &b"ok"[..]).unwrap();
        b.finish().unwrap();
    }
    let mut t = Tree::new(SDE);
    t.add_tar(&path, "/", dir.path()).unwrap();
    let home = node(&t, "/home/user");
    assert!(matches!(home.kind, Kind::Dir(_)));
    assert_eq!((home.meta.mode, home.meta.uid, home.meta.gid), (0o750, 1000, 1001));
    assert_eq!(node(&t, "/usr/bin/su").meta.mode, 0o4755);
    assert_eq!(t.lookup("/usr/bin/su"), t.lookup("/usr/bin/su-again"), "hard link names one node");
    let counts = t.link_counts();
    assert_eq!(counts[t.lookup("/usr/bin/su").unwrap()], 2);
    assert!(matches!(node(&t, "/usr/sbin/su").kind, Kind::Symlink(ref l) if l == b"../bin/su"));
    assert!(matches!(node(&t, "/dev/tty300").kind, Kind::CharDevice { major: 4, minor: 300 }));
    assert!(matches!(node(&t, "/dev/nvme0n1p1").kind, Kind::BlockDevice { major: 259, minor: 1 }));
    assert!(matches!(node(&t, "/run/initctl").kind, Kind::Fifo));
    let long = format!("/usr/share/{}/{}.txt", "d".repeat(120), "n".repeat(150));
    match &node(&t, &long).kind {
        Kind::File(c) => assert_eq!(read_all(c), b"ok"),
        k => panic!("{k:?}"),
    }
    assert_eq!(node(&t, "/usr/bin/su").meta.mtime.sec, 1_600_000_000, "times before SOURCE_DATE_EPOCH are kept");
}

#[test]
fn pax_xattrs_times_and_long_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let cap: &[u8] = &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let long = format!("opt/{}", "x".repeat(200));
        b.append_pax_extensions([
            ("SCHILY.xattr.security.capability", cap),
            ("SCHILY.xattr.user.comment", &b"hello"[..]),
            ("mtime", &b"1650000000.123456789"[..]),
            ("path", long.as_bytes()),
        ])
        .unwrap();
        let mut h = header(tar::EntryType::Regular, 0o755, 0, 0);
        h.set_size(3);
        b.append_data(&mut h, "placeholder", &b"abc"[..]).unwrap();
        b.append_pax_extensions([("mtime", &b"1800000000.5"[..])]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, 0, 0);
        b.append_data(&mut h, "future", &[][..]).unwrap();
        b.finish().unwrap();
    }
    let mut t = Tree::new(SDE);
    t.add_tar(&path, "/", dir.path()).unwrap();
    let n = node(&t, &format!("/opt/{}", "x".repeat(200)));
    assert_eq!(n.meta.xattrs["user.comment"], b"hello");
    assert_eq!(n.meta.xattrs["security.capability"].len(), 20);
    assert_eq!((n.meta.mtime.sec, n.meta.mtime.nsec), (1_650_000_000, 123_456_789));
    let f = node(&t, "/future");
    assert_eq!((f.meta.mtime.sec, f.meta.mtime.nsec), (SDE, 0), "later times are clamped to SOURCE_DATE_EPOCH");
}

fn sparse_file(path: &Path) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.write_all_at(b"start", 0).unwrap();
    f.write_all_at(b"middle", 5 << 20).unwrap();
    f.set_len(12 << 20).unwrap();
    let mut v = vec![0u8; 12 << 20];
    v[..5].copy_from_slice(b"start");
    v[5 << 20..(5 << 20) + 6].copy_from_slice(b"middle");
    v
}

#[test]
fn sparse_members_in_gnu_and_pax_format_keep_their_holes() {
    for (format, compress) in [("gnu", ""), ("posix", ""), ("gnu", "z"), ("posix", "z")] {
        let dir = tempfile::tempdir().unwrap();
        let expect = sparse_file(&dir.path().join("sparse.img"));
        let tarball = dir.path().join(format!("s.tar{compress}"));
        let o = Command::new("tar")
            .current_dir(dir.path())
            .args([&format!("-c{compress}Sf"), tarball.to_str().unwrap(), &format!("--format={format}"), "sparse.img"])
            .output()
            .expect("GNU tar is needed: scripts/install-test-deps.sh installs it");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut t = Tree::new(SDE);
        t.add_tar(&tarball, "/", dir.path()).unwrap();
        let Kind::File(c) = &node(&t, "/sparse.img").kind else { panic!() };
        assert_eq!(c.size(), 12 << 20, "{format}{compress}");
        let data = c.data().unwrap();
        let stored: u64 = data.extents.iter().map(|e| e.len).sum();
        assert!(stored <= 64 << 10, "{format}{compress}: holes were filled: {stored} bytes of data");
        assert!(read_all(c) == expect, "{format}{compress}: content differs");
    }
}

#[test]
fn absolute_names_stay_inside_the_root_and_later_entries_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, body) in [("/etc/motd", "first"), ("./etc/motd", "second")] {
            let mut h = header(tar::EntryType::Regular, 0o644, 0, 0);
            h.set_size(body.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, body.as_bytes()).unwrap();
        }
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
        h.set_link_name("/usr/lib").unwrap();
        b.append_data(&mut h, "lib", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, 0, 0);
        h.set_size(1);
        b.append_data(&mut h, "lib/libx.so", &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    let mut t = Tree::new(SDE);
    t.add_tar(&path, "/srv", dir.path()).unwrap();
    let Kind::File(c) = &node(&t, "/srv/etc/motd").kind else { panic!() };
    assert_eq!(read_all(c), b"second");
    assert!(t.lookup("/etc/motd").is_none(), "an absolute name lands under the destination, not the host root");
    assert!(t.lookup("/usr/lib/libx.so").is_some(), "a write through an absolute symlink resolves inside the image");
}

#[test]
fn directory_sources_normalise_owner_and_mode_and_keep_hard_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/tool"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("bin/tool"), std::fs::Permissions::from_mode(0o4700)).unwrap();
    std::fs::write(src.join("data"), "d").unwrap();
    std::fs::set_permissions(src.join("data"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::hard_link(src.join("data"), src.join("data-link")).unwrap();
    std::os::unix::fs::symlink("bin/tool", src.join("tool")).unwrap();

    let mut t = Tree::new(SDE);
    t.add_dir(&src, "/", false, false).unwrap();
    assert_eq!(node(&t, "/bin/tool").meta.mode, 0o4755, "group and other get the owner's r and x");
    assert_eq!(node(&t, "/data").meta.mode, 0o644);
    assert_eq!(node(&t, "/data").meta.uid, 0);
    assert_eq!(t.lookup("/data"), t.lookup("/data-link"));
    assert!(matches!(node(&t, "/tool").kind, Kind::Symlink(ref l) if l == b"bin/tool"));
    assert_eq!(node(&t, "/data").meta.mtime.sec, SDE, "fresh files are clamped");

    let mut exact = Tree::new(SDE);
    exact.add_dir(&src, "/", true, true).unwrap();
    assert_eq!(node(&exact, "/data").meta.mode, 0o600);
}

#[test]
fn excludes_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("usr/share/doc/pkg")).unwrap();
    std::fs::write(src.join("usr/share/doc/pkg/README"), "r").unwrap();
    std::fs::write(src.join("keep.txt"), "k").unwrap();
    std::fs::write(src.join("drop.pyc"), "p").unwrap();
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("a/b/c.pyc"), "p").unwrap();
    let mut t = Tree::new(SDE);
    t.add_dir(&src, "/", false, false).unwrap();
    let removed = t.exclude(&["usr/share/doc".into(), "**/*.pyc".into()]).unwrap();
    assert_eq!(removed, 3);
    assert!(t.lookup("/usr/share/doc").is_none());
    assert!(t.lookup("/usr/share").is_some());
    assert!(t.lookup("/a/b/c.pyc").is_none() && t.lookup("/drop.pyc").is_none());
    t.set_meta("/keep.txt", Some(0o600), Some(7), Some(8), &[("user.k".into(), b"v".to_vec())]).unwrap();
    let k = node(&t, "/keep.txt");
    assert_eq!((k.meta.mode, k.meta.uid, k.meta.gid), (0o600, 7, 8));
    assert_eq!(k.meta.xattrs["user.k"], b"v");
    assert!(t.set_meta("/missing", Some(0o600), None, None, &[]).is_err());
    t.add_directory("/new/dir", Meta::root(0o700, 0)).unwrap();
    assert_eq!(node(&t, "/new").meta.mode, 0o755, "missing parents are made 0755");
}
