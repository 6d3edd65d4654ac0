//! `ingot bundle` / `ingot unbundle`: instance-store bundles checked with independent
//! tools only (the openssl command line, gunzip, GNU tar), then read back by ingot; a
//! tampered part, a tampered manifest and a wrong key each fail and say what failed.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A sparse 64 MiB image: data at the start, in the middle and at the very end.
fn image(dir: &Path) -> PathBuf {
    use std::os::unix::fs::FileExt;
    let p = dir.join("disk.raw");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(64 << 20).unwrap();
    f.write_all_at(&bytes(1, 3 << 20), 0).unwrap();
    f.write_all_at(&bytes(2, 1 << 20), 30 << 20).unwrap();
    f.write_all_at(&bytes(3, 4096), (64 << 20) - 4096).unwrap();
    p
}

struct Bundle {
    dir: tempfile::TempDir,
    image: PathBuf,
    out: PathBuf,
    user: (PathBuf, PathBuf, PathBuf),
    ec2: (PathBuf, PathBuf, PathBuf),
    report: serde_json::Value,
}

fn make(image_of: impl Fn(&Path) -> PathBuf) -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let image = image_of(dir.path());
    let user = identity(dir.path(), "user");
    let ec2 = identity(dir.path(), "ec2");
    let out = dir.path().join("bundle");
    let o = run(bundle_cmd(&image, &out, &user).arg("--ec2-cert").arg(&ec2.1).arg("--json"));
    assert!(o.status.success(), "ingot bundle: {}", String::from_utf8_lossy(&o.stderr));
    let report = serde_json::from_slice(&o.stdout).unwrap();
    Bundle { dir, image, out, user, ec2, report }
}

/// `ingot bundle IMAGE -d OUT --cert --privatekey --user 123456789012` for `user`'s identity.
fn bundle_cmd(image: &Path, out: &Path, user: &(PathBuf, PathBuf, PathBuf)) -> Command {
    let mut c = ingot();
    c.arg("bundle").arg(image).arg("-d").arg(out).arg("--cert").arg(&user.1).arg("--privatekey").arg(&user.0);
    c.args(["--user", "123456789012"]);
    c
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let s = text.find(open).unwrap() + open.len();
    let e = text[s..].find(close).unwrap() + s;
    &text[s..e]
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// `openssl pkeyutl -decrypt` of a hex field.
fn rsa_decrypt(dir: &Path, key: &Path, hex: &str) -> String {
    let ct = dir.join("ct.bin");
    std::fs::write(&ct, unhex(hex)).unwrap();
    let o = run(Command::new("openssl").args(["pkeyutl", "-decrypt", "-inkey"]).arg(key).arg("-in").arg(&ct));
    assert!(o.status.success(), "pkeyutl: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn sh(script: &str) -> std::process::Output {
    run(Command::new("bash").args(["-o", "pipefail", "-c", script]))
}

#[test]
fn openssl_gunzip_and_tar_restore_the_image_and_verify_every_digest_and_the_signature() {
    let b = make(image);
    let xml = std::fs::read_to_string(b.out.join("disk.raw.manifest.xml")).unwrap();
    assert!(xml.starts_with("<?xml version='1.0'?><manifest><version>2007-10-10</version><bundler>"));
    assert!(!xml.ends_with('\n') && !xml.contains("\n"), "one line, no trailing newline");
    assert!(xml.contains(
        "<image><name>disk.raw</name><user>123456789012</user><type>machine</type><digest algorithm='SHA1'>"
    ));
    assert!(xml.contains(&format!("<size>{}</size>", 64 << 20)));

    let d = b.dir.path();
    let key = rsa_decrypt(d, &b.user.0, between(&xml, "<user_encrypted_key algorithm='AES-128-CBC'>", "<"));
    let iv = rsa_decrypt(d, &b.user.0, between(&xml, "<user_encrypted_iv>", "<"));
    assert_eq!(key.len(), 32, "the key is 32 hex characters: {key:?}");
    assert_eq!(iv.len(), 32);
    assert_eq!(rsa_decrypt(d, &b.ec2.0, between(&xml, "<ec2_encrypted_key algorithm='AES-128-CBC'>", "<")), key);
    assert_eq!(rsa_decrypt(d, &b.ec2.0, between(&xml, "<ec2_encrypted_iv>", "<")), iv);

    // Parts: named NAME.part.N, each's SHA-1 as the manifest says.
    let parts: Vec<String> =
        xml.match_indices("<filename>").map(|(i, _)| between(&xml[i..], "<filename>", "<").to_string()).collect();
    assert!(!parts.is_empty());
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p, &format!("disk.raw.part.{i:0w$}", w = parts.len().to_string().len()));
        let o = sh(&format!("openssl dgst -sha1 -r '{}' | cut -d' ' -f1", b.out.join(p).display()));
        let want = between(&xml[xml.find(&format!("<filename>{p}<")).unwrap()..], "<digest algorithm='SHA1'>", "<");
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want, "SHA-1 of {p}");
    }

    // Decrypt, decompress, hash the tar stream, extract it with GNU tar.
    let extract = d.join("extract");
    std::fs::create_dir(&extract).unwrap();
    let cat: Vec<String> = parts.iter().map(|p| format!("'{}'", b.out.join(p).display())).collect();
    let o = sh(&format!(
        "cat {} | openssl enc -d -aes-128-cbc -K {key} -iv {iv} | gunzip | tee '{}/stream.tar' | tar -xSf - -C '{}'",
        cat.join(" "),
        d.display(),
        extract.display()
    ));
    assert!(o.status.success(), "openssl | gunzip | tar: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256_file(&extract.join("disk.raw")), sha256_file(&b.image), "tar -x gives the image back");
    assert_eq!(std::fs::metadata(d.join("stream.tar")).unwrap().len() % 10240, 0, "record-padded");
    let o = sh(&format!("openssl dgst -sha1 -r '{}/stream.tar' | cut -d' ' -f1", d.display()));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), between(&xml, "<digest algorithm='SHA1'>", "<"));
    // Byte for byte what GNU tar writes with the AMI tools' flags.
    let o = sh(&format!(
        "tar -c -h -S --owner 0 --group 0 -C '{}' disk.raw > '{}/gnu.tar'",
        b.image.parent().unwrap().display(),
        d.display()
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::read(d.join("gnu.tar")).unwrap() == std::fs::read(d.join("stream.tar")).unwrap(),
        "the tar stream is GNU tar's"
    );
    let o = sh(&format!("tar -tvf '{}/stream.tar'", d.display()));
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.contains("root/root") && listing.contains("disk.raw"), "{listing}");
    assert!(allocated(&extract.join("disk.raw")) < 16 << 20, "holes were stored as holes");

    // The signature: machine_configuration then image, exactly as written.
    let signed = format!(
        "<machine_configuration>{}</machine_configuration><image>{}</image>",
        between(&xml, "<machine_configuration>", "</machine_configuration>"),
        between(&xml, "<image>", "</image>")
    );
    std::fs::write(d.join("signed.bin"), &signed).unwrap();
    std::fs::write(d.join("sig.bin"), unhex(between(&xml, "<signature>", "<"))).unwrap();
    let o = sh(&format!(
        "openssl dgst -sha1 -verify '{}' -signature '{d}/sig.bin' '{d}/signed.bin'",
        b.user.2.display(),
        d = d.display()
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Verified OK"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(b.report["size"], 64u64 << 20);
}

fn unbundle(b: &Bundle, key: &Path) -> std::process::Output {
    let out = b.dir.path().join("restored");
    std::fs::create_dir_all(&out).unwrap();
    run(ingot()
        .arg("unbundle")
        .arg(b.out.join("disk.raw.manifest.xml"))
        .arg("--privatekey")
        .arg(key)
        .arg("-d")
        .arg(&out))
}

#[test]
fn unbundle_restores_the_image_and_names_what_fails() {
    let b = make(image);
    let o = unbundle(&b, &b.user.0);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let restored = b.dir.path().join("restored/disk.raw");
    assert_eq!(sha256_file(&restored), sha256_file(&b.image));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&restored).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "restored as build writes an image");
    std::fs::remove_file(&restored).unwrap();

    // A wrong key.
    let o = unbundle(&b, &b.ec2.0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("the signature does not verify with this key"), "{err}");
    assert!(!restored.exists());

    // A tampered part.
    let part = b.out.join("disk.raw.part.0");
    let mut data = std::fs::read(&part).unwrap();
    data[100] ^= 1;
    let original = std::fs::read(&part).unwrap();
    std::fs::write(&part, &data).unwrap();
    let o = unbundle(&b, &b.user.0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("part disk.raw.part.0: SHA-1"), "{err}");
    assert!(!restored.exists(), "nothing is left after a failed check");
    std::fs::write(&part, original).unwrap();

    // A tampered manifest.
    let manifest = b.out.join("disk.raw.manifest.xml");
    let xml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, xml.replace("<architecture>x86_64<", "<architecture>i386<")).unwrap();
    let o = unbundle(&b, &b.user.0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("the signature does not verify"), "{err}");
    let left: Vec<_> = std::fs::read_dir(b.dir.path().join("restored")).unwrap().collect();
    assert!(left.is_empty(), "no temporary file is left: {left:?}");
}

#[test]
fn bad_bundle_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let user = identity(dir.path(), "user");
    let ec2 = identity(dir.path(), "ec2");
    let other = identity(dir.path(), "other");
    let big = dir.path().join("big.raw");
    std::fs::File::create(&big).unwrap().set_len((10 << 30) + 512).unwrap();
    let small = image(dir.path());
    let fails = |img: &Path, key: &Path, account: &str, want: &str| {
        let out = dir.path().join("b");
        let o = run(ingot()
            .arg("bundle")
            .arg(img)
            .arg("-d")
            .arg(&out)
            .arg("--cert")
            .arg(&user.1)
            .arg("--privatekey")
            .arg(key)
            .arg("--ec2-cert")
            .arg(&ec2.1)
            .args(["--user", account]));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{want}");
        assert!(err.contains(want), "expected {want:?} in {err}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "nothing left in {}",
            out.display()
        );
    };
    fails(&big, &user.0, "123456789012", "over the 10 GiB an instance-store AMI may hold");
    fails(&small, &user.0, "1234", "expected the 12-digit AWS account id");
    fails(&small, &other.0, "123456789012", "does not belong to the user certificate");
    fails(&small, &user.1, "123456789012", "not an unencrypted RSA private key");
}

#[test]
fn bundling_streams_a_large_sparse_image_in_bounded_memory() {
    // 4 GiB apparent, 256 MiB of data in 4 runs: memory must not follow either size.
    let b = make(|d: &Path| {
        use std::os::unix::fs::FileExt;
        let p = d.join("disk.raw");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(4 << 30).unwrap();
        for i in 0..4u64 {
            f.write_all_at(&bytes(10 + i, 64 << 20), i * (1 << 30)).unwrap();
        }
        p
    });
    assert_eq!(b.report["size"], 4u64 << 30);
    let out = b.dir.path().join("again");
    let o = run(Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_ingot"))
        .arg("bundle")
        .arg(&b.image)
        .arg("-d")
        .arg(&out)
        .arg("--cert")
        .arg(&b.user.1)
        .arg("--privatekey")
        .arg(&b.user.0)
        .arg("--ec2-cert")
        .arg(&b.ec2.1)
        .args(["--user", "123456789012", "--json"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let rss_kib: u64 = stderr
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .expect("GNU time prints the peak RSS (scripts/install-test-deps.sh installs time)");
    assert!(rss_kib < 64 * 1024, "peak RSS {rss_kib} KiB");
    let o = run(ingot()
        .arg("unbundle")
        .arg(out.join("disk.raw.manifest.xml"))
        .arg("--privatekey")
        .arg(&b.user.0)
        .arg("-d")
        .arg(b.dir.path().join("r")));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256_file(&b.dir.path().join("r/disk.raw")), sha256_file(&b.image));
}

#[test]
fn without_ec2_cert_the_shipped_certificate_of_the_regions_partition_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path());
    let user = identity(dir.path(), "user");
    // (region, the RSA size of the shipped certificate in hex characters of ciphertext)
    for (region, hex_len) in [("us-east-1", 256), ("us-gov-west-1", 256), ("cn-north-1", 512)] {
        let out = dir.path().join(region);
        let o = run(bundle_cmd(&img, &out, &user).args(["--region", region]));
        assert!(o.status.success(), "ingot bundle --region {region}: {}", String::from_utf8_lossy(&o.stderr));
        let m = std::fs::read_to_string(out.join("disk.raw.manifest.xml")).unwrap();
        let ec2_key = between(&m, "<ec2_encrypted_key algorithm='AES-128-CBC'>", "<");
        assert_eq!(ec2_key.len(), hex_len, "{region}");
        // The user's half still opens with the user's key: the bundle is otherwise whole.
        assert_eq!(
            rsa_decrypt(dir.path(), &user.0, between(&m, "<user_encrypted_key algorithm='AES-128-CBC'>", "<")).len(),
            32
        );
    }
}

/// SIGTERM during `ingot bundle` and SIGINT during `ingot unbundle` remove the parts and
/// the image written so far, say what was stopped and exit 143 and 130. 160 MiB of random
/// data takes seconds to compress and about a second to restore.
#[test]
fn an_interrupted_bundle_or_unbundle_leaves_nothing_and_exits_128_plus_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("big.raw");
    std::fs::write(&img, bytes(9, 160 << 20)).unwrap();
    let user = identity(dir.path(), "user");
    let cmd = |out: &Path| {
        let mut c = bundle_cmd(&img, out, &user);
        c.arg("--ec2-cert").arg(&user.1);
        c
    };
    let out = dir.path().join("stopped");
    let writing = || names_in(&out).iter().any(|n| n.starts_with(".big.raw.part."));
    let o = interrupted(&mut cmd(&out), writing, "TERM");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(
        err.contains("ingot bundle stopped by SIGTERM: removed the unfinished")
            && err.contains(".big.raw.part.0.partial"),
        "{err}"
    );
    assert_eq!(names_in(&out), Vec::<String>::new(), "no part is left");

    let done = dir.path().join("bundle");
    let o = run(&mut cmd(&done));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let restored = dir.path().join("restored");
    let mut unbundle = ingot();
    unbundle.arg("unbundle").arg(&done).arg("--privatekey").arg(&user.0).arg("-d").arg(&restored);
    let restoring = || names_in(&restored).iter().any(|n| n.starts_with(".ingot-unbundle."));
    let o = interrupted(&mut unbundle, restoring, "INT");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("ingot unbundle stopped by SIGINT: removed the unfinished") && err.contains(".ingot-unbundle."),
        "{err}"
    );
    assert_eq!(names_in(&restored), Vec::<String>::new(), "no image, whole or half, is left");
}
