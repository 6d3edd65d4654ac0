//! `ingot upload | register | publish | download` against a strict moto server on
//! 127.0.0.1 (scripts/moto-server.py), through the real AWS SDK, with faults injected by a
//! loopback proxy of our own (scripts/fault-proxy.py). Blocks are read back with boto3.

use crate::util::aws::*;
use crate::util::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A 64 MiB GPT image whose ext4 root holds `mib` MiB of pseudo-random data in 1 MiB files
/// (so data lands in many 512 KiB blocks), plus an `[ami]` section `ami`.
pub(crate) fn image(dir: &Path, mib: usize, seed: u64, ami: &str) -> (PathBuf, PathBuf) {
    let data = dir.join(format!("data{seed}"));
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..mib {
        std::fs::write(data.join(format!("f{i:03}")), bytes(seed * 1000 + i as u64, 1 << 20)).unwrap();
    }
    let size = 64 + 2 * mib;
    let text = format!(
        r#"name = "aws-test"
size = "{size} MiB"
source_date_epoch = 1700000000
[[partition]]
label = "root"
type = "root-x86-64"
size = "fill"
filesystem = "ext4"
[[partition.contents]]
dir = "data{seed}"
to = "/data"
{ami}"#
    );
    let r = dir.join(format!("recipe{seed}.toml"));
    std::fs::write(&r, text).unwrap();
    let out = dir.join(format!("disk{seed}.raw"));
    build_checked(&r, &out);
    (r, out)
}

const AMI: &str = r#"
[ami]
name = "{name}-{version}-{arch}"
version = "7"
description = "ingot test AMI"
boot_mode = "uefi"
tpm = true
imds_v2 = true
ena = true
sriov = true
root_device = "/dev/xvda"
volume_type = "gp3"
volume_size = "2 GiB"
iops = 4000
throughput = 250
delete_on_termination = true
regions = ["eu-west-1"]
deprecate_at = "2030-01-01T00:00:00Z"
uefi_data = "uefi.b64"
[ami.tags]
project = "ingot"
stage = "test"
[ami.launch_permissions]
accounts = ["123456789012"]
organizations = ["arn:aws:organizations::123456789012:organization/o-abc123"]
organizational_units = ["arn:aws:organizations::123456789012:ou/o-abc123/ou-ab12-cdef3456"]
"#;

pub(crate) fn upload(endpoint: &str, image: &Path, extra: &[&str]) -> serde_json::Value {
    json(ingot_aws(endpoint).arg("upload").arg(image).arg("--json").args(extra))
}

fn publish_json(endpoint: &str, image: &Path, recipe: &Path) -> serde_json::Value {
    json(ingot_aws(endpoint).arg("publish").arg(image).arg("--recipe").arg(recipe).args(["--poll", "1", "--json"]))
}

fn check_readback(endpoint: &str, snapshot: &str, image: &Path, want: &[u64], region: &str) {
    let r = ebs_check(&["readback", endpoint, snapshot, image.to_str().unwrap(), region]);
    let listed: Vec<u64> = r["listed"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(listed, want, "ListSnapshotBlocks lists exactly the blocks meant to be written");
    assert_eq!(r["mismatched"], serde_json::json!([]), "every block reads back as the image holds it");
    assert_eq!(r["bad_checksum"], serde_json::json!([]));
    assert_eq!(r["block_size"], 524288);
    assert_eq!(r["state"], "completed");
}

#[test]
fn upload_writes_exactly_the_nonzero_blocks_and_download_restores_the_image() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 6, 1, "");
    let r = upload(&moto.endpoint(), &img, &[]);
    let nonzero = nonzero_blocks(&img);
    assert!(nonzero.len() > 12, "{nonzero:?}");
    assert_eq!(r["blocks_written"], nonzero.len() as u64);
    assert_eq!(r["block_size"], 524288);
    assert_eq!(r["volume_size_gib"], 1);
    assert_eq!(r["retries"], 0);
    let snap = r["snapshot_id"].as_str().unwrap();
    // The strict server accepted every block checksum, the count and the LINEAR checksum
    // (it refuses CompleteSnapshot otherwise), and the blocks read back identical.
    check_readback(&moto.endpoint(), snap, &img, &nonzero, "us-east-1");

    let restored = dir.path().join("restored.raw");
    let d = json(ingot_aws(&moto.endpoint()).args(["download", snap]).arg(&restored).arg("--json"));
    assert_eq!(d["blocks"], nonzero.len() as u64);
    assert_eq!(sha256_file(&restored), sha256_file(&img), "the download has the original SHA-256");
    assert_eq!(d["digest"].as_str().unwrap(), image_digest(&img, None), "checked against the snapshot's tag");
    assert!(allocated(&restored) < 12 << 20, "the download is sparse");

    // The same image again: the client token (from its digest) returns the same snapshot.
    let again = upload(&moto.endpoint(), &img, &[]);
    assert_eq!(again["snapshot_id"], r["snapshot_id"]);
    assert_eq!(again["reused"], true);
    assert_eq!(again["blocks"], r["blocks"], "the reused snapshot's block digests are reported too");
}

#[test]
fn publish_sends_every_registration_field_and_twice_is_once() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("uefi.b64"), "QU1aTlVFRkk=\n").unwrap();
    let (recipe, img) = image(dir.path(), 2, 2, AMI);
    let p = publish_json(&moto.endpoint(), &img, &recipe);
    let snap = p["upload"]["snapshot_id"].as_str().unwrap().to_string();
    let ami = p["register"]["image_id"].as_str().unwrap().to_string();
    assert_eq!(p["register"]["name"], "aws-test-7-x86_64");
    assert_eq!(p["register"]["copies"][0]["region"], "eu-west-1");

    let reg = moto.ec2("RegisterImage");
    assert_eq!(reg.len(), 1);
    let q = &reg[0]["params"];
    let want = [
        ("Name", "aws-test-7-x86_64"),
        ("Description", "ingot test AMI"),
        ("Architecture", "x86_64"),
        ("VirtualizationType", "hvm"),
        ("BootMode", "uefi"),
        ("TpmSupport", "v2.0"),
        ("ImdsSupport", "v2.0"),
        ("EnaSupport", "true"),
        ("SriovNetSupport", "simple"),
        ("RootDeviceName", "/dev/xvda"),
        ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"),
        ("BlockDeviceMapping.1.Ebs.SnapshotId", &snap),
        ("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"),
        ("BlockDeviceMapping.1.Ebs.VolumeSize", "2"),
        ("BlockDeviceMapping.1.Ebs.Iops", "4000"),
        ("BlockDeviceMapping.1.Ebs.Throughput", "250"),
        ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
        ("UefiData", "QU1aTlVFRkk="),
        ("TagSpecification.1.ResourceType", "image"),
        ("TagSpecification.1.Tag.1.Key", "project"),
        ("TagSpecification.1.Tag.1.Value", "ingot"),
        ("TagSpecification.1.Tag.2.Key", "stage"),
        ("TagSpecification.1.Tag.2.Value", "test"),
    ];
    for (k, v) in want {
        assert_eq!(q[k], v, "RegisterImage {k} in {q}");
    }
    assert_eq!(reg[0]["region"], "us-east-1");

    let tags = moto.ec2("CreateTags");
    assert!(tags.iter().any(|t| t["params"]["ResourceId.1"] == snap.as_str() && t["params"]["Tag.1.Key"] == "project"));
    let perms: Vec<_> = moto.ec2("ModifyImageAttribute");
    assert_eq!(perms.len(), 2, "launch permissions in both regions: {perms:?}");
    let m = &perms[0]["params"];
    assert_eq!(m["ImageId"], ami.as_str());
    let values: Vec<&str> = m.as_object().unwrap().values().filter_map(|v| v.as_str()).collect();
    assert!(values.contains(&"123456789012"), "{m}");
    assert!(values.contains(&"arn:aws:organizations::123456789012:organization/o-abc123"), "{m}");
    assert!(values.contains(&"arn:aws:organizations::123456789012:ou/o-abc123/ou-ab12-cdef3456"), "{m}");
    let copy = moto.ec2("CopyImage");
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0]["region"], "eu-west-1");
    assert_eq!(copy[0]["params"]["SourceImageId"], ami.as_str());
    assert_eq!(copy[0]["params"]["SourceRegion"], "us-east-1");
    assert_eq!(copy[0]["params"]["CopyImageTags"], "true");
    let dep = moto.ec2("EnableImageDeprecation");
    assert_eq!(dep.len(), 2);
    assert_eq!(dep[0]["params"]["DeprecateAt"], "2030-01-01T00:00:00Z");

    // Publish again: the AMI is found by name; nothing is uploaded or registered.
    let p2 = publish_json(&moto.endpoint(), &img, &recipe);
    assert_eq!(p2["register"]["reused"], true);
    assert_eq!(p2["register"]["image_id"], ami.as_str());
    assert_eq!(p2["upload"], serde_json::Value::Null);
    assert_eq!(moto.ec2("RegisterImage").len(), 1, "one AMI");
    let digest = image_digest(&img, None);
    let snaps = ebs_check(&["snapshots", &moto.endpoint(), "ingot:image-digest", &digest]);
    assert_eq!(snaps, serde_json::json!([snap]), "one snapshot");
}

#[test]
fn publish_builds_from_a_recipe_and_register_takes_an_existing_snapshot() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (recipe, img) = image(dir.path(), 1, 3, "[ami]\nname = \"{name}-reg\"\nboot_mode = \"legacy-bios\"\n");
    let out = dir.path().join("built.raw");
    let p = publish_recipe(&moto.endpoint(), &recipe, &out);
    assert!(out.exists());
    assert_eq!(sha256_file(&out), sha256_file(&img), "publish built the same image");
    let q = &moto.ec2("RegisterImage")[0]["params"];
    assert_eq!(q["BootMode"], "legacy-bios");
    assert!(q.get("TpmSupport").is_none());
    assert_eq!(q["ImdsSupport"], "v2.0", "IMDSv2 is required by default");

    let snap = p["upload"]["snapshot_id"].as_str().unwrap();
    let r = json(
        ingot_aws(&moto.endpoint())
            .args(["register", snap, "--recipe"])
            .arg(&recipe)
            .args(["--name", "by-hand", "--poll", "1", "--json"]),
    );
    assert_eq!(r["name"], "by-hand");
    assert_eq!(moto.ec2("RegisterImage")[1]["params"]["BlockDeviceMapping.1.Ebs.SnapshotId"], snap);
}

#[test]
fn a_failure_after_registration_names_what_is_left_and_cleanup_removes_it() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    // Copying to a region moto does not know fails after RegisterImage.
    let ami = "[ami]\nname = \"{name}-left\"\nregions = [\"mars-east-1\"]\n";
    let (recipe, img) = image(dir.path(), 1, 12, ami);
    let publish = |extra: &[&str]| {
        let mut c = ingot_aws(&moto.endpoint());
        c.arg("publish")
            .arg(&img)
            .arg("--recipe")
            .arg(&recipe)
            .args(["--poll", "1", "--max-attempts", "2"])
            .args(extra);
        run(&mut c)
    };
    let o = publish(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    let snap =
        moto.ec2("RegisterImage")[0]["params"]["BlockDeviceMapping.1.Ebs.SnapshotId"].as_str().unwrap().to_string();
    assert!(err.contains(&format!("and snapshot {snap} left behind in us-east-1")), "{err}");
    assert!(err.contains("aws ec2 deregister-image --image-id ami-"), "{err}");
    assert!(err.contains(&format!("aws ec2 delete-snapshot --snapshot-id {snap}")), "{err}");

    let o = publish(&["--force", "--cleanup-on-failure"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("removed (--cleanup-on-failure)"), "{err}");
    assert!(moto.ec2("DeregisterImage").len() >= 2, "the old AMI (--force) and the new one are deregistered");
    let deleted = moto.ec2("DeleteSnapshot");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["params"]["SnapshotId"], snap.as_str(), "the same image reuses its snapshot (client token)");
}

#[test]
fn uploads_survive_503_throttling_resets_slow_responses_and_late_snapshots() {
    let moto = Server::moto();
    let proxy = Server::proxy(
        &moto,
        &[
            "--rate",
            "503=0.08",
            "--rate",
            "429=0.08",
            "--rate",
            "reset=0.06",
            "--rate",
            "slow=0.04",
            "--slow-seconds",
            "2.5",
            "--not-found-first",
            "3",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 24, 4, "");
    let r = upload(&proxy.endpoint(), &img, &["--read-timeout", "1", "--workers", "8"]);
    let stats = proxy.get("/_proxy/stats");
    for kind in ["503", "429", "reset", "slow", "not_found"] {
        assert!(stats[kind].as_u64().unwrap() > 0, "the proxy injected no {kind}: {stats}");
    }
    assert!(r["retries"].as_u64().unwrap() >= 5, "retries are counted: {r}");
    check_readback(&moto.endpoint(), r["snapshot_id"].as_str().unwrap(), &img, &nonzero_blocks(&img), "us-east-1");
}

/// The answer to CompleteSnapshot is lost (held back past the read timeout) after EBS
/// completed the snapshot: the retry is refused as "already completed", which is success.
#[test]
fn a_lost_complete_snapshot_answer_is_not_a_failure() {
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--slow-complete", "--slow-seconds", "2.5"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 2, 17, "");
    let r = upload(&proxy.endpoint(), &img, &["--read-timeout", "1"]);
    assert_eq!(proxy.get("/_proxy/stats")["slow_complete"], 1, "the first CompleteSnapshot answer was held back");
    assert!(r["retries"].as_u64().unwrap() >= 1, "CompleteSnapshot was retried: {r}");
    check_readback(&moto.endpoint(), r["snapshot_id"].as_str().unwrap(), &img, &nonzero_blocks(&img), "us-east-1");
}

#[test]
fn a_named_profile_supplies_credentials_and_region() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 13, "");
    let config = dir.path().join("config");
    let creds = dir.path().join("credentials");
    std::fs::write(&config, "[profile ingot-test]\nregion = eu-west-1\n").unwrap();
    std::fs::write(&creds, "[ingot-test]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = secret\n").unwrap();
    let mut c = ingot_aws(&moto.endpoint());
    c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_REGION");
    c.env("AWS_CONFIG_FILE", &config).env("AWS_SHARED_CREDENTIALS_FILE", &creds);
    let r = json(c.arg("upload").arg(&img).args(["--profile", "ingot-test", "--json"]));
    assert_eq!(r["region"], "eu-west-1");
    check_readback(&moto.endpoint(), r["snapshot_id"].as_str().unwrap(), &img, &nonzero_blocks(&img), "eu-west-1");
}

#[test]
fn access_denied_fails_at_once_with_what_to_do() {
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--deny"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 5, "");
    let t = Instant::now();
    let o = run(ingot_aws(&proxy.endpoint()).arg("upload").arg(&img));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    assert!(err.contains("StartSnapshot failed: AccessDeniedException"), "{err}");
    assert!(err.contains("check the credentials"), "{err}");
    assert_eq!(proxy.get("/_proxy/stats")["deny"], 1, "not retried");
}

#[test]
fn a_failed_upload_names_the_snapshot_left_pending() {
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--rate", "503=1", "--puts-only"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 11, "");
    let o = run(ingot_aws(&proxy.endpoint()).arg("upload").arg(&img).args(["--max-attempts", "2"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("PutSnapshotBlock still failing after 2 attempts"), "{err}");
    assert!(err.contains("is left pending: EBS fails it after 60 minutes"), "{err}");
    assert!(o.stdout.is_empty(), "no snapshot id is printed for a failed upload");
}

#[test]
fn an_endpoint_that_never_answers_fails_within_the_timeouts() {
    // A socket that accepts connections (the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 6, "");
    let t = Instant::now();
    let o = run(ingot_aws(&endpoint).arg("upload").arg(&img).args([
        "--connect-timeout",
        "1",
        "--read-timeout",
        "1",
        "--attempt-timeout",
        "2",
        "--max-attempts",
        "3",
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(t.elapsed() < Duration::from_secs(20), "took {:?}: {err}", t.elapsed());
    assert!(err.contains("StartSnapshot still failing after 3 attempts"), "{err}");
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn encrypted_uploads_write_the_zero_blocks_filesystems_rely_on() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 2, 7, "");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", img.display())).unwrap()).unwrap();
    let mut want: Vec<u64> = nonzero_blocks(&img);
    for r in report["zeroed"].as_array().unwrap() {
        let (s, e) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
        want.extend(s / 524_288..e.div_ceil(524_288));
    }
    want.sort();
    want.dedup();
    assert!(want.len() > nonzero_blocks(&img).len(), "ext4 relies on zeroed blocks");
    let r = upload(&moto.endpoint(), &img, &["--encrypted"]);
    assert_eq!(r["blocks_written"], want.len() as u64);
    check_readback(&moto.endpoint(), r["snapshot_id"].as_str().unwrap(), &img, &want, "us-east-1");
}

#[test]
fn incremental_uploads_send_only_changed_blocks() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (recipe, img) = image(dir.path(), 4, 8, "");
    let first = upload(&moto.endpoint(), &img, &[]);
    let base = dir.path().join("base.json");
    std::fs::write(&base, first.to_string()).unwrap();
    let parent = first["snapshot_id"].as_str().unwrap();

    // Change one data block, zero another one: two blocks to send.
    let next = dir.path().join("next.raw");
    std::fs::copy(&img, &next).unwrap();
    let blocks = nonzero_blocks(&img);
    let f = std::fs::OpenOptions::new().write(true).open(&next).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0xAB; 4096], blocks[5] * 524_288 + 1000).unwrap();
    f.write_all_at(&vec![0; 524_288], blocks[6] * 524_288).unwrap();
    drop(f);

    let r = upload(&moto.endpoint(), &next, &["--parent", parent, "--parent-report", base.to_str().unwrap()]);
    assert_eq!(r["blocks_written"], 2, "{r}");
    assert_eq!(r["parent_snapshot_id"], parent);
    let mut want = blocks.clone();
    want.sort();
    check_readback(&moto.endpoint(), r["snapshot_id"].as_str().unwrap(), &next, &want, "us-east-1");

    // Without a report the parent's digests are read back from EBS: same result.
    let r2 = upload(&moto.endpoint(), &next, &["--parent", parent, "--description", "again"]);
    assert_eq!(r2["blocks_written"], 2, "{r2}");

    // A rebuild with one file changed, against the parent's build report: the two
    // reports say which blocks differ, and only those are read and sent.
    std::fs::write(dir.path().join("data8/f002"), bytes(77, 1 << 20)).unwrap();
    let rebuilt = dir.path().join("rebuilt.raw");
    build_checked(&recipe, &rebuilt);
    let report = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(format!("{}.json", p.display())).unwrap()).unwrap()
    };
    let (old, new) = (report(&img), report(&rebuilt));
    let (old, new) = (old["blocks"].as_object().unwrap(), new["blocks"].as_object().unwrap());
    let differ = new.iter().filter(|(i, d)| old.get(*i) != Some(d)).count()
        + old.keys().filter(|i| !new.contains_key(*i)).count();
    assert!(differ >= 2 && differ < new.len() / 2, "{differ} of {} blocks differ", new.len());
    let parent_report = format!("{}.json", img.display());
    let r3 = upload(&moto.endpoint(), &rebuilt, &["--parent", parent, "--parent-report", &parent_report]);
    assert_eq!(r3["blocks_written"], differ as u64, "{r3}");
    let same = new.iter().filter(|(i, d)| old.get(*i) == Some(d)).count();
    assert_eq!(r3["blocks_unchanged"], same as u64, "equal in both reports: skipped unread");
    check_readback(
        &moto.endpoint(),
        r3["snapshot_id"].as_str().unwrap(),
        &rebuilt,
        &nonzero_blocks(&rebuilt),
        "us-east-1",
    );
}

#[test]
fn bad_requests_fail_before_anything_is_sent_or_left() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 9, "");
    let fails = |args: &[&str], want: &str| {
        let o = run(ingot_aws(&moto.endpoint()).args(args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
    };
    let i = img.to_str().unwrap();
    fails(&["upload", i, "--volume-size", "0"], "outside EBS's 1–65536 GiB");
    fails(&["upload", i, "--volume-size", "70000"], "outside EBS's 1–65536 GiB");
    let big = dir.path().join("big.raw");
    std::fs::File::create(&big).unwrap().set_len(3 << 30).unwrap();
    fails(
        &["upload", big.to_str().unwrap(), "--volume-size", "2"],
        "smaller than the image (3221225472 bytes need 3 GiB)",
    );
    fails(&["upload", i, "--snapshot-timeout", "5"], "outside StartSnapshot's 10–4320");
    fails(&["upload", i, "--encrypted", "--parent", "snap-1"], "--encrypted and --parent cannot be combined");
    fails(&["upload", i, "--kms-key-id", "arn:aws:kms:us-east-1:1:key/x"], "add --encrypted");
    fails(&["upload", "/nonexistent/disk.raw"], "/nonexistent/disk.raw");
    assert!(moto.ec2("DescribeSnapshots").is_empty());

    let no_ami = dir.path().join("recipe9.toml");
    fails(&["publish", i, "--recipe", no_ami.to_str().unwrap()], "no [ami] section");
    let bad = recipe(
        dir.path(),
        "name = \"x\"\n[ami]\nboot_mode = \"legacy-bios\"\ntpm = true\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n",
    );
    fails(
        &["publish", i, "--recipe", bad.to_str().unwrap()],
        "recipe.toml:4:7: ami.tpm: NitroTPM needs boot_mode = \"uefi\"",
    );
    fails(&["register", "snap-1", "--recipe", no_ami.to_str().unwrap()], "no [ami] section");

    let out = dir.path().join("nothing.raw");
    fails(&["download", "snap-0000000000000000", out.to_str().unwrap()], "snap-0000000000000000");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().contains("download") || n == "nothing.raw"), "{left:?}");
}

#[test]
fn a_server_reporting_another_block_size_is_refused() {
    let moto = Server::moto_with(&[("INGOT_MOTO_BLOCK_SIZE", "512")]);
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 10, "");
    let o = run(ingot_aws(&moto.endpoint()).arg("upload").arg(&img));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("reported BlockSize 512"), "{err}");
    assert!(err.contains("ingot will not write to it"), "{err}");
}

/// An image changed in place after `ingot build`: its IMAGE.json no longer describes it.
/// The upload checks every block it reads against the report's digests and stops at the
/// first that differs, naming it; moving the report away uploads the image as it is now.
#[test]
fn an_image_changed_after_its_build_is_refused_naming_the_first_block() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (recipe, img) = image(dir.path(), 2, 19, "\n[ami]\nname = \"stale-{version}\"\n");
    let first = upload(&moto.endpoint(), &img, &[]);
    let again = upload(&moto.endpoint(), &img, &[]);
    assert_eq!(
        (again["reused"].as_bool(), again["blocks_written"].as_u64()),
        (Some(true), Some(0)),
        "unchanged: reused"
    );

    // Change one byte inside the root partition, where the build left a hole.
    let json_path = PathBuf::from(format!("{}.json", img.display()));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let at = report["disk_size"].as_u64().unwrap() - (3 << 20);
    std::os::unix::fs::FileExt::write_all_at(&std::fs::File::options().write(true).open(&img).unwrap(), b"X", at)
        .unwrap();
    let block = at / 524_288;
    let named = format!("block {block} (at byte {}) is not what {}.json says", block * 524_288, img.display());

    // The same report, so the same client token: the snapshot of the image as built is
    // found, and checking the image against it fails before anything is sent.
    let o = run(ingot_aws(&moto.endpoint()).arg("upload").arg(&img));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty());
    assert!(err.contains(&named) && err.contains("the image changed after its build"), "{err}");
    assert!(err.contains(&format!("move {}.json away", img.display())), "{err}");

    // Another request (another token): the upload stops at that block, the snapshot it
    // started is named as left pending.
    let o = run(ingot_aws(&moto.endpoint()).arg("upload").arg(&img).args(["--description", "other"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(&named), "{err}");
    assert!(err.contains("is left pending") && err.contains("aws ec2 delete-snapshot --snapshot-id snap-"), "{err}");

    let o = run(ingot_aws(&moto.endpoint()).arg("publish").arg(&img).arg("--recipe").arg(&recipe));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains(&named));

    // Without the report the image is uploaded as it is now.
    std::fs::rename(&json_path, dir.path().join("old.json")).unwrap();
    let now = nonzero_blocks(&img);
    let second = upload(&moto.endpoint(), &img, &[]);
    assert_ne!(second["snapshot_id"], first["snapshot_id"]);
    assert_eq!(second["blocks_written"], now.len() as u64);
    check_readback(&moto.endpoint(), second["snapshot_id"].as_str().unwrap(), &img, &now, "us-east-1");
}
