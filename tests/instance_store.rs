//! `ingot publish --instance-store` against a strict moto server (scripts/moto-server.py):
//! the bundle's objects, their ACLs and MD5s read back with boto3 (scripts/s3-check.py),
//! the S3 and EC2 requests ingot sent as the server recorded them, and the AMI as
//! DescribeImages returns it. Faults come from scripts/fault-proxy.py.

use crate::util::aws::*;
use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 64 MiB GPT image whose ext4 root holds 24 MiB of incompressible data (three bundle
/// parts), checked with sgdisk -v and e2fsck -fn; and its recipe with an `[ami]` section.
fn image(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..24 {
        std::fs::write(data.join(format!("f{i:02}")), bytes(500 + i, 1 << 20)).unwrap();
    }
    let r = recipe(
        dir,
        r#"name = "store"
size = "64 MiB"
source_date_epoch = 1700000000
[[partition]]
label = "root"
type = "root-x86-64"
size = "fill"
filesystem = "ext4"
[[partition.contents]]
dir = "data"
to = "/data"
[ami]
name = "{name}-{version}"
version = "3"
description = "instance-store test AMI"
boot_mode = "legacy-bios"
[ami.tags]
team = "images"
"#,
    );
    let out = dir.join("store.raw");
    build_checked(&r, &out);
    (r, out)
}

struct Rig {
    dir: tempfile::TempDir,
    recipe: PathBuf,
    image: PathBuf,
    user: (PathBuf, PathBuf, PathBuf),
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (recipe, image) = image(dir.path());
    let user = identity(dir.path(), "user");
    Rig { dir, recipe, image, user }
}

impl Rig {
    /// `ingot publish IMAGE --recipe R --instance-store --bucket B ...` against `endpoint`.
    fn publish(&self, endpoint: &str, region: &str, bucket: &str, extra: &[&str]) -> Command {
        self.publish_image(&self.image, endpoint, region, bucket, extra)
    }

    /// The same for another image.
    fn publish_image(&self, image: &Path, endpoint: &str, region: &str, bucket: &str, extra: &[&str]) -> Command {
        self.publish_as(image, &self.user.1, endpoint, region, bucket, extra)
    }

    /// The same with another certificate.
    fn publish_as(
        &self,
        image: &Path,
        cert: &Path,
        endpoint: &str,
        region: &str,
        bucket: &str,
        extra: &[&str],
    ) -> Command {
        let mut c = ingot_aws(endpoint);
        c.arg("publish")
            .arg(image)
            .arg("--recipe")
            .arg(&self.recipe)
            .args(["--instance-store", "--bucket", bucket, "--region", region, "--max-attempts", "8"])
            .arg("--cert")
            .arg(cert)
            .arg("--privatekey")
            .arg(&self.user.0)
            .args(extra);
        c
    }

    fn bundle_dir(&self) -> PathBuf {
        PathBuf::from(format!("{}.bundle", self.image.display()))
    }
}

/// The S3 object writes (not bucket creations) the server recorded, in order:
/// (path, acl, content-md5).
fn object_puts(moto: &Server) -> Vec<(String, String, String)> {
    let all = moto.get("/_ingot/requests");
    let puts = all.as_array().unwrap().iter().filter(|r| r["service"] == "s3" && r["action"] == "PUT");
    puts.filter(|r| r["params"]["path"].as_str().unwrap().trim_matches('/').contains('/'))
        .map(|r| {
            let p = &r["params"];
            let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
            (s("path"), s("acl"), s("content_md5"))
        })
        .collect()
}

fn b64_md5_of(path: &Path) -> String {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!("openssl dgst -md5 -binary '{}' | openssl base64 -A", path.display()));
    let out = run(&mut c);
    assert!(out.status.success(), "openssl dgst -md5: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The canonical user S3 grants READ for the aws-exec-read canned ACL (EC2).
const EC2_READER: &str = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c";

#[test]
fn publishes_parts_then_manifest_with_exec_read_acl_and_content_md5_and_registers() {
    let rig = rig();
    let moto = Server::moto();
    let ep = moto.endpoint();
    let r = json(&mut rig.publish(&ep, "us-west-2", "ingot-store", &["--prefix", "images/store", "--json"]));
    assert_eq!(r["bucket_created"], true);
    assert_eq!(r["bundle_reused"], false);
    let parts: Vec<PathBuf> = r["bundle"]["bundle"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p[0].as_str().unwrap()))
        .collect();
    assert!(parts.len() >= 3, "24 MiB of random data makes at least 3 parts: {parts:?}");
    let location = "ingot-store/images/store/store.raw.manifest.xml";
    assert_eq!(r["upload"]["image_location"], location);
    assert_eq!(r["register"]["image_location"], location);

    // What S3 holds, read back with boto3: every file, same bytes, EC2 may read it.
    let dir = rig.bundle_dir();
    let s3 = s3_check(&["objects", &ep, "us-west-2", "ingot-store", "images/store", dir.to_str().unwrap()]);
    assert_eq!(s3["location"], "us-west-2", "the bucket is created in the AMI's region");
    let objects = s3["objects"].as_array().unwrap();
    assert_eq!(objects.len(), parts.len() + 1, "{s3}");
    for o in objects {
        assert_eq!(o["same_as_local"], true, "{o}");
        assert_eq!(o["etag"], o["md5"], "{o}");
        let grants = o["grants"].as_array().unwrap();
        assert!(grants.iter().any(|g| g[0] == EC2_READER && g[1] == "READ"), "aws-exec-read: {o}");
        assert!(grants.iter().any(|g| g[1] == "FULL_CONTROL"), "{o}");
    }

    // What ingot sent: the parts (in parallel, any order), then the manifest, each with
    // the canned ACL and Content-MD5.
    let mut puts = object_puts(&moto);
    assert_eq!(puts.len(), parts.len() + 1, "{puts:?}");
    assert!(puts.last().unwrap().0.ends_with(".manifest.xml"), "the manifest goes last: {puts:?}");
    puts[..parts.len()].sort();
    let mut files = parts.clone();
    files.push(dir.join("store.raw.manifest.xml"));
    for ((path, acl, md5), file) in puts.iter().zip(&files) {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(path, &format!("/ingot-store/images/store/{name}"));
        assert_eq!(acl, "aws-exec-read");
        assert_eq!(md5, &b64_md5_of(file), "{name}");
    }

    // RegisterImage as sent, and the AMI as EC2 describes it.
    let reg = moto.ec2("RegisterImage");
    assert_eq!(reg.len(), 1);
    let p = &reg[0]["params"];
    assert_eq!(p["ImageLocation"], location);
    assert_eq!(p["Name"], "store-3");
    assert_eq!(p["Description"], "instance-store test AMI");
    assert_eq!(p["Architecture"], "x86_64");
    assert_eq!(p["BootMode"], "legacy-bios");
    assert!(p.as_object().unwrap().keys().all(|k| !k.starts_with("BlockDeviceMapping")), "{p}");
    let ami = r["register"]["image_id"].as_str().unwrap();
    let img = s3_check(&["image", &ep, "us-west-2", ami]);
    assert_eq!(img["ImageLocation"], location);
    assert_eq!(img["RootDeviceType"], "instance-store");
    assert_eq!(img["Name"], "store-3");
    assert_eq!(img["Description"], "instance-store test AMI");
    assert_eq!(img["Architecture"], "x86_64");
    assert!(img["Tags"].as_array().unwrap().iter().any(|t| t["Key"] == "team" && t["Value"] == "images"), "{img}");

    // The manifest: the caller's account (STS), the shipped 1024-bit EC2 certificate.
    let m = std::fs::read_to_string(dir.join("store.raw.manifest.xml")).unwrap();
    assert!(m.contains("<user>123456789012</user>"), "{m}");
    let field = |tag: &str| {
        let s = m.find(&format!("<{tag}")).unwrap();
        let s = s + m[s..].find('>').unwrap() + 1;
        m[s..s + m[s..].find('<').unwrap()].len()
    };
    assert_eq!(field("ec2_encrypted_key"), 256, "RSA-1024 (cert-ec2.pem) ciphertext in hex");
    assert_eq!(field("user_encrypted_key"), 512, "RSA-2048 ciphertext in hex");

    // `ingot unbundle DIR` checks it and restores the image.
    let restored = rig.dir.path().join("restored");
    let o = run(ingot().arg("unbundle").arg(&dir).arg("--privatekey").arg(&rig.user.0).arg("-d").arg(&restored));
    assert!(o.status.success(), "unbundle: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha256_file(&restored.join("store.raw")), sha256_file(&rig.image));
}

#[test]
fn an_interrupted_publish_resumes_and_skips_the_parts_already_uploaded() {
    let rig = rig();
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--deny-suffix", ".manifest.xml"]);
    let o = run(&mut rig.publish(&proxy.endpoint(), "us-east-1", "resume", &[]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("PutObject failed: AccessDenied"), "{err}");
    assert!(err.contains("running the same publish again skips them"), "{err}");
    assert!(err.contains("`aws s3 rm --recursive s3://"), "the command that removes them: {err}");
    assert!(moto.ec2("RegisterImage").is_empty(), "nothing is registered without the manifest");
    let first = object_puts(&moto);
    assert!(first.len() >= 3 && first.iter().all(|p| p.0.contains(".part.")), "{first:?}");

    let r = json(&mut rig.publish(&moto.endpoint(), "us-east-1", "resume", &["--json"]));
    assert_eq!(r["bundle_reused"], true, "the bundle of the first run is used again");
    let objects = r["upload"]["objects"].as_array().unwrap();
    let (manifest, parts) = objects.split_last().unwrap();
    assert!(parts.iter().all(|o| o["skipped"] == true), "{objects:?}");
    assert_eq!(manifest["skipped"], false);
    let all = object_puts(&moto);
    assert_eq!(all.len(), first.len() + 1, "only the manifest is sent again: {all:?}");
    assert!(all.last().unwrap().0.ends_with("store.raw.manifest.xml"));
    assert_eq!(moto.ec2("RegisterImage").len(), 1);
}

#[test]
fn throttled_and_broken_s3_writes_are_retried() {
    let rig = rig();
    let moto = Server::moto();
    let args = ["--s3-puts", "--rate", "503=0.3", "--rate", "reset=0.2", "--seed", "11"];
    let proxy = Server::proxy(&moto, &args);
    let r = json(&mut rig.publish(&proxy.endpoint(), "us-east-1", "flaky", &["--prefix", "p", "--json"]));
    assert!(r["upload"]["retries"].as_u64().unwrap() > 0, "{}", r["upload"]);
    let stats = proxy.get("/_proxy/stats");
    assert!(stats["503"].as_u64().unwrap() + stats["reset"].as_u64().unwrap() > 0, "{stats}");
    let dir = rig.bundle_dir();
    let s3 = s3_check(&["objects", &moto.endpoint(), "us-east-1", "flaky", "p", dir.to_str().unwrap()]);
    let objects = s3["objects"].as_array().unwrap();
    assert_eq!(objects.len(), r["upload"]["objects"].as_array().unwrap().len());
    assert!(objects.iter().all(|o| o["same_as_local"] == true), "{s3}");
    assert_eq!(moto.ec2("RegisterImage").len(), 1);
}

#[test]
fn a_failed_registration_names_the_bundle_left_or_removes_it() {
    let rig = rig();
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--deny-action", "RegisterImage"]);
    let ep = moto.endpoint();
    let dir = rig.bundle_dir();
    let dir = dir.to_str().unwrap();
    let count = |prefix: &str| {
        s3_check(&["objects", &ep, "us-east-1", "left", prefix, dir])["objects"].as_array().unwrap().len()
    };
    let o = run(&mut rig.publish(&proxy.endpoint(), "us-east-1", "left", &["--prefix", "x"]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("RegisterImage failed: UnauthorizedOperation"), "{err}");
    assert!(err.contains("the bundle s3://left/x/store.raw.manifest.xml left behind"), "{err}");
    let rm = "aws s3 rm --recursive s3://left/x/ --exclude '*' --include 'store.raw.part.*' --include 'store.raw.manifest.xml'";
    assert!(err.contains(rm), "the command removes this bundle's objects only: {err}");
    let left = count("x");
    assert!(left >= 4, "parts and manifest left: {left}");

    // Cleanup removes what the run sent...
    let o = run(&mut rig.publish(&proxy.endpoint(), "us-east-1", "left", &["--prefix", "y", "--cleanup-on-failure"]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("AMI") || err.contains("the bundle s3://left/y/"), "{err}");
    assert!(err.contains("removed (--cleanup-on-failure)"), "{err}");
    assert_eq!(count("y"), 0);
    // ...and keeps objects that were there before it (they may serve another AMI).
    let o = run(&mut rig.publish(&proxy.endpoint(), "us-east-1", "left", &["--prefix", "x", "--cleanup-on-failure"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("nothing removed (--cleanup-on-failure): all {left} objects")), "{err}");
    assert_eq!(count("x"), left);
}

#[test]
fn a_changed_image_is_bundled_again_and_never_overwrites_another_bundle_silently() {
    let rig = rig();
    let moto = Server::moto();
    let ep = moto.endpoint();
    let first = json(&mut rig.publish(&ep, "us-east-1", "shared", &["--prefix", "p", "--json"]));

    // Same size, other content (and the build report left as it was): the stamp no longer
    // matches, so the bundle is made again; its objects differ from those at p/, which
    // are refused before anything is written, --force or not.
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(&rig.image).unwrap();
    f.write_all_at(&bytes(77, 4096), 40 << 20).unwrap();
    let puts = object_puts(&moto).len();
    for force in [&[][..], &["--force"][..]] {
        let args = [&["--prefix", "p", "--name", "store-next"][..], force].concat();
        let o = run(&mut rig.publish(&ep, "us-east-1", "shared", &args));
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("s3://shared/p/store.raw.") && err.contains("already holds other content"), "{err}");
        assert!(err.contains("pick another --prefix") && !err.contains("running the same publish again"), "{err}");
        assert_eq!(object_puts(&moto).len(), puts, "nothing written");
    }
    assert_eq!(moto.ec2("RegisterImage").len(), 1, "the first AMI's bundle is left alone");
    let dir = rig.bundle_dir();
    let at_p = s3_check(&["objects", &ep, "us-east-1", "shared", "p", dir.to_str().unwrap()]);
    let md5s = |objects: &Value| {
        let mut v: Vec<String> =
            objects.as_array().unwrap().iter().map(|o| o["md5"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(md5s(&at_p["objects"]), md5s(&first["upload"]["objects"]));

    // The default prefix is unique to each bundle: AMI-NAME/ID.
    let r = json(&mut rig.publish(&ep, "us-east-1", "shared", &["--name", "store-next", "--json"]));
    assert_ne!(r["bundle"]["image_digest"], first["bundle"]["image_digest"], "the image changed: a new bundle");
    assert_ne!(r["bundle"]["bundle"]["digest"], first["bundle"]["bundle"]["digest"]);
    let location = r["register"]["image_location"].as_str().unwrap();
    let (prefix, id) = location.strip_prefix("shared/store-next/").unwrap().split_once('/').unwrap();
    assert!(prefix.len() == 16 && prefix.bytes().all(|b| b.is_ascii_hexdigit()), "{location}");
    assert_eq!(id, "store.raw.manifest.xml");
    assert!(r["upload"]["objects"].as_array().unwrap().iter().all(|o| o["skipped"] == false), "{}", r["upload"]);
    let s3 = s3_check(&["objects", &ep, "us-east-1", "shared", &format!("store-next/{prefix}"), dir.to_str().unwrap()]);
    assert!(s3["objects"].as_array().unwrap().iter().all(|o| o["same_as_local"] == true), "{s3}");

    // A damaged part on disk is not reused either.
    let part = rig.bundle_dir().join("store.raw.part.0");
    let f = std::fs::OpenOptions::new().write(true).open(&part).unwrap();
    f.write_all_at(b"X", 100).unwrap();
    let r = json(&mut rig.publish(&ep, "us-east-1", "shared", &["--prefix", "q", "--name", "store-q", "--json"]));
    assert_eq!(r["bundle_reused"], false);
}

#[test]
fn buckets_get_acls_enabled_and_a_bucket_without_acls_is_refused() {
    let rig = rig();
    let moto = Server::moto();
    let ep = moto.endpoint();
    json(&mut rig.publish(&ep, "us-east-1", "made-by-ingot", &["--json"]));
    let all = moto.get("/_ingot/requests");
    let create = all.as_array().unwrap().iter().find(|r| {
        r["service"] == "s3"
            && r["params"]["path"].as_str().unwrap().trim_end_matches('/') == "/made-by-ingot"
            && r["action"] == "PUT"
    });
    assert_eq!(create.unwrap()["params"]["object_ownership"], "BucketOwnerPreferred");

    // A bucket made with today's defaults (ACLs disabled): refused before any upload.
    s3_check(&["mkbucket", &ep, "us-east-1", "no-acls"]);
    let o = run(&mut rig.publish(&ep, "us-east-1", "no-acls", &["--name", "other"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("has ACLs disabled (Object Ownership: bucket owner enforced)"),
        "{err}"
    );
    assert!(err.contains("put-bucket-ownership-controls --bucket no-acls"), "{err}");
    let puts = object_puts(&moto);
    assert!(puts.iter().all(|p| !p.0.starts_with("/no-acls/")), "{puts:?}");
}

#[test]
fn bad_input_is_refused_before_anything_is_uploaded() {
    let rig = rig();
    let moto = Server::moto();
    let ep = moto.endpoint();
    let fails = |c: &mut Command, want: &str| {
        let o = run(c);
        assert!(!o.status.success(), "{c:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "want {want:?} in: {err}");
    };
    let s3_requests = || {
        let all = moto.get("/_ingot/requests");
        all.as_array().unwrap().iter().filter(|r| r["service"] == "s3").count()
    };

    // Over the instance-store limit: refused before any request.
    let big = rig.dir.path().join("big.raw");
    std::fs::File::create(&big).unwrap().set_len(11 << 30).unwrap();
    fails(
        &mut rig.publish_image(&big, &ep, "us-east-1", "bkt1", &[]),
        "over the 10 GiB an instance-store AMI may hold",
    );
    assert!(!rig.dir.path().join("big.raw.bundle").exists());
    fails(&mut rig.publish(&ep, "us-east-1", "Bad_Bucket", &[]), "--bucket: bucket \"Bad_Bucket\": S3 bucket names");
    fails(
        &mut rig.publish(&ep, "us-east-1", "bkt1", &["--encrypted"]),
        "are for EBS-backed AMIs, not --instance-store",
    );
    let o =
        run(ingot_aws(&ep).args(["publish", "x.raw", "--recipe", "r.toml", "--instance-store", "--bucket", "bkt1"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--cert <CERT>") && err.contains("--privatekey"), "{err}");
    let other = identity(rig.dir.path(), "other");
    let mut c = rig.publish_as(&rig.image, &other.1, &ep, "us-east-1", "bkt1", &[]);
    fails(&mut c, "the user private key does not belong to the user certificate");
    fails(&mut rig.publish(&ep, "us-east-1", "bkt1", &["--user", "12345"]), "user \"12345\": expected the 12-digit");
    fails(&mut rig.publish(&ep, "us-east-1", "bkt1", &["--prefix", "a//b"]), "--prefix: prefix \"a//b\"");
    let mut c = rig.publish(&ep, "us-east-1", "bkt1", &["--ec2-cert"]);
    c.arg(rig.dir.path().join("missing.pem"));
    fails(&mut c, "--ec2-cert");
    let text = std::fs::read_to_string(&rig.recipe).unwrap().replace("[ami]\n", "[ami]\nencrypted = true\n");
    let ebs_only = rig.dir.path().join("ebs-only.toml");
    std::fs::write(&ebs_only, text).unwrap();
    let mut c = ingot_aws(&ep);
    c.arg("publish").arg(&rig.image).arg("--recipe").arg(&ebs_only);
    c.args(["--instance-store", "--bucket", "bkt1", "--region", "us-east-1", "--cert"]).arg(&rig.user.1);
    c.arg("--privatekey").arg(&rig.user.0);
    fails(&mut c, "ebs-only.toml: ami.encrypted is for EBS-backed AMIs");
    // arm64: EC2 has no arm64 instance-store AMIs.
    let text = std::fs::read_to_string(&rig.recipe).unwrap().replace("[ami]\n", "[boot]\narch = \"arm64\"\n[ami]\n");
    let arm64 = rig.dir.path().join("arm64.toml");
    std::fs::write(&arm64, text.replace("legacy-bios", "uefi")).unwrap();
    let mut c = ingot_aws(&ep);
    c.arg("publish").arg(&rig.image).arg("--recipe").arg(&arm64);
    c.args(["--instance-store", "--bucket", "bkt1", "--region", "us-east-1", "--cert"]).arg(&rig.user.1);
    c.arg("--privatekey").arg(&rig.user.0);
    fails(
        &mut c,
        "arm64.toml: boot.arch = \"arm64\": instance-store AMIs are x86_64 only; publish it without --instance-store",
    );
    assert_eq!(s3_requests(), 0, "nothing reached S3");

    // A bucket in another region: EC2 would not read it; nothing is uploaded.
    json(&mut rig.publish(&ep, "us-west-2", "far-away", &["--json"]));
    let before = object_puts(&moto).len();
    fails(
        &mut rig.publish(&ep, "eu-west-1", "far-away", &["--name", "other-ami"]),
        "bucket \"far-away\" is in us-west-2 but the AMI is registered in eu-west-1",
    );
    assert_eq!(object_puts(&moto).len(), before, "nothing uploaded");
}

/// `ingot deregister` of an instance-store AMI whose bundle another AMI registers too
/// deregisters it and keeps the bundle for the other (in one run of both, the second
/// takes it along); the last AMI deletes the bundle (parts, then manifest), and every
/// other object in the bucket stays, under the same prefix too.
#[test]
fn deregister_deletes_the_bundle_and_nothing_else() {
    let rig = rig();
    let moto = Server::moto();
    let ep = moto.endpoint();
    let r = json(&mut rig.publish(&ep, "us-west-2", "ingot-store", &["--prefix", "images/store", "--json"]));
    let twin = r["register"]["image_id"].as_str().unwrap().to_string();
    let parts = r["bundle"]["bundle"]["parts"].as_array().unwrap().len();
    for key in ["images/store/notes.txt", "images/store.raw.part.0", "other/store.raw.manifest.xml"] {
        lifecycle("put-object", &[&ep, "us-west-2", "ingot-store", key]);
    }
    // The same image under another name reuses the bundle: one manifest, two AMIs.
    let extra = ["--prefix", "images/store", "--name", "store-twin", "--json"];
    let r = json(&mut rig.publish(&ep, "us-west-2", "ingot-store", &extra));
    let ami = r["register"]["image_id"].as_str().unwrap();
    let manifest = "ingot-store/images/store/store.raw.manifest.xml";
    let listed = json(ingot_aws(&ep).args(["images", "--name", "store-twin", "--region", "us-west-2", "--json"]));
    assert_eq!(listed[0]["bundle_shared_with"], serde_json::json!([twin]), "{listed}");
    let both = json(ingot_aws(&ep).args(["deregister", ami, &twin, "--region", "us-west-2", "--dry-run", "--json"]));
    assert_eq!(both[0]["bundle_kept"], serde_json::json!({"id": manifest, "by": [twin]}), "{both}");
    assert_eq!(both[1]["objects_deleted"].as_array().unwrap().len(), parts + 1, "the last takes it along: {both}");

    let o = run(ingot_aws(&ep).args(["deregister", ami, "--region", "us-west-2", "--json"]));
    assert_eq!(o.status.code(), Some(0), "a bundle kept for another AMI is no failure");
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(first[0]["status"], "deregistered", "{first}");
    assert_eq!(first[0]["bundle_kept"], serde_json::json!({"id": manifest, "by": [twin]}), "{first}");
    assert_eq!(first[0]["objects_deleted"], serde_json::json!([]));
    assert_eq!(lifecycle("list-objects", &[&ep, "us-west-2", "ingot-store"]).as_array().unwrap().len(), parts + 4);
    let ami = twin.as_str();

    let d = json(ingot_aws(&ep).args(["deregister", ami, "--region", "us-west-2", "--json"]));
    assert_eq!(d[0]["status"], "deregistered", "{d}");
    let deleted = d[0]["objects_deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), parts + 1, "{d}");
    assert_eq!(deleted.last().unwrap(), "ingot-store/images/store/store.raw.manifest.xml", "the manifest goes last");
    let left = lifecycle("list-objects", &[&ep, "us-west-2", "ingot-store"]);
    assert_eq!(
        left,
        serde_json::json!(["images/store.raw.part.0", "images/store/notes.txt", "other/store.raw.manifest.xml"])
    );
    let state = lifecycle("state", &[&ep, "us-west-2"]);
    assert_eq!(state["us-west-2"]["images"], serde_json::json!([]), "the AMI is gone");
    let again = json(ingot_aws(&ep).args(["deregister", ami, "--region", "us-west-2", "--json"]));
    assert_eq!(again[0]["status"], "already-gone");
}
