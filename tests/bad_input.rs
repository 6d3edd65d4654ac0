//! Bad and hostile input: each case must fail with a message naming the recipe key, file
//! or entry at fault, exit non-zero, and leave nothing at OUT.

use crate::util::*;
use std::path::{Path, PathBuf};

const ESP: &str =
    "name = \"bad\"\nsize = \"64 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"32 MiB\"\nfilesystem = \"vfat\"\n";

fn setup(text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let r = recipe(tmp.path(), text);
    let out = tmp.path().join("out.raw");
    (tmp, r, out)
}

fn expect(text: &str, needles: &[&str]) -> String {
    let (_tmp, r, out) = setup(text);
    let e = build_fails(&r, &out);
    for n in needles {
        assert!(e.contains(n), "expected {n:?} in the error:\n{e}");
    }
    e
}

#[test]
fn unknown_key_names_its_place_and_the_nearest_key() {
    expect(
        "name = \"x\"\n[[partition]]\ntype = \"esp\"\nsise = \"1 MiB\"\n",
        &["recipe.toml:4:1", "unknown key `sise`", "did you mean `size`?"],
    );
    expect("name = \"x\"\ntabel = \"gpt\"\n", &["recipe.toml:2:1", "did you mean `table`?"]);
}

#[test]
fn wrong_type_and_missing_key() {
    expect(
        "name = \"x\"\nsize = true\n[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\n",
        &["recipe.toml:2:8", "size"],
    );
    expect("name = \"x\"\n[[partition]]\nsize = \"1 MiB\"\n", &["recipe.toml:", "missing field `type`"]);
    expect("size = \"1 MiB\"\n", &["missing field `name`"]);
}

#[test]
fn bad_unit() {
    expect(
        "name = \"x\"\nsize = \"64 MB\"\n[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\n",
        &["recipe.toml:2:8", "size", "unknown unit \"MB\"", "MiB"],
    );
    expect(
        "name = \"x\"\n[[partition]]\ntype = \"esp\"\nsize = \"1.5 GiB\"\n",
        &["recipe.toml:4:8", "partition[0].size"],
    );
}

#[test]
fn partitions_that_do_not_fit_say_how_much_is_needed() {
    expect(
        "name = \"x\"\nsize = \"8 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"6 MiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"4 MiB\"\n",
        &["recipe.toml:2:8", "the partitions need 11 MiB", "has 7.98 MiB", "make `size` at least 12 MiB"],
    );
}

#[test]
fn two_fill_partitions() {
    expect(
        "name = \"x\"\nsize = \"8 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"fill\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n",
        &["recipe.toml:8:8", "only one partition may be \"fill\""],
    );
}

#[test]
fn misaligned_and_overlapping_starts() {
    expect(
        "name = \"x\"\nsize = \"64 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"4 MiB\"\nstart = \"1536 KiB\"\n",
        &["recipe.toml:6:9", "partition[0].start", "not a multiple of the alignment 1 MiB"],
    );
    expect(
        "name = \"x\"\nsize = \"64 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"4 MiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"4 MiB\"\nstart = \"2 MiB\"\n",
        &["recipe.toml:9:9", "partition[1].start", "overlaps partition 1"],
    );
    expect(
        "name = \"x\"\nalignment = \"100 B\"\n[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\n",
        &["recipe.toml:2:13", "alignment"],
    );
}

#[test]
fn missing_source_path() {
    expect(
        &format!("{ESP}[[partition.contents]]\ndir = \"no/such/dir\"\n"),
        &["recipe.toml:8:7", "partition[0].contents[0].dir", "no/such/dir does not exist"],
    );
}

#[test]
fn source_date_epoch_from_the_environment_must_be_a_number() {
    let (_tmp, r, out) = setup(ESP);
    let o = run(ingot().arg("build").arg(&r).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "yesterday"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("SOURCE_DATE_EPOCH=\"yesterday\""));
    assert!(!out.exists());
}

fn tar_with(path: &Path, entries: &[(&str, tar::EntryType, &str)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    for (name, kind, target) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(if *kind == tar::EntryType::Regular { 5 } else { 0 });
        // write raw names so that `..` and `/` survive the builder's own checks
        let name_bytes = name.as_bytes();
        h.as_old_mut().name[..name_bytes.len()].copy_from_slice(name_bytes);
        if !target.is_empty() {
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        h.set_cksum();
        let data: &[u8] = if *kind == tar::EntryType::Regular { b"evil\n" } else { b"" };
        b.append(&h, data).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn tar_entries_climbing_out_with_dotdot_are_refused() {
    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"evil.tar\"\n"));
    tar_with(
        &tmp.path().join("evil.tar"),
        &[("/abs/ok.txt", tar::EntryType::Regular, ""), ("a/../../../etc/passwd", tar::EntryType::Regular, "")],
    );
    let e = build_fails(&r, &out);
    assert!(e.contains("evil.tar") && e.contains("a/../../../etc/passwd") && e.contains("climbs out"), "{e}");
}

#[test]
fn writing_through_a_symlink_chain_out_of_the_root_is_refused() {
    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"chain.tar\"\n"));
    tar_with(
        &tmp.path().join("chain.tar"),
        &[
            ("one", tar::EntryType::Symlink, "two"),
            ("two", tar::EntryType::Symlink, "sub/../../../outside"),
            ("sub/", tar::EntryType::Directory, ""),
            ("one/passwd", tar::EntryType::Regular, ""),
        ],
    );
    let e = build_fails(&r, &out);
    assert!(e.contains("chain.tar") && e.contains("one/passwd") && e.contains("outside the image root"), "{e}");
}

#[test]
fn truncated_tar_gz_and_corrupt_zstd() {
    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"cut.tar.gz\"\n"));
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        let data = bytes(3, 200_000);
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, "big.bin", data.as_slice()).unwrap();
        b.finish().unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(tmp.path().join("cut.tar.gz"), &gz[..gz.len() / 2]).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("cut.tar.gz") && e.contains("big.bin"), "{e}");

    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"bad.tar.zst\"\n"));
    // as the zstd command line writes it: with a content checksum
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    let mut z = enc.finish().unwrap();
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(tmp.path().join("bad.tar.zst"), &z).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("bad.tar.zst"), "{e}");

    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"cut.tar\"\n"));
    std::fs::write(tmp.path().join("cut.tar"), &raw[..100_000]).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("cut.tar") && e.contains("big.bin") && e.contains("truncated"), "{e}");
}

#[test]
fn a_header_claiming_a_huge_file_is_refused_without_allocating_it() {
    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ntar = \"huge.tar.gz\"\n"));
    let mut raw = Vec::new();
    {
        let mut h = tar::Header::new_gnu();
        h.set_path("huge.bin").unwrap();
        h.set_size(1 << 40);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        raw.extend_from_slice(&[0x55u8; 4096]);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(tmp.path().join("huge.tar.gz"), gz.finish().unwrap()).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("huge.tar.gz") && e.contains("huge.bin") && e.contains("truncated"), "{e}");
}

#[test]
fn content_larger_than_its_partition_says_how_much_is_needed() {
    let (tmp, r, out) = setup("name = \"x\"\n[[partition]]\ntype = \"esp\"\nsize = \"4 MiB\"\nfilesystem = \"vfat\"\n[[partition.contents]]\ndir = \"big\"\n");
    std::fs::create_dir(tmp.path().join("big")).unwrap();
    std::fs::write(tmp.path().join("big/a.bin"), bytes(1, 6 << 20)).unwrap();
    let e = build_fails(&r, &out);
    assert!(
        e.contains("partition[0]")
            && e.contains("the files need about")
            && e.contains("make the partition's `size` at least"),
        "{e}"
    );

    let (tmp, r, out) = setup(
        "name = \"x\"\n[[partition]]\ntype = \"linux\"\nsize = \"1 MiB\"\n[[partition.contents]]\nimage = \"r.img\"\n",
    );
    std::fs::write(tmp.path().join("r.img"), bytes(1, 2 << 20)).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("partition[0]") && e.contains("r.img is 2097152 bytes") && e.contains("size"), "{e}");
}

#[test]
fn output_directory_missing_or_unwritable() {
    let (tmp, r, _) = setup(ESP);
    let out = tmp.path().join("no/such/dir/x.raw");
    let o = run(ingot().arg("build").arg(&r).arg("-o").arg(&out));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("no/such/dir") && e.contains("does not exist"), "{e}");
    assert!(!tmp.path().join("no").exists());

    let out = Path::new("/proc/ingot-test.raw");
    let o = run(ingot().arg("build").arg(&r).arg("-o").arg(out));
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("cannot write in the output directory /proc"), "{e}");
}

#[test]
fn fat_refuses_what_it_cannot_hold() {
    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ndir = \"t\"\n"));
    std::fs::create_dir(tmp.path().join("t")).unwrap();
    std::os::unix::fs::symlink("x", tmp.path().join("t/link")).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("/link") && e.contains("FAT can't hold a symlink"), "{e}");

    let (tmp, r, out) = setup(&format!("{ESP}[[partition.contents]]\ndir = \"t\"\n"));
    std::fs::create_dir(tmp.path().join("t")).unwrap();
    std::fs::write(tmp.path().join("t/Readme"), "a").unwrap();
    std::fs::write(tmp.path().join("t/README"), "b").unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("/Readme") && e.contains("only in case"), "{e}");
}

#[test]
fn bad_overrides_and_types() {
    let e = expect(
        &format!("{ESP}[[partition.override]]\npath = \"/nope\"\nmode = \"0644\"\n"),
        &["partition[0]", "override[0]", "/nope is not in the partition's tree"],
    );
    assert!(!e.contains("panicked"));
    expect(
        &format!("{ESP}[[partition.override]]\npath = \"/x\"\ncapabilities = \"cap_fly+ep\"\n"),
        &["recipe.toml:9:16", "cap_fly"],
    );
    expect(&format!("{ESP}[[partition.override]]\npath = \"/x\"\nmode = \"99999\"\n"), &["recipe.toml:9:8", "mode"]);
    expect(
        "name = \"x\"\ntable = \"mbr\"\n[[partition]]\ntype = \"bios-boot\"\nsize = \"1 MiB\"\n",
        &["recipe.toml:4:8", "partition[0].type", "no MBR equivalent"],
    );
    expect(
        "name = \"x\"\n[[partition]]\ntype = \"floppy\"\nsize = \"1 MiB\"\n",
        &["recipe.toml:3:8", "\"floppy\" is not a partition type"],
    );
    expect(
        "name = \"x\"\n[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\nfilesystem = \"ntfs\"\n",
        &["recipe.toml:5:14", "\"ntfs\""],
    );
}

const EXT4: &str = "name = \"x\"\n[[partition]]\ntype = \"linux\"\nsize = \"8 MiB\"\nfilesystem = \"ext4\"\n";

#[test]
fn ext4_payload_larger_than_the_partition() {
    let (tmp, r, out) = setup(&format!("{EXT4}[[partition.contents]]\ndir = \"big\"\n"));
    std::fs::create_dir(tmp.path().join("big")).unwrap();
    std::fs::write(tmp.path().join("big/blob"), bytes(2, 20 << 20)).unwrap();
    let e = build_fails(&r, &out);
    assert!(
        e.contains("partition[0]") && e.contains("the files need at least 20 MiB") && e.contains("MiB free"),
        "{e}"
    );
}

#[test]
fn ext4_more_files_than_inodes() {
    let (tmp, r, out) =
        setup(&format!("{EXT4}[partition.ext4]\ninode_count = 16\n[[partition.contents]]\ndir = \"many\"\n"));
    std::fs::create_dir(tmp.path().join("many")).unwrap();
    for i in 0..40 {
        std::fs::write(tmp.path().join(format!("many/{i}")), "x").unwrap();
    }
    let e = build_fails(&r, &out);
    assert!(e.contains("partition[0]") && e.contains("needs 51 inodes") && e.contains("has 16"), "{e}");
}

#[test]
fn ext4_name_over_255_bytes() {
    let (tmp, r, out) = setup(&format!("{EXT4}[[partition.contents]]\ntar = \"long.tar\"\n"));
    let mut b = tar::Builder::new(std::fs::File::create(tmp.path().join("long.tar")).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, format!("dir/{}", "n".repeat(256)), &b"x"[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    let e = build_fails(&r, &out);
    assert!(e.contains(&format!("/dir/{}", "n".repeat(256))) && e.contains("at most 255"), "{e}");
}

#[test]
fn ext4_xattrs_too_large_for_a_block() {
    let big = "v".repeat(5000);
    let (tmp, r, out) = setup(&format!(
        "{EXT4}[[partition.contents]]\ndir = \"d\"\n[[partition.override]]\npath = \"/f\"\nxattrs = {{ \"user.big\" = \"{big}\" }}\n"
    ));
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    std::fs::write(tmp.path().join("d/f"), "x").unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("/f") && e.contains("xattr block"), "{e}");
}

#[test]
fn ext4_block_size_the_kernel_cannot_mount() {
    expect(
        &format!("{EXT4}[partition.ext4]\nblock_size = 65536\n"),
        &["recipe.toml:7:14", "partition[0].ext4.block_size", "1024, 2048 or 4096"],
    );
    expect(&format!("{EXT4}[partition.ext4]\nlabel = \"much too long a label\"\n"), &["recipe.toml:7:9", "16 bytes"]);
}

#[test]
fn ext4_unknown_feature_and_missing_free_space() {
    expect(
        &format!("{EXT4}[partition.ext4]\nfeatures = [\"^extent\"]\n"),
        &["recipe.toml:7:13", "\"extent\" can't be toggled", "has_journal, dir_index"],
    );
    let (tmp, r, out) =
        setup(&format!("{EXT4}[partition.ext4]\nfree_space = \"100 MiB\"\n[[partition.contents]]\ndir = \"d\"\n"));
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("partition[0]") && e.contains("`free_space` asks for 100 MiB"), "{e}");
}

const BOOT: &str = "name = \"b\"\nsize = \"128 MiB\"\n[boot]\nuefi = \"systemd-boot\"\nkernel = \"/boot/vmlinuz\"\n";

#[test]
fn boot_section_errors() {
    // no ESP
    expect(
        &format!("{BOOT}[[partition]]\ntype = \"root-x86-64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n"),
        &["recipe.toml:3:1", "UEFI needs an EFI system partition"],
    );
    // kernel path missing from the root tree
    let text = format!(
        "{BOOT}[[partition]]\ntype = \"esp\"\nsize = \"32 MiB\"\nfilesystem = \"vfat\"\n[[partition]]\ntype = \"root-x86-64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"root\"\n"
    );
    let (tmp, r, out) = setup(&text);
    std::fs::create_dir_all(tmp.path().join("root/boot")).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("boot.kernel") && e.contains("/boot/vmlinuz is not in partition[1]'s tree"), "{e}");
    // kernel there, no systemd-boot binary
    std::fs::write(tmp.path().join("root/boot/vmlinuz"), "kernel").unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("/usr/lib/systemd/boot/efi/systemd-bootx64.efi") && e.contains("systemd-boot-efi"), "{e}");
    // an ESP too small for the kernel says how much it needs
    std::fs::create_dir_all(tmp.path().join("root/usr/lib/systemd/boot/efi")).unwrap();
    std::fs::write(tmp.path().join("root/usr/lib/systemd/boot/efi/systemd-bootx64.efi"), "efi").unwrap();
    std::fs::write(tmp.path().join("root/boot/vmlinuz"), bytes(5, 40 << 20)).unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("partition[0]") && e.contains("make the partition's `size` at least"), "{e}");
    expect(
        &format!("{}[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\n", BOOT.replace("systemd-boot", "refind")),
        &["recipe.toml:4:8", "boot.uefi: \"refind\" is not available", "\"uki\""],
    );
    expect(
        &format!(
            "{}[[partition]]\ntype = \"root-x86-64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n",
            BOOT.replace("uefi = \"systemd-boot\"", "bios = \"grub\"")
        ),
        &["recipe.toml:4:8", "needs a BIOS boot partition", "bios-boot"],
    );
}

#[test]
fn core_img_that_does_not_fit_its_place() {
    let root = payload("amd64", "usr/lib/grub/i386-pc/boot.img");
    let gpt = format!(
        "{}[[partition]]\ntype = \"bios-boot\"\nsize = \"64 KiB\"\n[[partition]]\ntype = \"root-x86-64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"{}\"\n",
        BOOT.replace("uefi = \"systemd-boot\"", "bios = \"grub\"").replace("128 MiB", "512 MiB").replace("[boot]", "alignment = \"64 KiB\"\n[boot]"),
        root.display()
    );
    expect(&gpt, &["boot.bios", "core.img is", "does not fit the BIOS boot partition (partition[0], 65536 bytes)"]);
    let mbr = format!(
        "{}[[partition]]\ntype = \"linux\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"{}\"\n",
        BOOT.replace("uefi = \"systemd-boot\"", "bios = \"grub\"").replace("128 MiB", "512 MiB").replace("[boot]", "table = \"mbr\"\nalignment = \"64 KiB\"\n[boot]"),
        root.display()
    );
    expect(&mbr, &["boot.bios", "does not fit the 65024 bytes between the MBR and the first partition"]);
}

#[test]
fn uefi_grub_without_its_modules() {
    let text = format!(
        "{}[[partition]]\ntype = \"esp\"\nsize = \"32 MiB\"\nfilesystem = \"vfat\"\n[[partition]]\ntype = \"root-x86-64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"root\"\n",
        BOOT.replace("systemd-boot", "grub")
    );
    let (tmp, r, out) = setup(&text);
    std::fs::create_dir_all(tmp.path().join("root/boot")).unwrap();
    std::fs::write(tmp.path().join("root/boot/vmlinuz"), "kernel").unwrap();
    let e = build_fails(&r, &out);
    assert!(e.contains("/usr/lib/grub/x86_64-efi") && e.contains("grub-efi-amd64-bin"), "{e}");
}
