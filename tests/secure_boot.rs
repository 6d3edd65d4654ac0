//! UEFI Secure Boot: `ingot keys`, and images whose EFI binaries ingot signs with the
//! recipe's db key (Authenticode, in Rust), judged by Debian's sbverify (sbsigntool) and
//! OpenSSL.

use crate::boot::{boot_log, guest_files, Firmware, RECIPE};
use crate::util::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `ingot keys DIR`: the keys of PK, KEK and db.
fn keys(dir: &Path) {
    let o = run(ingot().arg("keys").arg(dir).args(["--common-name", "Test Corp"]));
    assert!(o.status.success(), "ingot keys: {}", String::from_utf8_lossy(&o.stderr));
}

const SECURE_BOOT: &str =
    "[secure_boot]\npk = \"keys/PK.crt\"\nkek = \"keys/KEK.crt\"\ndb = \"keys/db.crt\"\ndb_key = \"keys/db.key\"\n";

/// Copies `path` from the ESP (the first partition in `report`) of `image` to `to`.
fn from_esp(image: &Path, report: &serde_json::Value, path: &str, to: &Path) {
    let esp = report["partitions"][0]["offset"].as_u64().unwrap();
    let o = run(Command::new("mcopy")
        .arg("-i")
        .arg(format!("{}@@{esp}", image.display()))
        .arg(format!("::{path}"))
        .arg(to));
    assert!(o.status.success(), "mcopy {path}: {}", String::from_utf8_lossy(&o.stderr));
}

/// sbverify with `cert`: true when the signature verifies.
fn sbverify(cert: &Path, binary: &Path) -> bool {
    let o = run(Command::new("sbverify").arg("--cert").arg(cert).arg(binary));
    String::from_utf8_lossy(&o.stdout).contains("Signature verification OK") && o.status.success()
}

#[test]
fn keys_are_fresh_private_and_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    keys(&dir);
    for name in ["PK", "KEK", "db"] {
        let mode = std::fs::metadata(dir.join(format!("{name}.key"))).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}.key");
        let o = run(Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-ext", "keyUsage", "-in"])
            .arg(dir.join(format!("{name}.crt"))));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(&format!("CN = Test Corp {name}")) && text.contains("Digital Signature"), "{text}");
        let o =
            run(Command::new("openssl").args(["rsa", "-noout", "-text", "-in"]).arg(dir.join(format!("{name}.key"))));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Private-Key: (2048 bit"), "{name}.key is RSA-2048");
        // The signature list holds the certificate: efitools' sig-list-to-certs reads it back.
        let o = run(Command::new("sig-list-to-certs").arg(dir.join(format!("{name}.esl"))).arg(tmp.path().join(name)));
        assert!(o.status.success(), "sig-list-to-certs: {}", String::from_utf8_lossy(&o.stderr));
        let der = std::fs::read(tmp.path().join(format!("{name}-0.der"))).unwrap();
        let o =
            run(Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(dir.join(format!("{name}.crt"))));
        assert_eq!(der, o.stdout, "{name}.esl holds {name}.crt");
    }
    let before = sha256_file(&dir.join("db.key"));
    let o = run(ingot().arg("keys").arg(&dir));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("exists: ingot keys never overwrites a key"), "{err}");
    assert_eq!(sha256_file(&dir.join("db.key")), before);
}

/// Builds the boot test recipe with `loader` for `arch` (Debian's name) with
/// `[secure_boot]`, twice; returns the image, its report and the directory.
fn signed_image(loader: &str, arch: &str) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    keys(&tmp.path().join("keys"));
    let mut text = RECIPE.replace("uefi = \"systemd-boot\"", &format!("uefi = \"{loader}\""));
    if arch == "arm64" {
        text = text.replace("[boot]\n", "[boot]\narch = \"arm64\"\n").replace("root-x86-64", "root-arm64");
    }
    let text = text.replace("PAYLOAD", &payload(arch, "boot/vmlinuz").display().to_string()) + SECURE_BOOT;
    let r = recipe(tmp.path(), &text);
    let (a, b) = (tmp.path().join("a.raw"), tmp.path().join("b.raw"));
    let report = build_checked(&r, &a);
    build_checked(&r, &b);
    assert_eq!(sha256_file(&a), sha256_file(&b), "two signed builds differ");
    std::fs::remove_file(&b).unwrap();
    (tmp, a, report)
}

#[test]
fn every_efi_binary_is_signed_by_the_db_key_and_only_by_it() {
    for (loader, arch, files) in [
        ("uki", "amd64", &["/EFI/BOOT/BOOTX64.EFI"][..]),
        ("systemd-boot", "amd64", &["/EFI/BOOT/BOOTX64.EFI", "/ingot/linux"][..]),
        ("uki", "arm64", &["/EFI/BOOT/BOOTAA64.EFI"][..]),
    ] {
        let (tmp, image, report) = signed_image(loader, arch);
        // ingot inspect names each binary, its architecture and its signer.
        let inspected = crate::util::aws::json(ingot().arg("inspect").arg(&image).arg("--json"));
        let found = &inspected["partitions"][0]["efi_binaries"];
        let listed: Vec<&str> = found.as_array().unwrap().iter().map(|b| b["path"].as_str().unwrap()).collect();
        assert_eq!(listed, *files, "{loader} {arch}: {inspected}");
        for b in found.as_array().unwrap() {
            let want_arch = if arch == "arm64" { "arm64" } else { "x86_64" };
            assert_eq!(
                (b["architecture"].as_str(), &b["signed_by"]),
                (Some(want_arch), &serde_json::json!(["CN=Test Corp db"])),
                "{b}"
            );
        }
        for (i, file) in files.iter().enumerate() {
            let copy = tmp.path().join(format!("{i}.efi"));
            from_esp(&image, &report, file, &copy);
            assert!(sbverify(&tmp.path().join("keys/db.crt"), &copy), "{loader} {arch}: {file} verifies with db.crt");
            assert!(
                !sbverify(&tmp.path().join("keys/KEK.crt"), &copy),
                "{loader} {arch}: {file} must not verify with KEK.crt"
            );
        }
    }
}

#[test]
fn secure_boot_with_grub_or_a_bios_boot_mode_or_a_missing_key_is_refused_at_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    keys(&tmp.path().join("keys"));
    let text = RECIPE.replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string()) + SECURE_BOOT;
    for (change, want) in [
        (text.replace("uefi = \"systemd-boot\"", "uefi = \"grub\""), "boot.uefi: GRUB cannot boot with [secure_boot]"),
        (
            text.clone() + "[ami]\nname = \"x\"\nboot_mode = \"uefi-preferred\"\n",
            "ami.boot_mode: Secure Boot needs boot mode \"uefi\"",
        ),
        (text.replace("keys/db.key", "keys/missing.key"), "secure_boot.db_key: "),
        (text.replace("keys/db.key", "keys/KEK.key"), "KEK.key is not the private key of"),
        (text.replace("db = \"keys/db.crt\"", "db = []"), "secure_boot.db: give at least the certificate of db_key"),
    ] {
        let err = build_fails(&recipe(tmp.path(), &change), &tmp.path().join("out.raw"));
        assert!(err.contains("recipe.toml:") && err.contains(want), "want {want:?}: {err}");
    }
}

/// AWS's `uefivars` (PyPI, in the test venv) with `args`; its stdout.
fn uefivars(args: &[&std::ffi::OsStr]) -> String {
    let bin = crate::util::aws::python().with_file_name("uefivars");
    let o = run(Command::new(&bin).args(args));
    assert!(o.status.success(), "uefivars: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The build's UEFI variable store (`OUT.json`'s `uefi_data`) is what AWS's uefivars
/// reads: exactly PK, KEK and db with their GUIDs and attributes (NV, BS, RT, time-based
/// authenticated), holding the recipe's certificates (the same lists `ingot keys` wrote),
/// dated SOURCE_DATE_EPOCH; uefivars turns it into an OVMF variable store, with which
/// OVMF's Secure Boot build boots the signed UKI to the marker with Secure Boot on, and
/// refuses the same image unsigned.
#[test]
fn the_variable_store_reads_back_with_uefivars_and_secure_boot_runs_only_the_signed_uki() {
    let (tmp, image, report) = signed_image("uki", "amd64");
    let text = report["uefi_data"].as_str().expect("uefi_data in the report");
    assert_eq!(report["uefi_data_sha256"].as_str().unwrap(), sha256(text.as_bytes()));
    let blob = tmp.path().join("uefi.b64");
    std::fs::write(&blob, text).unwrap();
    let json: serde_json::Value = serde_json::from_str(&uefivars(&[
        "-i".as_ref(),
        "aws".as_ref(),
        "-I".as_ref(),
        blob.as_os_str(),
        "-o".as_ref(),
        "json".as_ref(),
    ]))
    .unwrap();
    let vars = json["variables"].as_array().unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["PK", "KEK", "db"]);
    for v in vars {
        let name = v["name"].as_str().unwrap();
        let guid =
            if name == "db" { "d719b2cb-3d3a-4596-a3bc-dad00e67656f" } else { "8be4df61-93ca-11d2-aa0d-00e098032b8c" };
        assert_eq!((v["guid"].as_str().unwrap(), v["attr"].as_u64().unwrap()), (guid, 0x27), "{name}");
        let esl = std::fs::read(tmp.path().join(format!("keys/{name}.esl"))).unwrap();
        assert_eq!(v["data"].as_str().unwrap(), hex(&esl), "{name} holds the recipe's certificate");
        // EFI_TIME of 1700000000: 2023-11-14 22:13:20
        assert!(v["timestamp"].as_str().unwrap().starts_with("e7070b0e160d14"), "{v}");
    }
    let vars_fd = tmp.path().join("secure-boot-vars.fd");
    uefivars(&[
        "-i".as_ref(),
        "aws".as_ref(),
        "-I".as_ref(),
        blob.as_os_str(),
        "-o".as_ref(),
        "edk2".as_ref(),
        "-O".as_ref(),
        vars_fd.as_os_str(),
    ]);
    let want = guest_files(tmp.path());
    let (line, log) =
        boot_log(&image, Firmware::OvmfSecureBoot, "nvme", tmp.path(), "INGOT-BOOT-OK", Duration::from_secs(300));
    assert_eq!(line, want);
    assert!(log.iter().any(|l| l.contains("secureboot: Secure boot enabled")), "the kernel saw Secure Boot on");

    // The same recipe without [secure_boot]: the firmware refuses the unsigned UKI.
    let text = std::fs::read_to_string(tmp.path().join("recipe.toml")).unwrap();
    let unsigned = recipe(tmp.path(), &text[..text.find("[secure_boot]").unwrap()]);
    let out = tmp.path().join("unsigned.raw");
    build_checked(&unsigned, &out);
    let (line, _) =
        boot_log(&out, Firmware::OvmfSecureBoot, "nvme", tmp.path(), "Access Denied", Duration::from_secs(300));
    assert!(line.starts_with("Access Denied"), "{line}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ingot publish` of a `[secure_boot]` recipe registers with boot mode `uefi` and the
/// build's variable store as `UefiData` (the strict moto's recorded RegisterImage).
#[test]
fn publish_sends_the_variable_store_as_uefi_data() {
    let moto = crate::util::aws::Server::moto();
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    keys(&tmp.path().join("keys"));
    let text = RECIPE
        .replace("uefi = \"systemd-boot\"", "uefi = \"uki\"")
        .replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string())
        + SECURE_BOOT
        + "[ami]\nname = \"{name}-sb\"\n";
    let r = recipe(tmp.path(), &text);
    let out = tmp.path().join("sb.raw");
    crate::util::aws::publish_recipe(&moto.endpoint(), &r, &out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("sb.raw.json")).unwrap()).unwrap();
    let q = &moto.ec2("RegisterImage")[0]["params"];
    assert_eq!(q["BootMode"], "uefi");
    assert_eq!(q["UefiData"], report["uefi_data"], "RegisterImage carries the build's store");
}
