//! The AMI lifecycle: the strict moto server's lifecycle rules (scripts/moto_lifecycle.py)
//! held to the EC2 API Reference and the SSM User Guide with boto3, independent of ingot.

use crate::util::aws::*;
use serde_json::json;

/// Each rule the launcher adds to moto, as boto3 sees it (scripts/lifecycle-check.py):
/// an AMI maps the snapshots RegisterImage gave and protects them from DeleteSnapshot;
/// deregistration protection with and without its 24-hour cooldown; DeleteAssociatedSnapshots
/// skips a snapshot another AMI maps; DisableImage hides the AMI unless IncludeDisabled;
/// Owners apply to ImageIds; DescribeImageReferences finds an instance, a launch template
/// and an aws:ec2:image parameter; SSM stores no parameter for an AMI that does not exist
/// and refuses to change the data type; CopyImage checks its completion duration, copies
/// tags, adds its own and names its source.
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
}
