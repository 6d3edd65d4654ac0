#!/usr/bin/env python3
"""Exercises the strict moto server's AMI lifecycle rules (scripts/moto_lifecycle.py) with
boto3, independent of ingot, and prints what EC2 and SSM answered as JSON.

  lifecycle-check.py ENDPOINT
      Each key of the output is one rule: the answer (or the error code) the server gave.
      tests/lifecycle.rs holds them to what the EC2 API Reference and SSM User Guide say.
  lifecycle-check.py state ENDPOINT REGION...
      Per region, the account's AMIs (disabled ones too) with their snapshots.
  lifecycle-check.py existing ENDPOINT REGION SNAPSHOT...
      Those of the snapshots DescribeSnapshots still knows.
  lifecycle-check.py parameter ENDPOINT REGION NAME
      GetParameter: Value, DataType, Version (or the error code).
  lifecycle-check.py launch-template ENDPOINT REGION AMI
      Creates a launch template that launches AMI.
  lifecycle-check.py deregistered-answer ENDPOINT
      What DescribeImages answers for the id of an AMI just deregistered.
  lifecycle-check.py deregister ENDPOINT REGION AMI
      DeregisterImage, nothing else.
  lifecycle-check.py foreign ENDPOINT
      An AMI another account owns (one of moto's own).
  lifecycle-check.py put-object ENDPOINT REGION BUCKET KEY / list-objects ENDPOINT REGION BUCKET
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError


def clients(endpoint, region):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("ec2", **kw), boto3.client("ssm", **kw)


def code(call):
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def snapshot(ec2, gib):
    volume = ec2.create_volume(Size=gib, AvailabilityZone="us-east-1a")["VolumeId"]
    return ec2.create_snapshot(VolumeId=volume)["SnapshotId"]


def register(ec2, name, *snaps):
    maps = [{"DeviceName": f"/dev/xvd{chr(97 + i)}", "Ebs": {"SnapshotId": s}} for i, s in enumerate(snaps)]
    return ec2.register_image(
        Name=name, Architecture="x86_64", RootDeviceName="/dev/xvda", VirtualizationType="hvm", BlockDeviceMappings=maps
    )["ImageId"]


def image(ec2, image_id, **kw):
    found = ec2.describe_images(ImageIds=[image_id], **kw)["Images"]
    return found[0] if found else None


def main(endpoint):
    ec2, ssm = clients(endpoint, "us-east-1")
    west, west_ssm = clients(endpoint, "eu-west-1")
    out = {}
    s1, s2 = snapshot(ec2, 3), snapshot(ec2, 5)
    a = register(ec2, "check-a", s1, s2)
    out["mappings"] = [(m["Ebs"]["SnapshotId"], m["Ebs"]["VolumeSize"]) for m in image(ec2, a)["BlockDeviceMappings"]]
    out["want_mappings"] = [(s1, 3), (s2, 5)]
    out["delete_mapped_snapshot"] = code(lambda: ec2.delete_snapshot(SnapshotId=s1))
    b = register(ec2, "check-b", s2)  # s2 now shared by two AMIs
    by_snapshot = ec2.describe_images(Owners=["self"], Filters=[{"Name": "block-device-mapping.snapshot-id", "Values": [s2]}])
    out["images_of_shared_snapshot"] = sorted(i["ImageId"] for i in by_snapshot["Images"]) == sorted([a, b])

    out["protection_default"] = image(ec2, a)["DeregistrationProtection"]
    out["enable_with_cooldown"] = ec2.enable_image_deregistration_protection(ImageId=a, WithCooldown=True)["Return"]
    out["protection_enabled"] = image(ec2, a)["DeregistrationProtection"]
    out["deregister_protected"] = code(lambda: ec2.deregister_image(ImageId=a))
    ec2.disable_image_deregistration_protection(ImageId=a)
    out["protection_in_cooldown"] = image(ec2, a)["DeregistrationProtection"]
    out["deregister_in_cooldown"] = code(lambda: ec2.deregister_image(ImageId=a))

    c = register(ec2, "check-c", snapshot(ec2, 2))
    ec2.enable_image_deregistration_protection(ImageId=c)
    ec2.disable_image_deregistration_protection(ImageId=c)
    out["protection_after_disable_without_cooldown"] = image(ec2, c)["DeregistrationProtection"]

    # DeleteAssociatedSnapshots: b's only snapshot is a's too, so it is skipped.
    out["delete_associated"] = ec2.deregister_image(ImageId=b, DeleteAssociatedSnapshots=True)["DeleteSnapshotResults"]
    out["deregister_again"] = code(lambda: ec2.deregister_image(ImageId=b))
    d_snap = snapshot(ec2, 1)
    d = register(ec2, "check-d", d_snap)
    out["delete_associated_alone"] = ec2.deregister_image(ImageId=d, DeleteAssociatedSnapshots=True)["DeleteSnapshotResults"]
    out["snapshot_after_delete_associated"] = code(lambda: ec2.describe_snapshots(SnapshotIds=[d_snap]))

    ec2.disable_image(ImageId=c)
    out["disabled_hidden"] = image(ec2, c) is None
    out["disabled_with_include"] = image(ec2, c, IncludeDisabled=True)["State"]
    out["owners_applied_to_ids"] = len(ec2.describe_images(ImageIds=[c], Owners=["111122223333"], IncludeDisabled=True)["Images"])

    # References: a launch template, an instance, an aws:ec2:image parameter.
    e = register(ec2, "check-e", snapshot(ec2, 1))
    template = ec2.create_launch_template(LaunchTemplateName="check", LaunchTemplateData={"ImageId": e})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    ssm.put_parameter(Name="/images/check/latest", Value=e, Type="String", DataType="aws:ec2:image")
    instance = ec2.run_instances(ImageId=e, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    refs = ec2.describe_image_references(ImageIds=[e, a], IncludeAllResourceTypes=True)["ImageReferences"]
    out["references"] = sorted((r["ImageId"], r["ResourceType"], r["Arn"]) for r in refs)
    out["want_references"] = sorted(
        [
            (e, "ec2:LaunchTemplate", f"arn:aws:ec2:us-east-1:123456789012:launch-template/{template_id}"),
            (e, "ssm:Parameter", "arn:aws:ssm:us-east-1:123456789012:parameter/images/check/latest"),
            (e, "ec2:Instance", f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}"),
        ]
    )
    out["references_unknown_image"] = code(lambda: ec2.describe_image_references(ImageIds=["ami-0123456789abcdef0"], IncludeAllResourceTypes=True))
    out["references_eleven_ids"] = code(lambda: ec2.describe_image_references(ImageIds=[e] * 11, IncludeAllResourceTypes=True))

    # SSM aws:ec2:image: an unknown AMI is not stored; the data type cannot change.
    version = ssm.put_parameter(Name="/images/check/bad", Value="ami-0123456789abcdef0", Type="String", DataType="aws:ec2:image")["Version"]
    out["bad_ami_put_version"] = version
    out["bad_ami_get"] = code(lambda: ssm.get_parameter(Name="/images/check/bad"))
    out["parameter"] = {k: ssm.get_parameter(Name="/images/check/latest")["Parameter"][k] for k in ("Value", "DataType", "Version")}
    out["data_type_change"] = code(lambda: ssm.put_parameter(Name="/images/check/latest", Value="x", Type="String", DataType="text", Overwrite=True))

    # CopyImage: time-based copies, tags, the copy's own snapshots.
    out["copy_bad_minutes"] = code(
        lambda: west.copy_image(SourceImageId=e, SourceRegion="us-east-1", Name="check-x", SnapshotCopyCompletionDurationMinutes=20)
    )
    ec2.create_tags(Resources=[e], Tags=[{"Key": "project", "Value": "ingot"}])
    copy = west.copy_image(
        SourceImageId=e,
        SourceRegion="us-east-1",
        Name="check-e",
        CopyImageTags=True,
        SnapshotCopyCompletionDurationMinutes=30,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "ingot:source", "Value": f"us-east-1/{e}"}]}],
    )["ImageId"]
    copied = image(west, copy)
    out["copy_tags"] = sorted((t["Key"], t["Value"]) for t in copied.get("Tags", []))
    out["copy_source"] = [copied.get("SourceImageId"), copied.get("SourceImageRegion")]
    copy_snap = copied["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    out["copy_snapshot_region"] = code(lambda: west.describe_snapshots(SnapshotIds=[copy_snap]))
    out["copy_snapshot_differs"] = copy_snap != image(ec2, e)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    print(json.dumps(out, indent=1, default=str))


def state(endpoint, *regions):
    out = {}
    for region in regions:
        ec2, _ = clients(endpoint, region)
        images = ec2.describe_images(Owners=["self"], IncludeDisabled=True)["Images"]
        out[region] = {
            "images": sorted(
                (
                    {
                        "id": i["ImageId"],
                        "name": i["Name"],
                        "state": i["State"],
                        "snapshots": [m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m],
                    }
                    for i in images
                ),
                key=lambda i: i["name"],
            ),
        }
    return out


def existing(endpoint, region, *snapshots):
    """Which of `snapshots` DescribeSnapshots still knows in `region` (moto's own
    snapshots of its built-in AMIs belong to the account too, so all are not listed)."""
    ec2, _ = clients(endpoint, region)
    return sorted(s for s in snapshots if code(lambda: ec2.describe_snapshots(SnapshotIds=[s])) == "ok")


def parameter(endpoint, region, name):
    _, ssm = clients(endpoint, region)
    try:
        p = ssm.get_parameter(Name=name)["Parameter"]
    except ClientError as e:
        return {"error": e.response["Error"]["Code"]}
    return {"Value": p["Value"], "DataType": p["DataType"], "Version": p["Version"]}


def launch_template(endpoint, region, ami):
    ec2, _ = clients(endpoint, region)
    lt = ec2.create_launch_template(LaunchTemplateName=f"uses-{ami}", LaunchTemplateData={"ImageId": ami})
    return {"id": lt["LaunchTemplate"]["LaunchTemplateId"]}


def s3(endpoint, region):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("s3", **kw)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "state":
        print(json.dumps(state(*args)))
    elif cmd == "existing":
        print(json.dumps(existing(*args)))
    elif cmd == "parameter":
        print(json.dumps(parameter(*args)))
    elif cmd == "foreign":
        ec2, _ = clients(args[0], "us-east-1")
        kw = dict(endpoint_url=args[0], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        owner = boto3.client("sts", **kw).get_caller_identity()["Account"]
        others = [i for i in ec2.describe_images()["Images"] if i["OwnerId"] != owner]
        print(json.dumps({"id": others[0]["ImageId"], "owner": others[0]["OwnerId"]}))
    elif cmd == "deregistered-answer":
        ec2, _ = clients(args[0], "us-east-1")
        gone = register(ec2, "check-gone", snapshot(ec2, 1))
        ec2.deregister_image(ImageId=gone)
        try:
            answer = [i["State"] for i in ec2.describe_images(ImageIds=[gone])["Images"]]
        except ClientError as e:
            answer = e.response["Error"]["Code"]
        print(json.dumps({"answer": answer}))
    elif cmd == "deregister":
        endpoint, region, ami = args
        ec2, _ = clients(endpoint, region)
        ec2.deregister_image(ImageId=ami)
        print(json.dumps({"deregistered": ami}))
    elif cmd == "register":
        # An AMI not made by ingot (no ingot tag, any name) that maps `snap`.
        endpoint, region, name, snap = args
        ec2, _ = clients(endpoint, region)
        print(json.dumps({"id": register(ec2, name, snap)}))
    elif cmd == "launch-template":
        print(json.dumps(launch_template(*args)))
    elif cmd == "put-object":
        endpoint, region, bucket, key = args
        s3(endpoint, region).put_object(Bucket=bucket, Key=key, Body=b"not ingot's")
        print(json.dumps({"put": key}))
    elif cmd == "list-objects":
        endpoint, region, bucket = args
        listed = s3(endpoint, region).list_objects_v2(Bucket=bucket).get("Contents", [])
        print(json.dumps(sorted(o["Key"] for o in listed)))
    else:
        main(cmd)
