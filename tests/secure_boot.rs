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
pub(crate) fn keys(dir: &Path) {
    let o = run(ingot().arg("keys").arg(dir).args(["--common-name", "Test Corp"]));
    assert!(o.status.success(), "ingot keys: {}", String::from_utf8_lossy(&o.stderr));
}

pub(crate) const SECURE_BOOT: &str =
    "[secure_boot]\npk = \"keys/PK.crt\"\nkek = \"keys/KEK.crt\"\ndb = \"keys/db.crt\"\ndb_key = \"keys/db.key\"\n";

/// sbverify with `cert`: true when the signature verifies.
fn sbverify(cert: &Path, binary: &Path) -> bool {
    let o = run(Command::new("sbverify").arg("--cert").arg(cert).arg(binary));
    // The image hash skips gaps between sections: a signed file must have none. (Bytes
    // after the last section are hashed; sbverify warns of them as "data remaining", as
    // it does for Debian's arm64 systemd-boot, signed by sbsign or by ingot.)
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("gap in section table"), "{}: sbverify warns: {err}", binary.display());
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
/// `[secure_boot]` (a UKI's root under dm-verity, [`crate::verity::verity_root`]), twice;
/// returns the image, its report and the directory.
fn signed_image(loader: &str, arch: &str) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    keys(&tmp.path().join("keys"));
    let mut text = RECIPE.replace("uefi = \"systemd-boot\"", &format!("uefi = \"{loader}\""));
    if loader == "uki" {
        // The UKI's command line, which Secure Boot covers, pins the root by its root hash;
        // arm64's root is EROFS, x86_64's ext4.
        let fs = if arch == "arm64" { "erofs" } else { "ext4" };
        text = crate::verity::verity_root_as(&text, tmp.path(), &payload(arch, "boot/vmlinuz"), fs);
    }
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
        ("systemd-boot", "arm64", &["/EFI/BOOT/BOOTAA64.EFI", "/ingot/linux"][..]),
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

/// Bad input, each an error at its key that names the file, with nothing left behind.
#[test]
fn secure_boot_with_grub_a_bios_boot_mode_or_bad_keys_is_refused_at_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    keys(&tmp.path().join("keys"));
    non_rsa_2048_certificates(tmp.path());
    oversized_dbx(&tmp.path().join("big-dbx.esl"));
    let text = RECIPE.replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string()) + SECURE_BOOT;
    for (change, want) in [
        (
            text.replace("keys/PK.crt", "ec.crt"),
            "ec.crt: the certificate's key is not RSA (algorithm 1.2.840.10045.2.1)",
        ),
        (
            text.replace("keys/KEK.crt", "rsa3072.crt"),
            "rsa3072.crt: the certificate's key is RSA-3072; UEFI firmware and EC2 take RSA-2048",
        ),
        (text.clone() + "dbx = \"big-dbx.esl\"\n", "secure_boot: the UEFI variable store is "),
        (text.replace("uefi = \"systemd-boot\"", "uefi = \"grub\""), "boot.uefi: GRUB cannot boot with [secure_boot]"),
        (
            text.clone() + "[ami]\nname = \"x\"\nboot_mode = \"legacy-bios\"\n",
            "ami.boot_mode: Secure Boot needs boot mode \"uefi\"",
        ),
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
        for (file, key) in [("ec.crt", "secure_boot.pk: "), ("rsa3072.crt", "secure_boot.kek: ")] {
            assert!(!want.starts_with(file) || err.contains(key), "{key}: {err}");
        }
        if want == "secure_boot.db_key: " {
            assert!(err.contains("missing.key"), "names the file: {err}");
        }
    }
}

/// Certificates whose keys are not RSA-2048, made by OpenSSL in `dir`: `ec.crt` (P-256)
/// and `rsa3072.crt`.
fn non_rsa_2048_certificates(dir: &Path) {
    for (name, newkey) in [("ec", "ec"), ("rsa3072", "rsa:3072")] {
        let mut req = Command::new("openssl");
        req.args(["req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=x", "-newkey", newkey]);
        if newkey == "ec" {
            req.args(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        let (key, crt) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.crt")));
        let o = run(req.arg("-keyout").arg(key).arg("-out").arg(crt));
        assert!(o.status.success(), "openssl req: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// Writes a dbx of 2,000 SHA-256 hashes (one `EFI_CERT_SHA256_GUID` list, 48 bytes per
/// entry) to `path`: hashes do not compress, so the store is over the 64,000 characters
/// RegisterImage takes.
fn oversized_dbx(path: &Path) {
    let mut dbx = Vec::new();
    dbx.extend(uuid_le("c1c41626-504c-4092-aca9-41f936934328"));
    dbx.extend((28 + 2000 * 48u32).to_le_bytes());
    dbx.extend(0u32.to_le_bytes());
    dbx.extend(48u32.to_le_bytes());
    for i in 0..2000u32 {
        dbx.extend([0u8; 16]);
        dbx.extend(<sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()));
    }
    std::fs::write(path, dbx).unwrap();
}

/// An `EFI_GUID` as stored: the first three fields little-endian.
fn uuid_le(text: &str) -> Vec<u8> {
    let hex: Vec<u8> = text
        .replace('-', "")
        .as_bytes()
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect();
    let mut le = hex.clone();
    le[..4].reverse();
    le[4..6].reverse();
    le[6..8].reverse();
    le
}

/// AWS's `uefivars` (PyPI, in the test venv) with `args`; its stdout.
fn uefivars(args: &[&str]) -> String {
    let bin = crate::util::aws::python().with_file_name("uefivars");
    let o = run(Command::new(&bin).args(args));
    assert!(o.status.success(), "uefivars: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The build's UEFI variable store (`OUT.json`'s `uefi_data`) is what AWS's uefivars
/// reads: exactly PK, KEK and db, then dbx, with their GUIDs and attributes (NV, BS, RT,
/// time-based authenticated), holding the recipe's certificates (the same lists `ingot
/// keys` wrote) and dbx file, dated SOURCE_DATE_EPOCH.
#[test]
fn the_variable_store_reads_back_with_uefivars_with_and_without_dbx() {
    let (tmp, image, report) = signed_image("uki", "amd64");
    assert_eq!(report["uefi_data_sha256"].as_str().unwrap(), sha256(report["uefi_data"].as_str().unwrap().as_bytes()));
    let vars = store_variables(tmp.path(), &report);
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["PK", "KEK", "db"]);
    for v in &vars {
        let name = v["name"].as_str().unwrap();
        let esl = std::fs::read(tmp.path().join(format!("keys/{name}.esl"))).unwrap();
        assert_eq!(v["data"].as_str().unwrap(), hex(&esl), "{name} holds the recipe's certificate");
    }
    let text = std::fs::read_to_string(tmp.path().join("recipe.toml")).unwrap();
    // The list form docs/recipe.md shows is the same recipe.
    let list = text.replace("db = \"keys/db.crt\"", "db = [\"keys/db.crt\"]");
    assert_ne!(list, text);
    let listed = tmp.path().join("list.raw");
    let list_recipe = tmp.path().join("list.toml");
    std::fs::write(&list_recipe, &list).unwrap();
    let r = build_checked(&list_recipe, &listed);
    assert_eq!((&r["uefi_data"], sha256_file(&listed)), (&report["uefi_data"], sha256_file(&image)));
    std::fs::remove_file(&listed).unwrap();
    let (dbx, report) = with_dbx(tmp.path(), &text, &image, &report);
    let vars = store_variables(tmp.path(), &report);
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["PK", "KEK", "db", "dbx"]);
    assert_eq!(vars[3]["data"].as_str().unwrap(), hex(&std::fs::read(tmp.path().join("dbx.esl")).unwrap()));
    assert_eq!(sha256_file(&dbx), sha256_file(&image), "dbx changes the store, not the image");
}

/// The flash `ingot boot --secure-boot` starts the firmware from holds the build's store,
/// as virt-firmware's `virt-fw-vars` and AWS's `uefivars` read it: in OVMF's empty store,
/// exactly PK, KEK, db (and dbx); in AAVMF's (Debian's store with Microsoft's keys), the
/// same keys (Microsoft's dbx gone when the recipe has none) beside the firmware's other
/// variables, unchanged.
#[test]
fn ingot_boot_writes_the_build_store_into_ovmf_and_aavmf_flash() {
    let (tmp, image, report) = signed_image("uki", "amd64");
    let text = std::fs::read_to_string(tmp.path().join("recipe.toml")).unwrap();
    let (dbx_image, _) = with_dbx(tmp.path(), &text, &image, &report);
    let read = |flash: &[u8], name: &str| -> Vec<serde_json::Value> {
        let (fd, json) = (tmp.path().join(format!("{name}.fd")), tmp.path().join(format!("{name}.json")));
        std::fs::write(&fd, flash).unwrap();
        virt_fw_vars(&["-i", &fd.to_string_lossy(), "--output-json", &json.to_string_lossy()]);
        let dump: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        dump["variables"].as_array().unwrap().clone()
    };
    let esl = |name: &str| {
        let file = if name == "dbx" { "dbx.esl".to_string() } else { format!("keys/{name}.esl") };
        hex(&std::fs::read(tmp.path().join(file)).unwrap())
    };
    let keys = |vars: &[serde_json::Value]| -> Vec<(String, String)> {
        let names = ["PK", "KEK", "db", "dbx", "dbt", "dbr"];
        let of =
            |v: &serde_json::Value| (v["name"].as_str().unwrap().to_string(), v["data"].as_str().unwrap().to_string());
        vars.iter().filter(|v| names.contains(&v["name"].as_str().unwrap())).map(of).collect()
    };
    let want = |names: &[&str]| -> Vec<(String, String)> { names.iter().map(|n| (n.to_string(), esl(n))).collect() };
    let ovmf = ingot::secure_boot::firmware_store(&image, "/usr/share/OVMF/OVMF_VARS_4M.fd".as_ref()).unwrap();
    assert_eq!(ovmf.len(), 540_672);
    let vars = read(&ovmf, "ovmf");
    assert_eq!(keys(&vars), want(&["PK", "KEK", "db"]));
    assert!(vars.iter().all(|v| v["attr"] == 39), "NV, BS, RT, time-based authenticated: {vars:?}");
    let fd = tmp.path().join("ovmf.fd").to_string_lossy().into_owned();
    let by_aws: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&uefivars(&["-i", "edk2", "-I", &fd, "-o", "json"])).unwrap()
            ["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(by_aws, ["PK", "KEK", "db"], "uefivars reads the same store");

    let template = "/usr/share/AAVMF/AAVMF_VARS.ms.fd";
    let before = read(&std::fs::read(template).unwrap(), "ms");
    for (image, names) in [(&image, &["PK", "KEK", "db"][..]), (&dbx_image, &["PK", "KEK", "db", "dbx"][..])] {
        let aavmf = ingot::secure_boot::firmware_store(image, template.as_ref()).unwrap();
        let vars = read(&aavmf, "aavmf");
        assert_eq!(keys(&vars), want(names));
        let others = |vars: &[serde_json::Value]| -> Vec<serde_json::Value> {
            vars.iter().filter(|v| !keys(std::slice::from_ref(v)).iter().any(|_| true)).cloned().collect()
        };
        assert_eq!(others(&vars), others(&before), "the firmware's other variables stay as they were");
    }
    let err = ingot::secure_boot::firmware_store(&image, "/usr/share/AAVMF/AAVMF_VARS.fd".as_ref()).unwrap_err();
    assert!(
        err.to_string().contains("AAVMF_VARS.fd: writing")
            && err.to_string().contains("not a formatted edk2 variable store"),
        "{err}"
    );
}

/// The recipe `text` (with `[secure_boot]` last) built in `dir` with a dbx that forbids
/// the signed UKI of `image`: its Authenticode hash as efitools' hash-to-efi-sig-list
/// computes it, in `dir/dbx.esl`. Returns the new image and report.
fn with_dbx(
    dir: &Path,
    text: &str,
    image: &Path,
    report: &serde_json::Value,
) -> (std::path::PathBuf, serde_json::Value) {
    let uki = dir.join("uki.efi");
    from_esp(image, report, "/EFI/BOOT/BOOTX64.EFI", &uki);
    let o = run(Command::new("hash-to-efi-sig-list").arg(&uki).arg(dir.join("dbx.esl")));
    assert!(o.status.success(), "hash-to-efi-sig-list: {}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("dbx.raw");
    let report = build_checked(&recipe(dir, &format!("{text}dbx = \"dbx.esl\"\n")), &out);
    (out, report)
}

/// The store in `report` as AWS's uefivars reads it (`-i aws -o json`): its variables,
/// each checked for its GUID, attributes and date.
fn store_variables(dir: &Path, report: &serde_json::Value) -> Vec<serde_json::Value> {
    let blob = dir.join("uefi.b64");
    std::fs::write(&blob, report["uefi_data"].as_str().expect("uefi_data in the report")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&uefivars(&["-i", "aws", "-I", &blob.to_string_lossy(), "-o", "json"])).unwrap();
    let vars = json["variables"].as_array().unwrap().clone();
    for v in &vars {
        let name = v["name"].as_str().unwrap();
        let guid = if name.starts_with("db") {
            "d719b2cb-3d3a-4596-a3bc-dad00e67656f" // EFI_IMAGE_SECURITY_DATABASE_GUID
        } else {
            "8be4df61-93ca-11d2-aa0d-00e098032b8c" // EFI_GLOBAL_VARIABLE
        };
        assert_eq!((v["guid"].as_str().unwrap(), v["attr"].as_u64().unwrap()), (guid, 0x27), "{name}");
        // EFI_TIME of 1700000000: 2023-11-14 22:13:20
        assert!(v["timestamp"].as_str().unwrap().starts_with("e7070b0e160d14"), "{v}");
    }
    vars
}

/// Writes `dir/secure-boot-vars.fd`, the firmware's variable store, made by independent
/// tools from the build's UefiData (`report["uefi_data"]`): OVMF's by AWS's uefivars
/// (`-i aws -o edk2`); AAVMF's by virt-firmware's virt-fw-vars, which reads the AWS format
/// and sets its variables in AAVMF's store (Debian's `AAVMF_VARS.ms.fd`, its own PK, KEK,
/// db and dbx deleted).
fn firmware_store(dir: &Path, report: &serde_json::Value, firmware: Firmware) {
    let blob = dir.join("uefi.b64");
    std::fs::write(&blob, report["uefi_data"].as_str().expect("uefi_data in the report")).unwrap();
    let (blob, fd) =
        (blob.to_string_lossy().into_owned(), dir.join("secure-boot-vars.fd").to_string_lossy().into_owned());
    if firmware == Firmware::OvmfSecureBoot {
        uefivars(&["-i", "aws", "-I", &blob, "-o", "edk2", "-O", &fd]);
        return;
    }
    let json = dir.join("uefi.json").to_string_lossy().into_owned();
    virt_fw_vars(&["-i", &blob, "--output-json", &json]);
    let template = "/usr/share/AAVMF/AAVMF_VARS.ms.fd";
    virt_fw_vars(&["-i", template, "-d", "PK", "-d", "KEK", "-d", "db", "-d", "dbx", "--set-json", &json, "-o", &fd]);
}

/// Boots `image` under `firmware` with the store in `dir` and requires the firmware to
/// refuse it: "Access Denied" from the firmware's boot manager (or from systemd-boot,
/// reporting the firmware's LoadImage), and no line of the kernel's before it.
fn refused(image: &Path, firmware: Firmware, dir: &Path) {
    let (_, log) = boot_log(image, firmware, "nvme", dir, "Access Denied", Duration::from_secs(300));
    let kernel = log.iter().find(|l| l.contains("EFI stub") || l.contains("Linux version"));
    assert!(kernel.is_none(), "the kernel ran before the refusal: {kernel:?}");
}

/// A copy of `image` with one byte in the middle of `path` on its ESP changed.
pub(crate) fn tampered(image: &Path, report: &serde_json::Value, path: &str) -> std::path::PathBuf {
    let dir = image.parent().unwrap();
    let (file, copy) = (dir.join("tampered.efi"), dir.join("tampered.raw"));
    from_esp(image, report, path, &file);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    std::fs::copy(image, &copy).unwrap();
    let esp = report["partitions"][0]["offset"].as_u64().unwrap();
    let o = run(Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@{esp}", copy.display()))
        .arg(&file)
        .arg(format!("::{path}")));
    assert!(o.status.success(), "mcopy {path}: {}", String::from_utf8_lossy(&o.stderr));
    copy
}

/// The chain under firmware enforcing Secure Boot with the build's store: the signed
/// image boots to the marker and the guest reads SecureBoot = 1 from efivarfs; the image
/// with one byte of the signed kernel (the UKI, or the kernel systemd-boot loads) changed
/// is refused, and so is the same recipe signed by another db key.
fn secure_boot_chain(loader: &str, arch: &str) -> (tempfile::TempDir, std::path::PathBuf, serde_json::Value) {
    let (tmp, image, report) = signed_image(loader, arch);
    let (firmware, uki) = match arch {
        "arm64" => (Firmware::AavmfSecureBoot, "/EFI/BOOT/BOOTAA64.EFI"),
        _ => (Firmware::OvmfSecureBoot, "/EFI/BOOT/BOOTX64.EFI"),
    };
    // The store the build wrote, as `ingot boot --secure-boot` writes it into the firmware's flash.
    let want = crate::boot::marker(firmware, &guest_files(tmp.path()), &report);
    let line = crate::boot::boot_until(&image, firmware, "nvme", tmp.path(), "INGOT-BOOT-OK", Duration::from_secs(300));
    assert_eq!(line, want);
    // The refused images have no report (or another's): they boot with this store, made
    // from the same uefi_data by independent tools.
    firmware_store(tmp.path(), &report, firmware);

    let kernel = if loader == "uki" { uki } else { "/ingot/linux" };
    refused(&tampered(&image, &report, kernel), firmware, tmp.path());

    keys(&tmp.path().join("other"));
    let text = std::fs::read_to_string(tmp.path().join("recipe.toml")).unwrap().replace("keys/", "other/");
    let other = tmp.path().join("other.raw");
    build_checked(&recipe(tmp.path(), &text), &other);
    refused(&other, firmware, tmp.path());
    (tmp, image, report)
}

/// Also, under the store that boots the signed UKI: the same recipe's UKI unsigned is
/// refused, and so is the signed UKI under the store with a dbx holding its hash.
#[test]
fn x86_64_uki_boots_under_ovmf_secure_boot_and_a_changed_foreign_unsigned_or_forbidden_one_is_refused() {
    let (tmp, image, report) = secure_boot_chain("uki", "amd64");
    // The chain's recipe, signed by the first keys.
    let text = std::fs::read_to_string(tmp.path().join("recipe.toml")).unwrap().replace("other/", "keys/");
    let unsigned = tmp.path().join("unsigned.raw");
    build_checked(&recipe(tmp.path(), &text[..text.find("[secure_boot]").unwrap()]), &unsigned);
    refused(&unsigned, Firmware::OvmfSecureBoot, tmp.path());
    // The image built with the dbx boots with the store its report holds (ingot's flash).
    let (forbidden, _) = with_dbx(tmp.path(), &text, &image, &report);
    std::fs::remove_file(tmp.path().join("secure-boot-vars.fd")).unwrap();
    refused(&forbidden, Firmware::OvmfSecureBoot, tmp.path());
    // The root under the signed UKI's root hash: one changed byte stops the boot.
    crate::verity::a_changed_root_is_refused(&image, &report, Firmware::OvmfSecureBoot, tmp.path());
}

#[test]
fn x86_64_systemd_boot_boots_under_ovmf_secure_boot_and_a_changed_or_foreign_kernel_is_refused() {
    secure_boot_chain("systemd-boot", "amd64");
}

#[test]
fn arm64_uki_boots_under_aavmf_secure_boot_and_a_changed_or_foreign_one_is_refused() {
    secure_boot_chain("uki", "arm64");
}

#[test]
fn arm64_systemd_boot_boots_under_aavmf_secure_boot_and_a_changed_or_foreign_kernel_is_refused() {
    secure_boot_chain("systemd-boot", "arm64");
}

/// virt-firmware's `virt-fw-vars` (PyPI, in the test venv) with `args`.
fn virt_fw_vars(args: &[&str]) {
    let bin = crate::util::aws::python().with_file_name("virt-fw-vars");
    let o = run(Command::new(&bin).args(args));
    assert!(o.status.success(), "virt-fw-vars {args:?}: {}", String::from_utf8_lossy(&o.stderr));
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
    let published = crate::util::aws::publish_recipe(&moto.endpoint(), &r, &out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("sb.raw.json")).unwrap()).unwrap();
    let q = &moto.ec2("RegisterImage")[0]["params"];
    assert_eq!(q["BootMode"], "uefi");
    assert_eq!(q["UefiData"], report["uefi_data"], "RegisterImage carries the build's store");
    // The AMI and its snapshot carry the UKI's SHA-384 PCRs, and publish prints them.
    let tag = |params: &serde_json::Value, prefix: &str, key: &str| -> Option<serde_json::Value> {
        (1..100)
            .find(|n| params[format!("{prefix}{n}.Key")] == key)
            .map(|n| params[format!("{prefix}{n}.Value")].clone())
    };
    for (index, key, pcr) in [(4, "ingot:pcr4", "PCR4"), (7, "ingot:pcr7", "PCR7"), (12, "ingot:pcr12", "PCR12")] {
        let pcrs = report["measurements"]["banks"][0]["pcrs"].as_array().unwrap();
        let value = &pcrs.iter().find(|p| p["index"] == index).unwrap()["value"];
        assert_eq!(&published["measurements"][pcr], value, "publish --json prints {pcr}");
        assert_eq!(tag(q, "TagSpecification.1.Tag.", key).as_ref(), Some(value), "the AMI's {key} in {q}");
        let snapshot_tags = moto.ec2("CreateTags");
        assert!(
            snapshot_tags.iter().any(|t| tag(&t["params"], "Tag.", key).as_ref() == Some(value)),
            "the snapshot's {key}"
        );
    }

    // The image published later with a recipe whose certificates changed since its build,
    // or without [secure_boot]: refused before anything reaches AWS.
    let requests = moto.get("/_ingot/requests").as_array().unwrap().len();
    keys(&tmp.path().join("other"));
    let changed = text.replace("keys/db.crt", "other/db.crt").replace("keys/db.key", "other/db.key");
    let plain = text.replace(SECURE_BOOT, "");
    for (text, want) in [
        (changed, "a certificate changed since the build"),
        (plain, "has none: the AMI would boot it with Secure Boot off"),
    ] {
        let r = recipe(tmp.path(), &text);
        let o = run(crate::util::aws::ingot_aws(&moto.endpoint())
            .arg("publish")
            .arg(&out)
            .arg("--recipe")
            .arg(&r)
            .args(["--force", "--json"]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("sb.raw.json: ") && err.contains(want), "{err}");
    }
    assert_eq!(moto.get("/_ingot/requests").as_array().unwrap().len(), requests, "no AWS request after the refusals");

    // Published later under another SOURCE_DATE_EPOCH, the AMI still gets the store the
    // image was built with (dated as built).
    let r = recipe(tmp.path(), &text);
    let o = run(crate::util::aws::ingot_aws(&moto.endpoint())
        .env("SOURCE_DATE_EPOCH", "1800000000")
        .arg("publish")
        .arg(&out)
        .arg("--recipe")
        .arg(&r)
        .args(["--force", "--json", "--poll", "1"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let registered = moto.ec2("RegisterImage");
    assert_eq!(registered.last().unwrap()["params"]["UefiData"], report["uefi_data"]);
}
