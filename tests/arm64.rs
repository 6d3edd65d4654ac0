//! arm64 (Graviton) images, built on this x86_64 host from Debian's arm64 packages
//! (scripts/make-test-payload.sh arm64) and booted under `qemu-system-aarch64 -M virt -cpu
//! cortex-a72` (TCG) with AAVMF: systemd-boot, GRUB (arm64-efi) and a UKI ingot assembled,
//! on NVMe (as Graviton exposes EBS) and virtio-blk, to the same marker after the same
//! in-guest checks as the x86_64 tests.

use crate::boot::*;
use crate::util::*;
use std::time::Duration;

/// The boot test recipe for arm64: `[boot] arch`, the arm64 root type, the PL011 console.
fn arm64(recipe: &str) -> String {
    let text = recipe
        .replace("[boot]\n", "[boot]\narch = \"arm64\"\n")
        .replace("root-x86-64", "root-arm64")
        .replace("console=ttyS0", "console=ttyAMA0");
    assert!(text.contains("arch = \"arm64\"") && text.contains("root-arm64") && text.contains("ttyAMA0"));
    text
}

/// Builds `text` twice over the arm64 payload: the two images are one SHA-256.
fn builds_twice_the_same(text: &str) {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let r = recipe(tmp.path(), &text.replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string()));
    let (a, b) = (tmp.path().join("a.raw"), tmp.path().join("b.raw"));
    build_checked(&r, &a);
    std::thread::sleep(Duration::from_millis(1_100));
    build_checked(&r, &b);
    assert_eq!(sha256_file(&a), sha256_file(&b), "two builds of one arm64 recipe differ");
}

#[test]
fn arm64_systemd_boot_boots_on_nvme_and_on_virtio_blk() {
    build_and_boot(&arm64(RECIPE), "arm64", &[(Firmware::Aavmf, "nvme"), (Firmware::Aavmf, "virtio-blk-pci")]);
}

#[test]
fn arm64_grub_boots_on_nvme() {
    build_and_boot(&arm64(&RECIPE.replace("systemd-boot", "grub")), "arm64", &[(Firmware::Aavmf, "nvme")]);
}

#[test]
fn arm64_uki_boots_on_nvme() {
    build_and_boot(&arm64(&RECIPE.replace("systemd-boot", "uki")), "arm64", &[(Firmware::Aavmf, "nvme")]);
}

#[test]
fn arm64_systemd_boot_and_grub_builds_are_byte_identical() {
    builds_twice_the_same(&arm64(RECIPE));
    builds_twice_the_same(&arm64(&RECIPE.replace("systemd-boot", "grub")));
}

/// The arm64 UKI: the same bytes on every build, and objdump (binutils-multiarch) reads it
/// back as an aarch64 PE image with ukify's sections, alignments, SizeOfImage and checksum.
#[test]
fn arm64_uki_builds_are_byte_identical_and_read_back_as_pe() {
    check_uki(&arm64(&RECIPE.replace("systemd-boot", "uki")), "arm64", "BOOTAA64.EFI", "pei-aarch64-little");
}

/// recipes/debian-cloud-arm64.toml over the arm64 Debian rootfs: GRUB under AAVMF on NVMe
/// to systemd's multi-user.target with no failed unit, and two builds give one image.
#[test]
fn debian_cloud_arm64_recipe_boots_to_multi_user_on_nvme() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("debian.raw");
    let report = build_debian("debian-cloud-arm64.toml", "arm64", &out);
    assert_eq!(report["partitions"].as_array().unwrap().len(), 2);
    let again = tmp.path().join("again.raw");
    build(&repo().join("recipes/debian-cloud-arm64.toml"), &again);
    assert_eq!(image_digest(&out, None), image_digest(&again, None), "two builds of debian-cloud-arm64 differ");
    std::fs::remove_file(&again).unwrap();
    boot_debian(&out, "arm64", &[(Firmware::Aavmf, "nvme")], tmp.path());
}

/// An x86_64 stub or loader in an arm64 image (the amd64 systemd-boot-efi package over
/// the arm64 payload) is refused, naming the file and both architectures, and nothing is
/// left at the output.
#[test]
fn a_stub_or_loader_of_another_architecture_is_refused_naming_it() {
    let efi = "usr/lib/systemd/boot/efi";
    for (loader, file) in [("uki", "linuxaa64.efi.stub"), ("systemd-boot", "systemd-bootaa64.efi")] {
        let tmp = tempfile::tempdir().unwrap();
        guest_files(tmp.path());
        let x86 = payload("amd64", &format!("{efi}/{}", file.replace("aa64", "x64")));
        std::fs::create_dir_all(tmp.path().join("wrong").join(efi)).unwrap();
        std::fs::copy(x86.join(efi).join(file.replace("aa64", "x64")), tmp.path().join("wrong").join(efi).join(file))
            .unwrap();
        let text = arm64(&RECIPE.replace("systemd-boot", loader))
            .replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string())
            + "[[partition.contents]]\ndir = \"wrong\"\n";
        let err = build_fails(&recipe(tmp.path(), &text), &tmp.path().join("out.raw"));
        let want = format!("/{efi}/{file} in the root tree is an x86_64 binary, but the recipe's boot.arch is arm64");
        assert!(err.contains(&want), "{loader}: {err}");
    }
}

/// An x86_64 kernel in an arm64 image is refused for every loader, not only for a UKI.
#[test]
fn an_x86_64_kernel_in_an_arm64_image_is_refused_for_every_loader() {
    for loader in ["systemd-boot", "grub", "uki"] {
        let tmp = tempfile::tempdir().unwrap();
        guest_files(tmp.path());
        std::fs::create_dir_all(tmp.path().join("wrong/boot")).unwrap();
        std::fs::copy(payload("amd64", "boot/vmlinuz").join("boot/vmlinuz"), tmp.path().join("wrong/boot/vmlinuz"))
            .unwrap();
        let text = arm64(&RECIPE.replace("systemd-boot", loader))
            .replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string())
            + "[[partition.contents]]\ndir = \"wrong\"\n";
        let err = build_fails(&recipe(tmp.path(), &text), &tmp.path().join("out.raw"));
        assert!(
            err.contains("/boot/vmlinuz in the root tree is an x86_64 binary, but the recipe's boot.arch is arm64"),
            "{loader}: {err}"
        );
    }
}

/// An arm64 recipe registers an arm64 AMI that boots with UEFI (EC2's only boot mode for
/// arm64), even when the recipe installs no boot loader of its own: RegisterImage as the
/// strict moto recorded it.
#[test]
fn an_arm64_recipe_registers_an_arm64_uefi_ami() {
    let moto = crate::util::aws::Server::moto();
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let loaders = [arm64(RECIPE), "name = \"bare\"\nsize = \"64 MiB\"\n[boot]\narch = \"arm64\"\n[[partition]]\ntype = \"root-arm64\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n".into()];
    for (i, text) in loaders.iter().enumerate() {
        let text = text.replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string())
            + "[ami]\nname = \"{name}-{arch}\"\n";
        let r = recipe(tmp.path(), &text);
        let out = tmp.path().join("arm64.raw");
        let p = crate::util::aws::publish_recipe(&moto.endpoint(), &r, &out);
        let q = &moto.ec2("RegisterImage")[i]["params"];
        assert_eq!((&q["Architecture"], &q["BootMode"]), (&"arm64".into(), &"uefi".into()), "{q}");
        assert!(p["register"]["name"].as_str().unwrap().ends_with("-arm64"), "{p}");
    }
}

/// Bad arm64 recipes are refused at the recipe key, before anything is written: BIOS boot
/// (x86 only) and an AMI boot mode other than UEFI.
#[test]
fn arm64_with_bios_boot_or_a_bios_boot_mode_is_refused_at_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let text = arm64(RECIPE).replace("PAYLOAD", &payload("arm64", "boot/vmlinuz").display().to_string());
    for (change, want) in [
        (
            text.replace("uefi = \"systemd-boot\"", "uefi = \"grub\"\nbios = \"grub\""),
            "boot.bios: BIOS boot exists on x86_64 only",
        ),
        (
            text.clone() + "[ami]\nname = \"x\"\nboot_mode = \"legacy-bios\"\n",
            "ami.boot_mode: arm64 AMIs boot with UEFI only",
        ),
    ] {
        let err = build_fails(&recipe(tmp.path(), &change), &tmp.path().join("out.raw"));
        assert!(err.contains("recipe.toml:") && err.contains(want), "{err}");
    }
}
