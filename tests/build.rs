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
    assert_eq!(report["sha256"], sha256_file(&out));
    assert_eq!(report["disk_size"], 64 << 20);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 64 << 20);
    let esp = &report["partitions"][0];
    let (off, len) = (esp["offset"].as_u64().unwrap(), esp["size"].as_u64().unwrap());
    assert_eq!(off, 1 << 20, "partitions start at the 1 MiB alignment");
    fsck_fat(&out, off, len);

    let mut expected = hash_tree(&repo().join("recipes/hello/esp"));
    expected.insert("motd.txt".into(), sha256_file(&repo().join("recipes/hello/motd")));
    assert_eq!(fat_files(&out, off), expected);

    let part = tmp.path().join("esp.img");
    extract(&out, off, len, &part);
    assert_eq!(esp["sha256"], sha256_file(&part));

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
    assert_eq!(written["sha256"], report["sha256"], "OUT.json is the report printed by --json");

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
fn no_digest_leaves_the_digests_out_and_the_image_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let with = build(&repo().join("recipes/hello.toml"), &tmp.path().join("a.raw"));
    let out = tmp.path().join("b.raw");
    let o = run(ingot()
        .arg("build")
        .arg(repo().join("recipes/hello.toml"))
        .arg("-o")
        .arg(&out)
        .args(["--json", "--no-digest"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let without: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(without["sha256"].is_null() && without["partitions"][0]["sha256"].is_null());
    assert_eq!(sha256_file(&out), with["sha256"].as_str().unwrap(), "the same image either way");
}

/// SIGINT or SIGTERM in the middle of `ingot build` removes the unfinished image, says
/// what was stopped and exits 130 or 143. A 32 GiB disk takes seconds to hash (its holes
/// included), which leaves time to send the signal once the temporary file is there.
#[test]
fn an_interrupted_build_leaves_nothing_and_exits_128_plus_the_signal() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        let r =
            recipe(dir.path(), "name = \"big\"\nsize = \"32 GiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n");
        let out = dir.path().join("big.raw");
        let child = ingot()
            .arg("build")
            .arg(&r)
            .arg("-o")
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the ingot binary starts");
        let partial = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".partial"))
        };
        let started = std::time::Instant::now();
        while !partial() {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "no temporary image appeared");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = run(std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()));
        assert!(kill.status.success());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(err.contains(&format!("ingot build stopped by SIG{signal}: removed the unfinished")), "{err}");
        assert!(err.contains(".big.raw."), "the line names the file removed: {err}");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["recipe.toml"], "SIG{signal} left files behind");
    }
}
