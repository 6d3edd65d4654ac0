//! `ingot inspect` read against the tools that own each format: every figure it prints
//! for a hybrid GPT image (BIOS boot partition with GRUB, ESP, ext4 root) and an arm64
//! image matches `sgdisk -p`, `fsck.fat -v`, `dumpe2fs -h` and util-linux's `blkid -p`;
//! an MBR image matches `sfdisk --json`.

use crate::boot::{guest_files, RECIPE};
use crate::util::*;
use std::path::Path;
use std::process::Command;

/// The hybrid boot test image (GRUB for BIOS and UEFI): its path and report.
fn hybrid(dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    guest_files(dir);
    let text = RECIPE
        .replace("uefi = \"systemd-boot\"", "uefi = \"grub\"\nbios = \"grub\"")
        .replace(
            "[[partition]]\nlabel = \"ESP\"",
            "[[partition]]\nlabel = \"bios\"\ntype = \"bios-boot\"\nsize = \"1 MiB\"\n[[partition]]\nlabel = \"ESP\"",
        )
        .replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string());
    let out = dir.join("hybrid.raw");
    let report = build_checked(&recipe(dir, &text), &out);
    (out, report)
}

/// The value after `key` on the line of `text` that has it (`dumpe2fs -h` style).
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key:?} in {text}"));
    line[key.len()..].trim()
}

/// util-linux's `blkid -p` (low-level probe) of a filesystem image: its LABEL and UUID.
fn blkid(image: &Path) -> (String, String) {
    let o = run(Command::new("blkid").args(["-p", "-o", "export"]).arg(image));
    assert!(o.status.success(), "blkid: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or("").to_string();
    (value("LABEL="), value("UUID="))
}

/// `ingot inspect --json` of the GPT image `image`, every figure held to the formats' own
/// tools: `sgdisk -p` (sectors, names, type codes), `blkid -p` (labels, UUIDs),
/// `fsck.fat -v` (cluster size, clusters in use) and `dumpe2fs -h` (UUID, volume name,
/// blocks, free blocks, block size).
fn agrees_with_tools(image: &Path, dir: &Path) -> serde_json::Value {
    let i = crate::util::aws::json(ingot().arg("inspect").arg(image).arg("--json"));
    let parts = i["partitions"].as_array().unwrap();
    let o = run(Command::new("sgdisk").arg("-p").arg(image));
    let table = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 7 && w[0].parse::<usize>().is_ok())
        .collect();
    assert_eq!(rows.len(), parts.len(), "{table}");
    for (row, p) in rows.iter().zip(parts) {
        let (start, end): (u64, u64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert_eq!(p["offset"].as_u64(), Some(start * 512), "{table}");
        assert_eq!(p["size"].as_u64(), Some((end - start + 1) * 512), "{table}");
        assert_eq!(p["label"].as_str(), Some(row[6]), "{table}");
        let name = match row[5] {
            "EF02" => "bios-boot",
            "EF00" => "esp",
            "8304" => "root-x86-64",
            "8305" => "root-arm64",
            code => panic!("type code {code}"),
        };
        assert_eq!(p["type_name"], name, "{table}");
        let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        let part = dir.join(format!("part{}.img", p["number"]));
        let fs = &p["filesystem_info"];
        match p["filesystem"].as_str() {
            Some("vfat") => {
                extract(image, off, len, &part);
                assert_eq!(blkid(&part), (fs["label"].as_str().unwrap().into(), fs["uuid"].as_str().unwrap().into()));
                let o = run(Command::new("fsck.fat").args(["-n", "-v"]).arg(&part));
                let text = String::from_utf8_lossy(&o.stdout);
                let used = fs["units"].as_u64().unwrap() - fs["free_units"].as_u64().unwrap();
                assert!(text.contains(&format!(" files, {used}/{} clusters", fs["units"])), "{fs} in {text}");
                assert!(text.contains(&format!("{} bytes per cluster", fs["unit"])), "{text}");
            }
            Some("ext4") => {
                extract(image, off, len, &part);
                assert_eq!(blkid(&part), (fs["label"].as_str().unwrap().into(), fs["uuid"].as_str().unwrap().into()));
                let o = run(Command::new("dumpe2fs").arg("-h").arg(&part));
                let text = String::from_utf8_lossy(&o.stdout);
                assert_eq!(field(&text, "Filesystem UUID:"), fs["uuid"].as_str().unwrap());
                assert_eq!(
                    field(&text, "Filesystem volume name:").replace("<none>", ""),
                    fs["label"].as_str().unwrap()
                );
                assert_eq!(field(&text, "Block count:"), fs["units"].to_string());
                assert_eq!(field(&text, "Free blocks:"), fs["free_units"].to_string());
                assert_eq!(field(&text, "Block size:"), fs["unit"].to_string());
            }
            _ => assert!(fs.is_null(), "{p}"),
        }
    }
    i
}

#[test]
fn inspect_agrees_with_sgdisk_fsck_fat_and_dumpe2fs() {
    let tmp = tempfile::tempdir().unwrap();
    let (image, _) = hybrid(tmp.path());
    let i = agrees_with_tools(&image, tmp.path());
    assert_eq!(i["bios_boot_code"], "grub", "{i}");
    let parts = i["partitions"].as_array().unwrap();
    let (esp, fs) = (&parts[1], &parts[2]["filesystem_info"]);

    // The same figures for a person: type names, sizes in units, labels and UUIDs.
    let o = run(ingot().arg("inspect").arg(&image));
    let text = String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "1 GiB, gpt table".to_string(),
        "BIOS boot code in the MBR: grub".into(),
        "bios-boot 1 MiB at 1 MiB name \"bios\"".into(),
        "esp 64 MiB at 2 MiB name \"ESP\"".into(),
        format!("vfat label \"ESP\" UUID {}", esp["filesystem_info"]["uuid"].as_str().unwrap()),
        format!("ext4 label \"root\" UUID {}", fs["uuid"].as_str().unwrap()),
        "/EFI/BOOT/BOOTX64.EFI x86_64 unsigned".into(),
    ] {
        assert!(text.contains(&want), "want {want:?} in\n{text}");
    }
}

/// An arm64 image (systemd-boot): the same agreement, `root-arm64`, the arm64 EFI
/// binaries, and no BIOS boot code.
#[test]
fn inspect_agrees_with_the_tools_on_an_arm64_image() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let text = RECIPE
        .replace("[boot]\n", "[boot]\narch = \"arm64\"\n")
        .replace("root-x86-64", "root-arm64")
        .replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string());
    let image = tmp.path().join("arm64.raw");
    build_checked(&recipe(tmp.path(), &text), &image);
    let i = agrees_with_tools(&image, tmp.path());
    assert!(i["bios_boot_code"].is_null(), "{i}");
    assert_eq!(i["partitions"][1]["type_name"], "root-arm64");
    let binaries: Vec<(&str, &str)> = i["partitions"][0]["efi_binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["path"].as_str().unwrap(), b["architecture"].as_str().unwrap()))
        .collect();
    assert!(binaries.contains(&("/EFI/BOOT/BOOTAA64.EFI", "arm64")), "{binaries:?}");
    assert!(binaries.iter().all(|(_, arch)| *arch == "arm64"), "{binaries:?}");
}

/// An MBR image: the PARTUUIDs (signature-number), type names, the active flag and the
/// sectors match the build's report and `sfdisk --json`.
#[test]
fn inspect_reads_an_mbr_disk_as_sfdisk_does() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tree")).unwrap();
    std::fs::write(tmp.path().join("tree/hello"), b"hello").unwrap();
    let text = "name = \"m\"\nsize = \"64 MiB\"\ntable = \"mbr\"\n[[partition]]\ntype = \"esp\"\nsize = \"16 MiB\"\nfilesystem = \"vfat\"\nbootable = true\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"tree\"\n";
    let out = tmp.path().join("m.raw");
    let report = build_checked(&recipe(tmp.path(), text), &out);
    let i = crate::util::aws::json(ingot().arg("inspect").arg(&out).arg("--json"));
    let o = run(Command::new("sfdisk").arg("--json").arg(&out));
    let table: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = table["partitiontable"]["partitions"].as_array().unwrap();
    for (n, (p, row)) in i["partitions"].as_array().unwrap().iter().zip(rows).enumerate() {
        assert_eq!(p["guid"], report["partitions"][n]["guid"], "PARTUUID");
        assert_eq!(p["offset"].as_u64(), row["start"].as_u64().map(|s| s * 512));
        assert_eq!(p["size"].as_u64(), row["size"].as_u64().map(|s| s * 512));
        assert_eq!(p["type"].as_str().unwrap(), format!("0x{}", row["type"].as_str().unwrap()));
        assert_eq!(p["bootable"].as_bool(), Some(row["bootable"].as_bool().unwrap_or(false)));
        assert_eq!(p["type_name"], ["esp", "linux"][n]);
    }
    assert_eq!(
        i["disk_id"].as_str().unwrap(),
        table["partitiontable"]["id"].as_str().unwrap().trim_start_matches("0x")
    );
}

/// A superblock that claims more than its partition holds (a hostile or damaged image)
/// is reported without figures, not a crash.
#[test]
fn inspect_survives_a_superblock_claiming_too_much() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hello.raw");
    let report = build(&repo().join("recipes/hello.toml"), &out);
    let root = report["partitions"][1]["offset"].as_u64().unwrap() + 1024;
    let f = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    f.write_all_at(&[6, 0, 0, 0], root + 0x18).unwrap(); // s_log_block_size: 64 KiB
    f.write_all_at(&[0xff; 4], root + 0x150).unwrap(); // s_blocks_count_hi
    f.write_all_at(&[0x80, 0, 0, 0], root + 0x60).unwrap(); // INCOMPAT_64BIT
    let i = crate::util::aws::json(ingot().arg("inspect").arg(&out).arg("--json"));
    let p = &i["partitions"][1];
    assert!(p["filesystem"] == "ext4" && p["filesystem_info"].is_null(), "{p}");
    let o = run(ingot().arg("inspect").arg(&out));
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ext4 (not readable)"));
}
