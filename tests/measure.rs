//! The TPM measurements of a UKI's boot (`ingot measure`, OUT.json's `measurements`)
//! judged by AWS's own tool, `nitro-tpm-pcr-compute` (crates.io, pinned; built by
//! scripts/install-test-deps.sh): on the same UKI, unsigned and signed with its Secure
//! Boot variables, it prints what `ingot measure --format nitrotpm` prints; and systemd's
//! `systemd-measure` predicts the PCR11 ingot reports.

use crate::util::*;
use std::path::Path;
use std::process::Command;

/// AWS's tool, as scripts/install-test-deps.sh links it: its JSON, parsed and as text.
fn nitro_tpm_pcr_compute(args: &[&std::ffi::OsStr]) -> (serde_json::Value, String) {
    let tool = repo().join("target/nitro-tpm-pcr-compute");
    assert!(tool.exists(), "no {}: run scripts/install-test-deps.sh", tool.display());
    let o = run(Command::new(&tool).args(args));
    assert!(o.status.success(), "nitro-tpm-pcr-compute {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (serde_json::from_str(&text).expect("nitro-tpm-pcr-compute prints JSON"), text)
}

/// `ingot measure IMAGE --format nitrotpm`, parsed; and the same text must be what
/// `nitro-tpm-pcr-compute` writes (two-space indented JSON).
fn measured(image: &Path) -> (serde_json::Value, String) {
    let o = run(ingot().arg("measure").arg(image).args(["--format", "nitrotpm"]));
    assert!(o.status.success(), "ingot measure: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (serde_json::from_str(&text).unwrap(), text)
}

/// The UKI of the boot tests' recipe, x86_64 and arm64, built unsigned, with
/// `[secure_boot]` (twice: one set of measurements), with another db key and with another
/// command line: AWS's tool reads the UKI copied off the ESP (and the keys' signature
/// lists) and prints exactly what `ingot measure` prints and OUT.json holds;
/// systemd-measure predicts its PCR11. Each change moves exactly the PCRs it should:
/// another db key PCR7 only; another command line PCR4 and PCR11; a changed byte in the
/// UKI PCR4 and PCR11.
#[test]
fn aws_tool_and_systemd_agree_with_ingot_on_signed_and_unsigned_ukis() {
    for arch in ["amd64", "arm64"] {
        let tmp = tempfile::tempdir().unwrap();
        crate::secure_boot::keys(&tmp.path().join("keys"));
        crate::secure_boot::keys(&tmp.path().join("other"));
        let payload = payload(arch, "boot/vmlinuz").display().to_string();
        let mut text =
            crate::boot::RECIPE.replace("uefi = \"systemd-boot\"", "uefi = \"uki\"").replace("PAYLOAD", &payload);
        let removable = if arch == "arm64" { "/EFI/BOOT/BOOTAA64.EFI" } else { "/EFI/BOOT/BOOTX64.EFI" };
        if arch == "arm64" {
            text = text.replace("[boot]\n", "[boot]\narch = \"arm64\"\n").replace("root-x86-64", "root-arm64");
        }
        std::fs::create_dir_all(tmp.path().join("sparse")).unwrap();
        std::fs::write(tmp.path().join("guest.tar"), tar_of_nothing()).unwrap();
        let signed = crate::secure_boot::SECURE_BOOT;
        let mut values = Vec::new();
        let other_cmdline = text.replace("panic=-1", "panic=-1 quiet");
        for (name, text, extra) in [
            ("unsigned", &text, String::new()),
            ("signed", &text, signed.into()),
            ("other", &text, signed.replace("keys/", "other/")),
            ("cmdline", &other_cmdline, String::new()),
        ] {
            let what = format!("{arch} {name}");
            let image = tmp.path().join(format!("{name}.raw"));
            let report = build(&recipe(tmp.path(), &format!("{text}{extra}")), &image);
            let uki = tmp.path().join(format!("{name}.efi"));
            from_esp(&image, &report, removable, &uki);
            let mut args = vec![std::ffi::OsString::from("--image"), uki.into_os_string()];
            if !extra.is_empty() {
                let dir = if name == "other" { "other" } else { "keys" };
                for var in ["PK", "KEK", "db"] {
                    args.push(format!("--{var}").into());
                    args.push(tmp.path().join(format!("{dir}/{var}.esl")).into_os_string());
                }
            }
            let (theirs, their_text) = nitro_tpm_pcr_compute(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
            let (ours, our_text) = measured(&image);
            assert_eq!(ours, theirs, "{what}: ingot measure --format nitrotpm vs AWS's tool");
            assert_eq!(our_text.trim_end(), their_text.trim_end(), "{what}: the same text, keys in the same order");
            let m = &report["measurements"];
            assert_eq!(m["secure_boot"], !extra.is_empty(), "{what}");
            for (i, pcr) in [(4, "PCR4"), (7, "PCR7"), (12, "PCR12")] {
                assert_eq!(pcr_of(m, "SHA384", i)["value"], theirs["Measurements"][pcr], "{what}: OUT.json's {pcr}");
            }
            // The kernel is measured through the firmware without Secure Boot only (stub 252).
            let pcr4_events = pcr_of(m, "SHA384", 4)["events"].as_array().unwrap().len();
            assert_eq!(pcr4_events, if extra.is_empty() { 4 } else { 3 }, "{what}: {}", pcr_of(m, "SHA384", 4));
            if name != "other" {
                for (bank, flag) in [("SHA256", "sha256"), ("SHA384", "sha384")] {
                    let theirs = systemd_measure(&image, &report, removable, flag);
                    assert_eq!(pcr_of(m, bank, 11)["value"], theirs, "{what}: PCR11 ({bank})");
                }
            }
            if name == "signed" {
                let again = build(&recipe(tmp.path(), &format!("{text}{extra}")), &tmp.path().join("again.raw"));
                assert_eq!(
                    again["measurements"], report["measurements"],
                    "{what}: two builds, one set of measurements"
                );
            }
            values.push(sha384_pcrs(m));
        }
        let (unsigned, signed, other, cmdline) = (&values[0], &values[1], &values[2], &values[3]);
        assert_ne!(unsigned[1], signed[1], "{arch}: Secure Boot changes PCR7");
        let changed = |a: &[String], b: &[String]| {
            [4, 7, 11, 12]
                .into_iter()
                .zip(a.iter().zip(b))
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        // The image hash leaves the signature out.
        assert_eq!(changed(signed, other), [7], "{arch}: another db key changes PCR7 only");
        assert_eq!(
            changed(unsigned, cmdline),
            [4, 11],
            "{arch}: another command line changes the UKI (PCR4) and its .cmdline (PCR11)"
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("unsigned.raw.json")).unwrap()).unwrap();
        let tampered = crate::secure_boot::tampered(&tmp.path().join("unsigned.raw"), &report, removable);
        let o = run(ingot().arg("measure").arg(&tampered).arg("--json"));
        assert!(o.status.success(), "ingot measure: {}", String::from_utf8_lossy(&o.stderr));
        let byte = sha384_pcrs(&serde_json::from_slice(&o.stdout).unwrap());
        assert_eq!(changed(unsigned, &byte), [4, 11], "{arch}: a changed byte in the UKI's kernel or initrd");
    }
}

/// The SHA-384 PCRs 4, 7, 11 and 12 of `measurements`.
fn sha384_pcrs(m: &serde_json::Value) -> Vec<String> {
    [4, 7, 11, 12].iter().map(|&i| pcr_of(m, "SHA384", i)["value"].as_str().unwrap().to_owned()).collect()
}

/// PCR `index` of `bank` in OUT.json's `measurements`.
fn pcr_of<'a>(m: &'a serde_json::Value, bank: &str, index: u64) -> &'a serde_json::Value {
    let bank = m["banks"].as_array().unwrap().iter().find(|b| b["algorithm"] == bank).unwrap();
    bank["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["index"] == index)
        .unwrap_or_else(|| panic!("no PCR{index} in {bank}"))
}

/// PCR11 as systemd's `systemd-measure calculate` (Debian's systemd) predicts it before
/// any boot phase, in `bank` (`sha256`, `sha384`), from the sections of the UKI at
/// `removable` on `image`'s ESP as binutils' objcopy extracts them.
fn systemd_measure(image: &Path, report: &serde_json::Value, removable: &str, bank: &str) -> String {
    let dir = image.with_extension("sections");
    std::fs::create_dir_all(&dir).unwrap();
    let uki = dir.join("uki.efi");
    from_esp(image, report, removable, &uki);
    let mut cmd = Command::new(
        ["/usr/lib/systemd/systemd-measure", "/lib/systemd/systemd-measure"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("systemd-measure"),
    );
    cmd.args(["calculate", "--phase=", &format!("--bank={bank}")]);
    for section in ["linux", "osrel", "cmdline", "initrd"] {
        let file = dir.join(section);
        let o = run(Command::new("objcopy")
            .args(["-O", "binary", &format!("--only-section=.{section}")])
            .arg(&uki)
            .arg(&file));
        assert!(o.status.success(), "objcopy .{section}: {}", String::from_utf8_lossy(&o.stderr));
        cmd.arg(format!("--{section}={}", file.display()));
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "systemd-measure: {}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let value = out.lines().find_map(|l| l.strip_prefix(&format!("11:{bank}=")));
    value.unwrap_or_else(|| panic!("no PCR11 in systemd-measure's {out}")).to_string()
}

/// An empty tar: the boot recipe's `guest.tar` source, which these builds do not need.
fn tar_of_nothing() -> Vec<u8> {
    vec![0u8; 1024]
}

/// `ingot measure` of an image without a UKI or systemd-boot says what it measures.
#[test]
fn measure_refuses_an_image_without_a_uki_or_systemd_boot() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "name = \"plain\"\nsize = \"64 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"32 MiB\"\nfilesystem = \"vfat\"\n");
    let image = dir.path().join("plain.raw");
    build(&r, &image);
    let o = run(ingot().arg("measure").arg(&image));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("no EFI system partition with a UKI or systemd-boot at /EFI/BOOT/BOOTX64.EFI"),
        "{err}"
    );
}

/// The PCRs the boot tests' guest prints (tests/boot.rs INIT) when its image is booted
/// with a TPM: SHA-384 then SHA-256, PCRs 4, 7, 11 and 12, each `bank:index=value,`, as
/// OUT.json's `measurements` predict them; `none` for an image without measurements
/// (booted without a TPM). OVMF and AAVMF measure the same events as EC2's firmware
/// (the disk is first in their boot order, see ingot-qemu), so the values must be equal.
pub(crate) fn guest_pcrs(report: &serde_json::Value) -> String {
    let m = &report["measurements"];
    if !m.is_object() {
        return "none".into();
    }
    let mut line = String::new();
    for (bank, name) in [("SHA384", "sha384"), ("SHA256", "sha256")] {
        for i in [4, 7, 11, 12] {
            line += &format!("{name}:{i}={},", pcr_of(m, bank, i)["value"].as_str().unwrap());
        }
    }
    line
}

/// recipes/attestable.toml (with fresh keys where it reads them, from the test payload)
/// builds a Secure Boot UKI over a verity root for a NitroTPM AMI: the image passes the
/// format judges, the UKI's signed command line holds the root hash, AWS's tool predicts
/// the PCRs OUT.json holds, and the AMI asks for NitroTPM with UEFI. (Its boot is the
/// x86_64 Secure Boot UKI boot of tests/secure_boot.rs, whose guest reads the PCRs.)
#[test]
fn the_attestable_recipe_makes_a_signed_verity_uki_whose_pcrs_aws_tool_agrees_with() {
    payload("amd64", "boot/vmlinuz");
    let keys = repo().join("target/attestable-keys");
    if !keys.join("db.key").exists() {
        crate::secure_boot::keys(&keys);
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("attestable.raw");
    let report = build_checked(&repo().join("recipes/attestable.toml"), &image);
    let m = &report["measurements"];
    assert!(m["secure_boot"] == true && m["loader"] == "uki", "{m}");
    let root_hash = report["verity"][0]["root_hash"].as_str().unwrap();
    let uki = tmp.path().join("uki.efi");
    from_esp(&image, &report, "/EFI/BOOT/BOOTX64.EFI", &uki);
    let cmdline = tmp.path().join("cmdline");
    let o = run(Command::new("objcopy").args(["-O", "binary", "--only-section=.cmdline"]).arg(&uki).arg(&cmdline));
    assert!(o.status.success(), "objcopy: {}", String::from_utf8_lossy(&o.stderr));
    let cmdline = std::fs::read_to_string(&cmdline).unwrap();
    assert!(cmdline.contains(&format!("roothash={root_hash}")), "the UKI's command line: {cmdline}");
    let mut args = vec![std::ffi::OsString::from("--image"), uki.into_os_string()];
    for var in ["PK", "KEK", "db"] {
        args.extend([format!("--{var}").into(), keys.join(format!("{var}.esl")).into_os_string()]);
    }
    let (theirs, _) = nitro_tpm_pcr_compute(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    for (i, pcr) in [(4, "PCR4"), (7, "PCR7"), (12, "PCR12")] {
        assert_eq!(pcr_of(m, "SHA384", i)["value"], theirs["Measurements"][pcr], "OUT.json's {pcr}");
    }
    let o = run(ingot().arg("check").arg(repo().join("recipes/attestable.toml")).arg("--json"));
    let check: serde_json::Value = serde_json::from_slice(&o.stdout).expect("ingot check --json");
    assert!(o.status.success(), "ingot check: {check}");
    let ami = &check["ami"];
    assert!(ami["tpm"] == true && ami["boot_mode"] == "uefi", "{ami}");
}
