//! A filesystem written over a region full of random bytes is as clean as one written
//! over a fresh sparse image: nothing relies on the region reading as zero unless the
//! writer made it so.

use ingot_disk::Image;
use ingot_tree::{Meta, Tree};
use std::process::Command;

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn e2fsck_clean(path: &std::path::Path) {
    let o = Command::new("e2fsck")
        .arg("-fn")
        .arg(path)
        .output()
        .expect("e2fsck is needed: scripts/install-test-deps.sh installs e2fsprogs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    for l in out.lines() {
        assert!(l.starts_with("e2fsck ") || l.starts_with("Pass ") || l.contains(" files ("), "e2fsck said: {out}");
    }
}

#[test]
fn writing_over_random_bytes_is_clean() {
    for block_size in [1024u32, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fs.img");
        let size = 96u64 << 20;
        let mut image = Image::create(&path, size).unwrap();
        for chunk in 0..(size >> 20) {
            image.write_at(&noise(chunk + 1, 1 << 20), chunk << 20).unwrap();
        }
        let mut tree = Tree::new(1_700_000_000);
        let files = dir.path().join("files");
        std::fs::create_dir_all(files.join("wide")).unwrap();
        for i in 0..2000 {
            std::fs::write(files.join(format!("wide/file-{i:05}")), noise(i, (i % 5000) as usize)).unwrap();
        }
        tree.add_dir(&files, "/", false, false).unwrap();
        let mut m = Meta::root(0o644, 0);
        m.xattrs.insert("security.selinux".into(), vec![b'z'; 400]);
        tree.add_directory("/labelled", m).unwrap();
        let mut opts = ingot_ext4::Options::new(uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2), 1_700_000_000);
        opts.block_size = Some(block_size);
        ingot_ext4::write(&tree, &mut image, 0, size, &opts).unwrap();
        drop(image);
        e2fsck_clean(&path);
        let fs = ext4_view::Ext4::load_from_path(&path).unwrap();
        for i in [0u64, 1, 999, 1999] {
            assert_eq!(fs.read(format!("/wide/file-{i:05}").as_str()).unwrap(), noise(i, (i % 5000) as usize));
        }
        let lf = fs.read_dir("/lost+found").unwrap().count();
        assert_eq!(lf, 2, "lost+found holds only . and ..");
    }
}
