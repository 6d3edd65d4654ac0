//! `ingot build` end to end: every image is checked with sgdisk -v, fsck.fat -n and read
//! back with mtools, independently of the code that wrote it.

use crate::util::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[test]
fn hello_recipe_builds_a_clean_sparse_gpt_image_with_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hello.raw");
    let report = build(&repo().join("recipes/hello.toml"), &out);

    sgdisk_verify(&out);
    assert_eq!(report["digest"], image_digest(&out, None), "the digest docs/recipe.md defines");
    assert!(report["sha256"].is_null(), "the whole-file SHA-256 only with --sha256");
    assert_eq!(report["disk_size"], 64 << 20);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 64 << 20);
    let esp = &report["partitions"][0];
    let (off, len) = (esp["offset"].as_u64().unwrap(), esp["size"].as_u64().unwrap());
    assert_eq!(off, 1 << 20, "partitions start at the 1 MiB alignment");
    fsck_fat(&out, off, len);

    let mut expected = hash_tree(&repo().join("recipes/hello/esp"));
    expected.insert("motd.txt".into(), sha256_file(&repo().join("recipes/hello/motd")));
    assert_eq!(fat_files(&out, off), expected);

    assert_eq!(esp["digest"], image_digest(&out, Some((off, len))));

    let root = &report["partitions"][1];
    let (roff, rlen) = (root["offset"].as_u64().unwrap(), root["size"].as_u64().unwrap());
    assert_eq!(root["filesystem"], "ext4");
    e2fsck_clean(&out, roff, rlen);
    let stat = debugfs(&out, roff, rlen, "stat /etc/motd.sh");
    assert!(stat.contains("User:  1000   Group:  1000") && stat.contains("Mode:  0755"), "{stat}");
    let caps = debugfs(&out, roff, rlen, "ea_list /etc/motd.sh");
    assert!(caps.contains("security.capability (20)"), "{caps}");
    let motd = debugfs(&out, roff, rlen, "cat /etc/motd");
    assert_eq!(motd, std::fs::read_to_string(repo().join("recipes/hello/motd")).unwrap());
    assert!(allocated(&out) <= report["data_bytes"].as_u64().unwrap() + (1 << 20), "the image is not sparse");
    assert!(allocated(&out) < 2 << 20, "a 64 MiB image with a few files occupies {} bytes", allocated(&out));

    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", out.display())).unwrap()).unwrap();
    assert_eq!(written, report, "OUT.json is the report printed by --json");

    // inspect reads the same table back
    let o = run(ingot().arg("inspect").arg(&out).arg("--json"));
    assert!(o.status.success());
    let i: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(i["table"], "gpt");
    assert_eq!(i["disk_id"], report["disk_id"]);
    for n in 0..2 {
        for k in ["offset", "size", "guid", "type", "label"] {
            assert_eq!(i["partitions"][n][k], report["partitions"][n][k], "partition {n} {k}");
        }
    }
    assert_eq!(i["partitions"][0]["filesystem"], "vfat");
    let o = run(ingot().arg("inspect").arg(&out));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("gpt table") && text.contains("name \"ESP\""), "{text}");
}

#[test]
fn guids_agree_with_sgdisk() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hello.raw");
    let report = build(&repo().join("recipes/hello.toml"), &out);
    let o = run(Command::new("sgdisk").arg("-i").arg("1").arg(&out));
    let info = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(info.contains(report["partitions"][0]["guid"].as_str().unwrap()), "{info}");
    assert!(info.contains("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), "{info}");
    assert!(info.contains("partition name: 'esp'"), "{info}");
    let o = run(Command::new("sgdisk").arg("-p").arg(&out));
    let p = String::from_utf8_lossy(&o.stdout).to_lowercase();
    assert!(p.contains(report["disk_id"].as_str().unwrap()), "{p}");
}

/// A tree like a real ESP: 2,000 files in nested directories, long and mixed-case
/// names, layered from a directory, a tar.gz, a tar.zst and a plain tar, with excludes.
#[test]
fn layered_sources_with_many_long_names_read_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let mut expected = BTreeMap::new();
    for d in 0..20 {
        for f in 0..100 {
            let rel = format!("dir {d:02}/A rather long file name number {f:03}.data");
            let data = bytes(d * 1000 + f, 1 + ((d * 7919 + f * 104_729) % 65_536) as usize);
            std::fs::create_dir_all(src.join(format!("dir {d:02}"))).unwrap();
            std::fs::write(src.join(&rel), &data).unwrap();
            expected.insert(rel, sha256(&data));
        }
    }
    std::fs::write(src.join("skip.bak"), "excluded").unwrap();
    let mut layers = Vec::new();
    for (i, kind) in ["tar.gz", "tar.zst", "tar"].iter().enumerate() {
        let path = tmp.path().join(format!("layer{i}.{kind}"));
        let mut files = vec![(format!("EFI/Layer{i}/Überlänge-ñame-{i}.efi"), bytes(50 + i as u64, 70_000))];
        files.push(("dir 00/A rather long file name number 000.data".into(), bytes(99 + i as u64, 10)));
        write_tar(&path, &files);
        for (name, data) in files {
            expected.insert(name, sha256(&data));
        }
        layers.push(path);
    }
    let r = recipe(
        tmp.path(),
        &format!(
            r#"name = "many"
size = "300 MiB"
[[partition]]
label = "EFI system"
type = "esp"
size = "256 MiB"
filesystem = "vfat"
exclude = ["*.bak"]
[[partition.contents]]
dir = "src"
{}
"#,
            layers
                .iter()
                .map(|l| format!("[[partition.contents]]\ntar = {:?}\n", l.file_name().unwrap()))
                .collect::<String>()
        ),
    );
    let out = tmp.path().join("many.raw");
    let report = build(&r, &out);
    sgdisk_verify(&out);
    let p = &report["partitions"][0];
    assert_eq!(p["fat_type"], 32);
    fsck_fat(&out, p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    assert_eq!(fat_files(&out, p["offset"].as_u64().unwrap()), expected);
}

fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_600_000_000);
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        b.finish().unwrap();
    }
    let name = path.to_string_lossy();
    let bytes = if name.ends_with(".gz") {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, &raw).unwrap();
        e.finish().unwrap()
    } else if name.ends_with(".zst") {
        zstd::encode_all(raw.as_slice(), 3).unwrap()
    } else {
        raw
    };
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn small_esps_are_fat16_and_fat12_and_clean() {
    for (size, fat) in [("24 MiB", 16), ("1 MiB", 12), ("40 MiB", 32)] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f.txt"), "x").unwrap();
        let r = recipe(
            tmp.path(),
            &format!(
                "name = \"small\"\n[[partition]]\ntype = \"esp\"\nsize = \"{size}\"\nfilesystem = \"vfat\"\n\
                 [partition.vfat]\nlabel = \"SMALL\"\n[[partition.contents]]\nfile = \"f.txt\"\nto = \"/f.txt\"\n"
            ),
        );
        let out = tmp.path().join("s.raw");
        let report = build(&r, &out);
        let p = &report["partitions"][0];
        assert_eq!(p["fat_type"], fat, "{size}");
        sgdisk_verify(&out);
        fsck_fat(&out, p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        assert_eq!(fat_files(&out, p["offset"].as_u64().unwrap()).len(), 1);
        let o = run(Command::new("mlabel")
            .arg("-s")
            .arg("-i")
            .arg(format!("{}@@1M", out.display()))
            .arg("::")
            .env("MTOOLS_SKIP_CHECK", "1"));
        assert!(String::from_utf8_lossy(&o.stdout).contains("SMALL"), "{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn mbr_table_with_bootable_esp_and_raw_image_partition() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("esp")).unwrap();
    std::fs::write(tmp.path().join("esp/hello.txt"), "hi").unwrap();
    // a sparse raw image: data at 0 and at 3 MiB, holes elsewhere
    let raw = tmp.path().join("raw.img");
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&raw).unwrap();
        f.write_all_at(&bytes(7, 4096), 0).unwrap();
        f.write_all_at(&bytes(8, 4096), 3 << 20).unwrap();
        f.set_len(4 << 20).unwrap();
    }
    let r = recipe(
        tmp.path(),
        r#"name = "mbr"
size = "auto"
table = "mbr"
[[partition]]
type = "esp"
size = "32 MiB"
filesystem = "vfat"
bootable = true
[[partition.contents]]
dir = "esp"
[[partition]]
type = "0x83"
size = "auto"
filesystem = "none"
[[partition.contents]]
image = "raw.img"
"#,
    );
    let out = tmp.path().join("mbr.raw");
    let report = build(&r, &out);
    assert_eq!(report["table"], "mbr");
    let o = run(Command::new("sfdisk").arg("--json").arg(&out));
    assert!(o.status.success(), "sfdisk: {}", String::from_utf8_lossy(&o.stderr));
    let sf: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &sf["partitiontable"];
    assert_eq!(t["label"], "dos");
    assert_eq!(t["id"].as_str().unwrap().trim_start_matches("0x"), report["disk_id"].as_str().unwrap());
    assert_eq!(t["partitions"][0]["start"], 2048);
    assert_eq!(t["partitions"][0]["type"], "ef");
    assert_eq!(t["partitions"][0]["bootable"], true);
    assert_eq!(t["partitions"][1]["type"], "83");
    let p1 = &report["partitions"][1];
    assert_eq!(p1["size"], 4 << 20, "an auto-sized raw partition is the image's size");
    let part = tmp.path().join("p2.img");
    extract(&out, p1["offset"].as_u64().unwrap(), 4 << 20, &part);
    assert_eq!(sha256_file(&part), sha256_file(&raw));
    fsck_fat(&out, 1 << 20, 32 << 20);
    assert_eq!(report["disk_size"].as_u64().unwrap() % (1 << 20), 0);
    assert!(allocated(&out) < 1 << 20, "holes of the raw image stay holes: {}", allocated(&out));
}

#[test]
fn auto_disk_and_partition_sizes_fit_the_content() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("esp")).unwrap();
    std::fs::write(tmp.path().join("esp/big.bin"), bytes(1, 3 << 20)).unwrap();
    let r = recipe(
        tmp.path(),
        "name = \"auto\"\n[[partition]]\ntype = \"esp\"\nsize = \"auto\"\nfilesystem = \"vfat\"\n[[partition.contents]]\ndir = \"esp\"\n",
    );
    let out = tmp.path().join("auto.raw");
    let report = build(&r, &out);
    sgdisk_verify(&out);
    let p = &report["partitions"][0];
    let size = p["size"].as_u64().unwrap();
    assert!((3 << 20..=16 << 20).contains(&size), "auto size {size}");
    fsck_fat(&out, p["offset"].as_u64().unwrap(), size);
    assert_eq!(fat_files(&out, p["offset"].as_u64().unwrap()).len(), 1);
}

#[test]
fn a_corrupt_image_is_refused_by_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hello.raw");
    build(&repo().join("recipes/hello.toml"), &out);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
        f.write_all_at(b"X", 512 + 60).unwrap(); // the disk GUID in the primary GPT header
    }
    let o = run(ingot().arg("inspect").arg(&out));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("hello.raw") && e.contains("primary GPT header") && e.contains("CRC"), "{e}");
    let o = run(ingot().arg("inspect").arg(tmp.path().join("nope.raw")));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.raw"));
}

#[test]
fn digest_flags_choose_what_the_report_carries_and_never_change_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let with = build(&repo().join("recipes/hello.toml"), &tmp.path().join("a.raw"));
    let blocks = with["blocks"].as_object().unwrap();
    assert!(!blocks.is_empty() && blocks.len() as u64 <= with["data_bytes"].as_u64().unwrap().div_ceil(512 << 10) + 8);
    let flagged = |name: &str, flags: &[&str]| -> (std::path::PathBuf, serde_json::Value) {
        let out = tmp.path().join(name);
        let o = run(ingot()
            .arg("build")
            .arg(repo().join("recipes/hello.toml"))
            .arg("-o")
            .arg(&out)
            .arg("--json")
            .args(flags));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (out.clone(), serde_json::from_slice(&o.stdout).unwrap())
    };
    let (out, without) = flagged("b.raw", &["--no-digest"]);
    assert!(without["digest"].is_null() && without["blocks"].as_object().unwrap().is_empty());
    assert!(without["partitions"][0]["digest"].is_null() && without["sha256"].is_null());
    assert_eq!(image_digest(&out, None), with["digest"].as_str().unwrap(), "the same image either way");

    let (out, sha) = flagged("c.raw", &["--sha256"]);
    assert_eq!(sha["sha256"], sha256_file(&out), "--sha256 is what sha256sum prints");
    assert_eq!((&sha["digest"], &sha["blocks"]), (&with["digest"], &with["blocks"]));
    let esp = &sha["partitions"][0];
    let part = tmp.path().join("esp.img");
    extract(&out, esp["offset"].as_u64().unwrap(), esp["size"].as_u64().unwrap(), &part);
    assert_eq!(esp["sha256"], sha256_file(&part));
    assert_eq!(esp["digest"], with["partitions"][0]["digest"]);
}

#[test]
fn the_digest_script_in_the_docs_is_the_one_the_tests_run() {
    let docs = std::fs::read_to_string(repo().join("docs/recipe.md")).unwrap();
    let script = std::fs::read_to_string(repo().join("scripts/image-digest.py")).unwrap();
    assert!(
        docs.contains(&format!("```python\n{script}```")),
        "docs/recipe.md must show scripts/image-digest.py as it is"
    );
}

/// A 64 GiB disk holding a few MiB is hashed in proportion to its data: its report lists
/// only the non-zero blocks, and the digest is the one the script computes reading
/// every byte.
#[test]
fn a_large_sparse_disk_is_digested_by_its_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/data.bin"), vec![0x5a; 3 << 20]).unwrap();
    let r = recipe(
        dir.path(),
        "name = \"wide\"\nsize = \"64 GiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"t\"\n",
    );
    let out = dir.path().join("wide.raw");
    let report = build(&r, &out);
    let blocks = report["blocks"].as_object().unwrap();
    assert!(blocks.len() < 200, "{} blocks listed for a disk holding a few MiB", blocks.len());
    let p = &report["partitions"][0];
    let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    e2fsck_clean(&out, off, len);
    sgdisk_verify(&out);
    assert_eq!(p["digest"], image_digest(&out, Some((off, len))));
    assert_eq!(report["digest"], image_digest(&out, None));
}

/// SIGINT, SIGTERM, SIGHUP or SIGQUIT in the middle of `ingot build` removes the
/// unfinished image, says what was stopped and exits 128 + the signal. The SHA-256 of a 32 GiB disk (`--sha256`, holes
/// included) takes seconds, which leaves time to send the signal once the temporary file
/// is there.
#[test]
fn an_interrupted_build_leaves_nothing_and_exits_128_plus_the_signal() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129), ("QUIT", 131)] {
        let dir = tempfile::tempdir().unwrap();
        let r =
            recipe(dir.path(), "name = \"big\"\nsize = \"32 GiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n");
        let out = dir.path().join("big.raw");
        let partial = || names_in(dir.path()).iter().any(|n| n.ends_with(".partial"));
        let o = interrupted(ingot().arg("build").arg(&r).arg("-o").arg(&out).arg("--sha256"), partial, signal);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(err.contains(&format!("ingot build stopped by SIG{signal}: removed the unfinished")), "{err}");
        assert!(err.contains(".big.raw."), "the line names the file removed: {err}");
        assert_eq!(names_in(dir.path()), ["recipe.toml"], "SIG{signal} left files behind");
    }
}
