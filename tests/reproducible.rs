//! Same recipe and inputs, same SHA-256: two copies of the inputs made at different
//! times, under different umasks, in a different order, in different directories, built
//! with different TZ, locale and working directory.

use crate::util::*;
use std::path::Path;
use std::process::Command;

const RECIPE: &str = r#"name = "repro"
size = "128 MiB"
source_date_epoch = 1700000000
[[partition]]
label = "ESP"
type = "esp"
size = "64 MiB"
filesystem = "vfat"
[[partition.contents]]
dir = "esp"
[[partition.contents]]
tar = "extra.tar.gz"
to = "/EFI/extra"
[[partition.contents]]
file = "note.txt"
to = "/note.txt"
[[partition]]
label = "root"
type = "root-x86-64"
size = "24 MiB"
filesystem = "ext4"
[[partition.contents]]
dir = "esp"
[[partition.contents]]
tar = "extra.tar.gz"
to = "/srv"
[[partition]]
label = "raw"
type = "linux"
size = "fill"
filesystem = "none"
[[partition.contents]]
image = "raw.img"
"#;

fn files() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for d in 0..5 {
        for f in 0..40 {
            v.push((format!("esp/d{d}/sub/file-{f:02}.bin"), bytes(d * 100 + f, 100 + (f as usize * 997) % 9000)));
        }
    }
    v.push(("esp/EFI/BOOT/BOOTX64.EFI".into(), bytes(9, 50_000)));
    v.push(("note.txt".into(), b"reproducible\n".to_vec()));
    v.push(("raw.img".into(), bytes(10, 1 << 20)));
    v
}

/// Writes the inputs under `dir` in `order`, with `umask` and mtime `mtime`, using a shell
/// so that the umask and the file creation are the real thing.
fn make_inputs(dir: &Path, reverse: bool, umask: &str, mtime: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut list = files();
    if reverse {
        list.reverse();
    }
    let staging = tempfile::tempdir().unwrap();
    let mut script = format!("set -e\numask {umask}\ncd '{}'\n", dir.display());
    for (i, (name, data)) in list.iter().enumerate() {
        let blob = staging.path().join(i.to_string());
        std::fs::write(&blob, data).unwrap();
        let parent = Path::new(name).parent().unwrap().display().to_string();
        if !parent.is_empty() {
            script += &format!("mkdir -p '{parent}'\n");
        }
        script += &format!("cat '{}' > '{name}'\n", blob.display());
    }
    script += &format!("find . -exec touch -h -d @{mtime} {{}} +\n");
    let o = run(Command::new("sh").arg("-c").arg(&script));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the tarball is an input like any other: the same bytes in both copies
    std::fs::copy(tarball(), dir.join("extra.tar.gz")).unwrap();
}

/// A tar.gz made once by GNU tar, with owners and modes of its own.
fn tarball() -> std::path::PathBuf {
    static MADE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = MADE.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let o = run(Command::new("sh").arg("-c").arg(format!(
            "set -e; cd '{}'; mkdir -p t/a t/b; echo one > t/a/1; echo two > t/b/2; chmod 0750 t/a; chmod 0600 t/b/2; \
             tar -C t -czf extra.tar.gz --sort=name --mtime=@1600000000 --owner=0 --group=0 --numeric-owner .",
            d.path().display()
        )));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        d
    });
    dir.path().join("extra.tar.gz")
}

#[test]
fn two_builds_from_different_copies_give_one_digest_and_one_sha256() {
    let base = tempfile::tempdir().unwrap();
    let a = base.path().join("first/checkout");
    let b = base.path().join("elsewhere/another copy");
    make_inputs(&a, false, "022", 1_750_000_000);
    make_inputs(&b, true, "077", 1_760_000_000);
    std::fs::write(a.join("recipe.toml"), RECIPE).unwrap();
    std::fs::write(b.join("recipe.toml"), RECIPE).unwrap();

    let build_in = |dir: &Path, tz: &str, lang: &str, cwd: &Path| -> serde_json::Value {
        let out = dir.join("image.raw");
        let o = run(ingot()
            .arg("build")
            .arg(dir.join("recipe.toml"))
            .arg("-o")
            .arg(&out)
            .arg("--json")
            .arg("--sha256")
            .env("TZ", tz)
            .env("LC_ALL", lang)
            .env("LANG", lang)
            .current_dir(cwd));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        sgdisk_verify(&out);
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        fsck_fat(&out, r["partitions"][0]["offset"].as_u64().unwrap(), r["partitions"][0]["size"].as_u64().unwrap());
        e2fsck_clean(
            &out,
            r["partitions"][1]["offset"].as_u64().unwrap(),
            r["partitions"][1]["size"].as_u64().unwrap(),
        );
        assert_eq!(r["sha256"], sha256_file(&out));
        assert_eq!(r["digest"], image_digest(&out, None));
        r
    };
    let ra = build_in(&a, "UTC", "C", base.path());
    let rb = build_in(&b, "Pacific/Chatham", "de_DE.UTF-8", &b);
    assert_eq!(ra["sha256"], rb["sha256"], "two builds of one recipe differ");
    assert_eq!((&ra["digest"], &ra["blocks"]), (&rb["digest"], &rb["blocks"]));
    for (pa, pb) in ra["partitions"].as_array().unwrap().iter().zip(rb["partitions"].as_array().unwrap()) {
        assert_eq!(pa, pb);
    }

    // and a different seed changes every identifier
    let other = RECIPE.replace("name = \"repro\"", "name = \"repro\"\nseed = \"other\"");
    std::fs::write(b.join("recipe.toml"), other).unwrap();
    let rc = build_in(&b, "UTC", "C", &b);
    assert_ne!(rc["sha256"], ra["sha256"]);
    assert_ne!(rc["digest"], ra["digest"]);
    assert_ne!(rc["disk_id"], ra["disk_id"]);
    assert_ne!(rc["partitions"][0]["guid"], ra["partitions"][0]["guid"]);
    assert_ne!(rc["partitions"][0]["filesystem_uuid"], ra["partitions"][0]["filesystem_uuid"]);
}

#[test]
fn source_date_epoch_from_the_environment_overrides_the_recipe() {
    let base = tempfile::tempdir().unwrap();
    make_inputs(base.path(), false, "022", 1_750_000_000);
    std::fs::write(base.path().join("recipe.toml"), RECIPE).unwrap();
    let out = base.path().join("x.raw");
    let o = run(ingot()
        .arg("build")
        .arg(base.path().join("recipe.toml"))
        .arg("-o")
        .arg(&out)
        .arg("--json")
        .env("SOURCE_DATE_EPOCH", "1600000000"));
    assert!(o.status.success());
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["source_date_epoch"], 1_600_000_000);
    let o = run(Command::new("mdir")
        .arg("-i")
        .arg(format!("{}@@1M", out.display()))
        .arg("::/")
        .env("MTOOLS_SKIP_CHECK", "1"));
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.contains("2020-09-13"), "FAT times are SOURCE_DATE_EPOCH (2020-09-13 12:26:40 UTC): {listing}");
}
