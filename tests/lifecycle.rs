//! The AMI lifecycle: the strict moto server's lifecycle rules (scripts/moto_lifecycle.py)
//! held to the EC2 API Reference and the SSM User Guide with boto3, independent of ingot.

use crate::util::aws::*;
use crate::util::run;
use serde_json::{json, Value};
use std::path::Path;

/// Each rule the launcher adds to moto, as boto3 sees it (scripts/lifecycle-check.py):
/// an AMI maps the snapshots RegisterImage gave and protects them from DeleteSnapshot;
/// deregistration protection with and without its 24-hour cooldown; DeleteAssociatedSnapshots
/// skips a snapshot another AMI maps; DisableImage hides the AMI unless IncludeDisabled;
/// Owners apply to ImageIds; DescribeImageReferences finds an instance, a launch template
/// and an aws:ec2:image parameter; SSM stores no parameter for an AMI that does not exist
/// and refuses to change the data type; CopyImage checks its completion duration, copies
/// tags, adds its own and names its source; a deregistered AMI's id is answered in each
/// of the three ways EC2 answers it over time (INGOT_MOTO_DEREGISTERED).
#[test]
fn the_moto_launcher_keeps_the_lifecycle_rules_aws_documents() {
    let moto = Server::moto();
    let r = check_lifecycle(&moto.endpoint());
    assert_eq!(r["mappings"], r["want_mappings"], "the AMI maps the snapshots RegisterImage gave, at their sizes");
    assert_eq!(r["delete_mapped_snapshot"], "InvalidSnapshot.InUse");
    assert_eq!(r["images_of_shared_snapshot"], true, "the block-device-mapping.snapshot-id filter");
    assert_eq!(r["protection_default"], "disabled");
    assert_eq!(r["enable_with_cooldown"], "enabled-with-cooldown");
    assert_eq!(r["protection_enabled"], "enabled-with-cooldown");
    assert_eq!(r["deregister_protected"], "OperationNotPermitted");
    assert!(r["protection_in_cooldown"].as_str().unwrap().starts_with("disabled-until "), "{r}");
    assert_eq!(
        r["deregister_in_cooldown"], "OperationNotPermitted",
        "24 hours after disabling a protection with cooldown"
    );
    assert_eq!(r["protection_after_disable_without_cooldown"], "disabled");
    let shared = r["delete_associated"].as_array().unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0]["ReturnCode"], "skipped", "a snapshot another AMI maps is not deleted");
    assert_eq!(r["deregister_again"], "InvalidAMIID.Unavailable");
    assert_eq!(r["delete_associated_alone"][0]["ReturnCode"], "success");
    assert_eq!(r["snapshot_after_delete_associated"], "InvalidSnapshot.NotFound");
    assert_eq!(r["disabled_hidden"], true);
    assert_eq!(r["disabled_with_include"], "disabled");
    assert_eq!(r["owners_applied_to_ids"], 0);
    assert_eq!(r["references"], r["want_references"]);
    assert_eq!(r["references_unknown_image"], "InvalidAMIID.NotFound");
    assert_eq!(r["references_eleven_ids"], "InvalidParameterValue", "ImageIds takes 1 to 10");
    assert_eq!(r["bad_ami_get"], "ParameterNotFound", "validation failed: the parameter is not created");
    assert_eq!(r["parameter"]["DataType"], "aws:ec2:image");
    assert_eq!(r["parameter"]["Version"], 1);
    assert_eq!(r["data_type_change"], "ValidationException");
    assert_eq!(r["copy_bad_minutes"], "InvalidParameterValue", "15 to 2880 minutes in steps of 15");
    let source = r["copy_source"][0].as_str().unwrap();
    assert_eq!(r["copy_tags"], json!([["ingot:source", format!("us-east-1/{source}")], ["project", "ingot"]]));
    assert_eq!(r["copy_source"][1], "us-east-1");
    assert_eq!(r["copy_snapshot_region"], "ok", "the copy's snapshot is in its own region");
    assert_eq!(r["copy_snapshot_differs"], true);
    for (mode, answer) in
        [("empty", json!([])), ("listed", json!(["deregistered"])), ("not-found", json!("InvalidAMIID.NotFound"))]
    {
        let moto = Server::moto_with(&[("INGOT_MOTO_DEREGISTERED", mode)]);
        let r = lifecycle("deregistered-answer", &[&moto.endpoint()]);
        assert_eq!(r["answer"], answer, "INGOT_MOTO_DEREGISTERED={mode}");
    }
}

/// The `[ami]` of the lifecycle tests: a copy in eu-west-1 (time-based) and the id in an
/// SSM parameter in both regions.
const AMI: &str = r#"
[ami]
boot_mode = "uefi"
regions = ["eu-west-1"]
ssm_parameter = "/images/{name}/{arch}/latest"
copy_completion_minutes = 30
"#;
/// The parameter [`AMI`] names for the recipe `aws-test`.
const PARAMETER: &str = "/images/aws-test/x86_64/latest";
const REGIONS: &str = "us-east-1,eu-west-1";

/// `ingot publish IMAGE --recipe RECIPE --name NAME --json`.
fn publish(endpoint: &str, recipe: &Path, image: &Path, name: &str) -> Value {
    json(
        ingot_aws(endpoint)
            .arg("publish")
            .arg(image)
            .arg("--recipe")
            .arg(recipe)
            .args(["--name", name, "--poll", "1", "--json"]),
    )
}

/// Publishes a 1 MiB-payload image of its own (seed `seed`) as `name`.
fn publish_new(endpoint: &str, dir: &Path, seed: u64, ami: &str, name: &str) -> Value {
    let (recipe, image) = crate::aws::image(dir, 1, seed, ami);
    publish(endpoint, &recipe, &image, name)
}

/// The account's AMIs and snapshots in each region, as boto3 sees them.
fn state(endpoint: &str) -> Value {
    lifecycle("state", &[endpoint, "us-east-1", "eu-west-1"])
}

/// Which of `snapshots` still exist in `region` (DescribeSnapshots by id).
fn existing(endpoint: &str, region: &str, snapshots: &[String]) -> Vec<String> {
    let args: Vec<&str> = [endpoint, region].into_iter().chain(snapshots.iter().map(String::as_str)).collect();
    serde_json::from_value(lifecycle("existing", &args)).unwrap()
}

/// The names of the AMIs in `region` of a [`state`], and the snapshots they map.
fn names_and_mapped(state: &Value, region: &str) -> (Vec<String>, Vec<String>) {
    let images = state[region]["images"].as_array().unwrap();
    let names = images.iter().map(|i| i["name"].as_str().unwrap().to_string()).collect();
    let mut mapped: Vec<String> = images
        .iter()
        .flat_map(|i| i["snapshots"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()))
        .collect();
    mapped.sort();
    (names, mapped)
}

/// Whether every request recorded after the first `from` was a read.
fn reads_only(moto: &Server, from: usize) -> Vec<String> {
    let all = moto.get("/_ingot/requests");
    let actions = all.as_array().unwrap()[from..].iter().map(|r| r["action"].as_str().unwrap().to_string());
    let read = |a: &str| a.starts_with("Describe") || a.starts_with("Get") || a == "GET" || a == "HEAD";
    actions.filter(|a| !read(a)).collect()
}

fn recorded(moto: &Server) -> usize {
    moto.get("/_ingot/requests").as_array().unwrap().len()
}

/// Three versions published to two regions; the SSM parameter follows each publish and a
/// re-publish that reuses the AMI leaves it alone; `prune --keep 1` plans with reads only
/// (dry run, and without a terminal or --yes), then leaves the newest AMI and its
/// snapshots in both regions and nothing else.
#[test]
fn prune_keeps_the_newest_of_three_versions_in_both_regions() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let mut published = Vec::new();
    for v in 1..=3 {
        published.push(publish_new(&ep, dir.path(), 20 + v, AMI, &format!("lc-{v}"))["register"].clone());
        std::thread::sleep(std::time::Duration::from_millis(1100)); // EC2 dates AMIs to the second
    }
    let newest = &published[2];
    let (east, west) = (newest["image_id"].as_str().unwrap(), newest["copies"][0]["image_id"].as_str().unwrap());
    for (region, id) in [("us-east-1", east), ("eu-west-1", west)] {
        let p = lifecycle("parameter", &[&ep, region, PARAMETER]);
        assert_eq!(p, json!({"Value": id, "DataType": "aws:ec2:image", "Version": 3}), "{region}");
    }
    let copies = moto.ec2("CopyImage");
    assert_eq!(copies.len(), 3);
    for c in &copies {
        assert_eq!(c["params"]["SnapshotCopyCompletionDurationMinutes"], "30", "{c}");
    }

    // Publishing lc-3 again reuses it: the parameters keep their version.
    let (recipe, image) = (dir.path().join("recipe23.toml"), dir.path().join("disk23.raw"));
    let again = publish(&ep, &recipe, &image, "lc-3")["register"].clone();
    assert_eq!(again["reused"], true);
    let changed: Vec<&Value> = again["parameters"].as_array().unwrap().iter().map(|p| &p["changed"]).collect();
    assert_eq!(changed, [false, false], "{again}");
    assert_eq!(lifecycle("parameter", &[&ep, "eu-west-1", PARAMETER])["Version"], 3);

    // The plan, twice, with reads only.
    let before = recorded(&moto);
    let prune = ["prune", "--name", "lc-*", "--keep", "1", "--region", REGIONS];
    let plan = json(ingot_aws(&ep).args(prune).args(["--dry-run", "--json"]));
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["matched"], 6);
    let statuses: Vec<&Value> = plan["retired"].as_array().unwrap().iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, ["would-deregister"; 4], "{plan}");
    let o = run(ingot_aws(&ep).args(prune).stdin(std::process::Stdio::null()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --yes"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("would be deregistered"));
    assert_eq!(reads_only(&moto, before), Vec::<String>::new(), "a plan only reads");
    assert_eq!(names_and_mapped(&state(&ep), "eu-west-1").0, ["lc-1", "lc-2", "lc-3"]);

    // The prune.
    let published_snapshots = state(&ep);
    let done = json(ingot_aws(&ep).args(prune).args(["--yes", "--json"]));
    assert_eq!(done["applied"], true);
    let spared: Vec<&Value> = done["spared"].as_array().unwrap().iter().map(|s| &s["image_id"]).collect();
    assert_eq!(spared, [east, west]);
    let after = state(&ep);
    for region in ["us-east-1", "eu-west-1"] {
        let (names, mapped) = names_and_mapped(&after, region);
        assert_eq!(names, ["lc-3"], "{region}: {after}");
        let all = names_and_mapped(&published_snapshots, region).1;
        assert_eq!(all.len(), 3, "one snapshot per version in each region");
        assert_eq!(existing(&ep, region, &all), mapped, "{region}: only lc-3's snapshot is left");
    }
    assert_eq!(moto.ec2("DeleteSnapshot").len(), 4, "two AMIs × two regions, one snapshot each");
}

/// A protected AMI and one a launch template launches are kept with the reason (printed,
/// and in --json), and `ingot images` shows why; one whose snapshot another AMI maps is
/// deregistered and the snapshot kept for the other; --disable-only disables an AMI and
/// deletes nothing.
#[test]
fn protected_and_referenced_amis_are_kept_with_the_reason() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let protected_ami = "[ami]\nderegistration_protection = \"without-cooldown\"\n";
    let protected = publish_new(&ep, dir.path(), 31, protected_ami, "keep-protected")["register"]["image_id"].clone();
    let referenced = publish_new(&ep, dir.path(), 32, "[ami]\n", "keep-referenced")["register"]["image_id"].clone();
    let (recipe, image) = crate::aws::image(dir.path(), 1, 33, "[ami]\n");
    let shared = publish(&ep, &recipe, &image, "keep-shared-1")["register"].clone();
    let twin = publish(&ep, &recipe, &image, "keep-shared-2")["register"].clone();
    let disable = publish_new(&ep, dir.path(), 34, "[ami]\n", "keep-disabled")["register"]["image_id"].clone();
    let template = lifecycle("launch-template", &[&ep, "us-east-1", referenced.as_str().unwrap()]);

    let listed = json(ingot_aws(&ep).args(["images", "--name", "keep-*", "--json"]));
    let by_id = |id: &Value| listed.as_array().unwrap().iter().find(|i| i["image_id"] == *id).unwrap().clone();
    assert_eq!(by_id(&protected)["deregistration_protection"], "enabled-without-cooldown");
    let refs = &by_id(&referenced)["references"];
    assert_eq!(refs[0]["resource_type"], "ec2:LaunchTemplate", "{refs}");
    assert!(refs[0]["arn"].as_str().unwrap().ends_with(template["id"].as_str().unwrap()), "{refs}");
    let snapshots = &by_id(&shared["image_id"])["snapshots"];
    assert_eq!(snapshots[0]["snapshot_id"], by_id(&twin["image_id"])["snapshots"][0]["snapshot_id"]);
    assert_eq!(snapshots[0]["size_gib"], 1);
    assert_eq!(snapshots[0]["shared_with"], json!([twin["image_id"]]), "{listed}");

    let ids = [&protected, &referenced, &shared["image_id"]].map(|v| v.as_str().unwrap().to_string());
    let o = run(ingot_aws(&ep).arg("deregister").args(&ids).args(["--dry-run", "--json"]));
    assert_eq!(o.status.code(), Some(1), "kept AMIs fail the command");
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reasons: Vec<Value> = r.as_array().unwrap().iter().map(|r| r["kept"]["reason"].clone()).collect();
    assert_eq!(reasons, [json!("protected"), json!("referenced"), Value::Null], "{r}");
    assert_eq!(r[2]["status"], "would-deregister");
    assert_eq!(r[2]["snapshots_kept"], json!([{"id": snapshots[0]["snapshot_id"], "by": [twin["image_id"]]}]));
    let o = run(ingot_aws(&ep).arg("deregister").args(&ids));
    assert_eq!(o.status.code(), Some(1), "kept AMIs fail the command");
    let text = String::from_utf8_lossy(&o.stdout);
    let still_used = format!("kept: still used by {}", twin["image_id"].as_str().unwrap());
    for why in ["deregistration protection is on", "referenced by ec2:LaunchTemplate", ": deregistered", &still_used] {
        assert!(text.contains(why), "{why}: {text}");
    }
    let (names, mapped) = names_and_mapped(&state(&ep), "us-east-1");
    assert_eq!(names, ["keep-disabled", "keep-protected", "keep-referenced", "keep-shared-2"]);
    assert!(mapped.contains(&snapshots[0]["snapshot_id"].as_str().unwrap().to_string()), "the twin's snapshot stays");

    let d = json(ingot_aws(&ep).args(["deregister", disable.as_str().unwrap(), "--disable-only", "--json"]));
    assert_eq!(d[0]["status"], "disabled");
    let after = state(&ep);
    let gone = after["us-east-1"]["images"].as_array().unwrap().iter().find(|i| i["id"] == disable).unwrap();
    assert_eq!(gone["state"], "disabled");
    let snapshot = gone["snapshots"][0].as_str().unwrap().to_string();
    assert_eq!(existing(&ep, "us-east-1", std::slice::from_ref(&snapshot)), [snapshot], "disabling deletes nothing");
}

/// Three versions of one unchanged image share one snapshot in the source region (publish
/// says so); their copies in eu-west-1 each have their own. An AMI made outside ingot, and
/// outside the name, maps the snapshot too. `prune --keep 1` with DeleteSnapshot denied in
/// eu-west-1 deregisters the four old AMIs, keeps the shared snapshot naming its users,
/// and leaves the copies' snapshots; the re-run deletes those (found by their tags). Once
/// the outsider is gone, `deregister --copies` of the newest takes the snapshot along.
#[test]
fn prune_retires_versions_that_share_one_snapshot() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let (recipe, image) = crate::aws::image(dir.path(), 1, 60, "[ami]\nregions = [\"eu-west-1\"]\n");
    let publish = |name: &str| {
        let mut c = ingot_aws(&ep);
        c.arg("publish").arg(&image).arg("--recipe").arg(&recipe).args(["--name", name]);
        c
    };
    let mut ids: Vec<String> = Vec::new();
    let mut outsider = String::new();
    for v in 1..=3 {
        let name = format!("same-{v}");
        if v == 2 {
            // In text, on stderr.
            let o = run(&mut publish(&name));
            let said = String::from_utf8_lossy(&o.stderr);
            assert!(said.contains(&format!("nothing uploaded; the new AMI shares it with {}", ids[0])), "{said}");
            ids.push(String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_string());
        } else {
            if v == 3 {
                let snapshot = &names_and_mapped(&state(&ep), "us-east-1").1[0];
                outsider =
                    lifecycle("register", &[&ep, "us-east-1", "not-ingot", snapshot])["id"].as_str().unwrap().into();
            }
            let r = json(publish(&name).arg("--json"));
            let mut users: Vec<String> = serde_json::from_value(r["snapshot_shared_with"].clone()).unwrap();
            users.sort();
            let mut want = ids.clone();
            want.extend((v == 3).then(|| outsider.clone()));
            want.sort();
            assert_eq!(users, want, "publish names every AMI that maps the snapshot it reuses: {r}");
            ids.push(r["register"]["image_id"].as_str().unwrap().to_string());
        }
        std::thread::sleep(std::time::Duration::from_millis(1100)); // EC2 dates AMIs to the second
    }
    let published = state(&ep);
    let shared = names_and_mapped(&published, "us-east-1").1;
    assert_eq!(shared.len(), 4, "four mappings");
    assert!(shared.iter().all(|s| *s == shared[0]), "of one snapshot: {shared:?}");
    let copies = names_and_mapped(&published, "eu-west-1").1;
    assert_eq!(copies.len(), 3, "a snapshot per copy");
    let shown = run(ingot_aws(&ep).args(["images", "--name", "same-3"]));
    assert!(String::from_utf8_lossy(&shown.stdout).contains(", shared with "), "{shown:?}");

    let prune = ["prune", "--name", "same-*", "--keep", "1", "--region", REGIONS, "--yes", "--json"];
    let proxy = Server::proxy(&moto, &["--deny-action", "DeleteSnapshot@eu-west-1"]);
    let o = run(ingot_aws(&proxy.endpoint()).args(prune));
    assert_eq!(o.status.code(), Some(1), "snapshots left: {}", String::from_utf8_lossy(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    let retired = first["retired"].as_array().unwrap();
    assert_eq!(retired.iter().filter(|r| r["status"] == "deregistered").count(), 4, "{first}");
    for r in retired.iter().filter(|r| r["region"] == "us-east-1") {
        assert_eq!(r["snapshots_deleted"], json!([]), "{r}");
        let mut by: Vec<String> = serde_json::from_value(r["snapshots_kept"][0]["by"].clone()).unwrap();
        by.sort();
        let mut want = vec![ids[2].clone(), outsider.clone()];
        want.sort();
        assert_eq!(by, want, "kept for the spared AMI and the one outside the name: {r}");
    }
    for r in retired.iter().filter(|r| r["region"] == "eu-west-1") {
        assert!(r["left"][0]["error"].as_str().unwrap().contains("UnauthorizedOperation"), "{r}");
    }

    let again = json(ingot_aws(&ep).args(prune));
    let finished: Vec<&Value> = again["retired"].as_array().unwrap().iter().map(|r| &r["status"]).collect();
    assert_eq!(finished, ["already-gone", "already-gone"], "the copies' leftovers, found by name: {again}");
    let after = state(&ep);
    assert_eq!(
        names_and_mapped(&after, "us-east-1"),
        (vec!["not-ingot".into(), "same-3".into()], vec![shared[0].clone(); 2])
    );
    let (names, mapped) = names_and_mapped(&after, "eu-west-1");
    assert_eq!(names, ["same-3"]);
    assert_eq!(existing(&ep, "eu-west-1", &copies), mapped, "only the newest copy's snapshot is left");
    let quiet = json(ingot_aws(&ep).args(prune));
    assert_eq!(quiet["retired"], json!([]), "nothing more to do: {quiet}");

    lifecycle("deregister", &[&ep, "us-east-1", &outsider]);
    let last = json(ingot_aws(&ep).args(["deregister", &ids[2], "--copies", "--json"]));
    assert_eq!(last[0]["snapshots_deleted"], json!([shared[0]]), "the last AMI takes the snapshot along: {last}");
    assert_eq!(existing(&ep, "us-east-1", &shared[..1]), Vec::<String>::new());
    assert_eq!(existing(&ep, "eu-west-1", &copies), Vec::<String>::new());
}

/// DescribeImageReferences denied: references are unknown and the AMI is kept. DeleteSnapshot
/// denied in eu-west-1: the copy there is deregistered and its snapshot reported left;
/// running the command again deletes it, and a third run says all is gone. The re-runs
/// are held to each way EC2 answers for a deregistered AMI: listed as `deregistered`, not
/// listed, and (long after) InvalidAMIID.NotFound, when the source itself is reported
/// unknown but its copy's leftovers are still found and deleted.
#[test]
fn a_failure_midway_says_what_is_left_and_a_rerun_finishes() {
    for answer in ["empty", "listed", "not-found"] {
        midway(answer);
    }
}

fn midway(answer: &str) {
    let moto = Server::moto_with(&[("INGOT_MOTO_DEREGISTERED", answer)]);
    let dir = tempfile::tempdir().unwrap();
    let r = publish_new(&moto.endpoint(), dir.path(), 41, "[ami]\nregions = [\"eu-west-1\"]\n", "midway")["register"]
        .clone();
    let ami = r["image_id"].as_str().unwrap();
    if answer == "empty" {
        references_unknown_keeps(&moto, ami);
    }

    let proxy = Server::proxy(&moto, &["--deny-action", "DeleteSnapshot@eu-west-1"]);
    let o = run(ingot_aws(&proxy.endpoint()).args(["deregister", ami, "--copies", "--json"]));
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(first[0]["status"], "deregistered");
    assert_eq!(first[0]["snapshots_deleted"].as_array().unwrap().len(), 1);
    assert_eq!(first[1]["region"], "eu-west-1");
    assert_eq!(first[1]["status"], "deregistered");
    assert_eq!(first[1]["snapshots_deleted"], json!([]));
    let left = &first[1]["left"][0];
    assert!(left["error"].as_str().unwrap().contains("UnauthorizedOperation"), "{left}");
    let left_id = left["id"].as_str().unwrap().to_string();
    assert_eq!(existing(&moto.endpoint(), "eu-west-1", std::slice::from_ref(&left_id)), [left_id.as_str()]);

    let source = if answer == "not-found" { "failed" } else { "already-gone" };
    let again = || {
        let o = run(ingot_aws(&moto.endpoint()).args(["deregister", ami, "--copies", "--json"]));
        assert_eq!(o.status.success(), answer != "not-found", "{answer}: {}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r[0]["status"], source, "{answer}: {r}");
        r
    };
    let second = again();
    if answer == "not-found" {
        assert!(second[0]["error"].as_str().unwrap().contains("does not know"), "{second}");
    }
    assert_eq!(second[1]["status"], "already-gone", "{answer}: {second}");
    assert_eq!(second[1]["snapshots_deleted"], json!([left["id"]]));
    assert_eq!(existing(&moto.endpoint(), "eu-west-1", &[left_id]), Vec::<String>::new());
    let source_snapshot = first[0]["snapshots_deleted"][0].as_str().unwrap().to_string();
    assert_eq!(existing(&moto.endpoint(), "us-east-1", &[source_snapshot]), Vec::<String>::new());
    let third = again();
    assert_eq!(third.as_array().unwrap().len(), 1, "the copy's leftovers are gone: {third}");
}

/// Without DescribeImageReferences nothing can say `ami` is unused: `images` says the
/// references are unknown (not none) and `deregister` keeps it.
fn references_unknown_keeps(moto: &Server, ami: &str) {
    let blind = Server::proxy(moto, &["--deny-action", "DescribeImageReferences"]);
    let listed = json(ingot_aws(&blind.endpoint()).args(["images", "--name", "midway", "--json"]));
    assert_eq!(listed[0]["references"], Value::Null, "unknown, not none: {listed}");
    assert!(listed[0]["references_unknown"].as_str().unwrap().contains("UnauthorizedOperation"), "{listed}");
    let o = run(ingot_aws(&blind.endpoint()).args(["deregister", ami, "--json"]));
    assert_eq!(o.status.code(), Some(1));
    let kept: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(kept[0]["kept"]["reason"], "references-unknown", "{kept}");
}

/// An id EC2 never knew, one that is not an AMI id, another account's AMI, `--keep 0`
/// without `--force`, several regions where one is taken, a glob matching nothing.
#[test]
fn bad_lifecycle_input_is_refused_clearly() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let fails = |args: &[&str], code: i32, says: &str| {
        let o = run(ingot_aws(&ep).args(args));
        let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    };
    fails(&["deregister", "ami-0123456789abcdef0"], 1, "ami-0123456789abcdef0");
    fails(&["deregister", "snap-0123456789abcdef0"], 1, "is not an AMI id");
    let foreign = lifecycle("foreign", &[&ep])["id"].as_str().unwrap().to_string();
    fails(&["deregister", &foreign], 1, "owned by account");
    fails(&["prune", "--name", "x-*", "--keep", "0"], 1, "--force");
    fails(&["deregister", "ami-0123456789abcdef0", "--region", REGIONS], 1, "--region eu-west-1");
    let o = run(ingot_aws(&ep).args(["prune", "--name", "nothing-*", "--keep", "1"]));
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "no AMI matches in us-east-1");
    let o = run(ingot_aws(&ep).args(["images", "--name", "nothing-*", "--region", REGIONS]));
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "no AMI matches");
}

/// On a terminal, prune prints the plan and asks: `n` changes nothing, `y` goes on.
#[test]
fn prune_on_a_terminal_asks_before_deregistering() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    for v in 1..=2 {
        publish_new(&ep, dir.path(), 50 + v, "[ami]\n", &format!("ask-{v}"));
        std::thread::sleep(std::time::Duration::from_millis(1100)); // EC2 dates AMIs to the second
    }
    let prune = ["prune", "--name", "ask-*", "--keep", "1"];
    let before = recorded(&moto);
    let shown = crate::util::in_terminal("n\n", ingot_aws(&ep).args(prune));
    assert!(shown.contains("Deregister 1 AMI(s) and delete the snapshots no other AMI uses? [y/N]"), "{shown}");
    assert!(shown.contains("would be deregistered"), "{shown}");
    assert_eq!(reads_only(&moto, before), Vec::<String>::new(), "answering n changes nothing");
    let shown = crate::util::in_terminal("y\n", ingot_aws(&ep).args(prune));
    assert!(shown.contains(": deregistered"), "{shown}");
    assert_eq!(names_and_mapped(&state(&ep), "us-east-1").0, ["ask-2"]);
}

/// A prune of one region retires the copies in others; when deleting a copy's snapshot
/// fails there, the same prune run again (still naming only the source region) finds the
/// leftover by its tags and deletes it.
#[test]
fn a_prune_finishes_the_copies_it_left_in_regions_not_named() {
    let moto = Server::moto();
    let ep = moto.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let ami = "[ami]\nregions = [\"eu-west-1\"]\n";
    for v in 1..=2 {
        publish_new(&ep, dir.path(), 70 + v, ami, &format!("far-{v}"));
        std::thread::sleep(std::time::Duration::from_millis(1100)); // EC2 dates AMIs to the second
    }
    let copies = names_and_mapped(&state(&ep), "eu-west-1").1;
    let prune = ["prune", "--name", "far-*", "--keep", "1", "--region", "us-east-1", "--yes", "--json"];
    let proxy = Server::proxy(&moto, &["--deny-action", "DeleteSnapshot@eu-west-1"]);
    let o = run(ingot_aws(&proxy.endpoint()).args(prune));
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    let copy = first["retired"].as_array().unwrap().iter().find(|r| r["region"] == "eu-west-1").unwrap().clone();
    assert!(copy["copy_of"].as_str().unwrap().starts_with("us-east-1/ami-"), "{copy}");
    assert_eq!(copy["left"].as_array().unwrap().len(), 1, "{copy}");
    let again = json(ingot_aws(&ep).args(prune));
    let finished: Vec<(&Value, &Value)> =
        again["retired"].as_array().unwrap().iter().map(|r| (&r["region"], &r["status"])).collect();
    assert_eq!(finished, [(&json!("eu-west-1"), &json!("already-gone"))], "{again}");
    let (names, mapped) = names_and_mapped(&state(&ep), "eu-west-1");
    assert_eq!(names, ["far-2"]);
    assert_eq!(existing(&ep, "eu-west-1", &copies), mapped, "the copy's leftover is deleted");
}
