"""The AMI lifecycle as EC2 and SSM document it, patched into moto 5.2 by moto-server.py.

moto 5.2 gives every AMI a phantom 15 GiB snapshot and ignores RegisterImage's block
device mappings, so the snapshots ingot uploads are neither the AMI's nor protected by it;
it lacks deregistration protection, DescribeImageReferences, DeregisterImage's
DeleteAssociatedSnapshots and CopyImage's time-based copies and tags; it lists disabled
AMIs and applies neither Owners nor Filters when ImageIds are given; and its SSM takes any
value for an `aws:ec2:image` parameter. This module makes the server behave as the EC2 API
Reference and the SSM User Guide say (the URL of each rule is beside it):

- an AMI's block device mappings are the ones RegisterImage (or CopyImage) gave (and the
  `block-device-mapping.snapshot-id` filter finds them); DeleteSnapshot of a snapshot any
  AMI maps is InvalidSnapshot.InUse;
- Enable/DisableImageDeregistrationProtection, with the 24-hour cooldown; DeregisterImage
  of a protected AMI is refused (AWS does not document the code: OperationNotPermitted);
- DeregisterImage's DeleteAssociatedSnapshots and DeleteSnapshotResults;
- DisableImage hides the AMI from DescribeImages unless IncludeDisabled, and drops its
  launch permissions;
- DescribeImageReferences: instances, the newest 10 versions of launch templates, and SSM
  parameters of data type aws:ec2:image;
- CopyImage: SnapshotCopyCompletionDurationMinutes (15 to 2880, in steps of 15),
  TagSpecifications (image, snapshot), CopyImageTags, SourceImageId/SourceImageRegion, a
  copy's own snapshots of the source's sizes;
- SSM PutParameter with DataType aws:ec2:image: the value must be an available AMI of the
  account in the parameter's region, else the parameter is not created or updated (the
  call still succeeds: AWS validates asynchronously), and the data type cannot change.
"""

import datetime
import os
import re

from moto.ec2.exceptions import EC2ClientError, InvalidAMIIdError, InvalidSnapshotInUse
from moto.ec2.models import amis as ami_models
from moto.ec2.models import elastic_block_store as ebs_store
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ec2.responses.amis import AmisResponse
from moto.ssm import models as ssm_models

COOLDOWN = datetime.timedelta(hours=24)  # EnableImageDeregistrationProtection WithCooldown
REFERENCE_IDS_MAX = 10  # DescribeImageReferences: ImageId, 1 to 10 items
LAUNCH_TEMPLATE_DEPTH = 10  # default version-depth of ec2:LaunchTemplate
COPY_MINUTES = range(15, 2881, 15)  # SnapshotCopyCompletionDurationMinutes
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
# How DescribeImages answers for the id of a deregistered AMI. EC2 lists it (State
# deregistered) for a short interval, then returns empty results, and once nothing uses it
# answers InvalidAMIID.NotFound (EC2 API Reference, DescribeImages). Moto returns empty
# results; INGOT_MOTO_DEREGISTERED=listed or not-found picks one of the other two, so tests
# can hold a client to all three.
DEREGISTERED_ANSWER = os.environ.get("INGOT_MOTO_DEREGISTERED", "empty")


def invalid(message):
    return EC2ClientError("InvalidParameterValue", message)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


# --- block device mappings: the AMI's own snapshots ----------------------------------------


def mappings(ami):
    return getattr(ami, "ingot_mappings", None)


def _block_device_mappings(self):
    kept = mappings(self)
    if kept is not None:
        return kept
    return [
        {
            "DeviceName": self.root_device_name,
            "Ebs": {"SnapshotId": self.ebs_snapshot.id, "VolumeSize": 15, "DeleteOnTermination": False, "VolumeType": "standard"},
        }
    ]


ami_models.Ami.block_device_mappings = property(_block_device_mappings)


def mapped_snapshots(ami):
    return [m["Ebs"]["SnapshotId"] for m in ami.block_device_mappings if m.get("Ebs", {}).get("SnapshotId")]


def keep_mappings(backend, ami, given):
    """The AMI maps `given` (RegisterImage's BlockDeviceMappings); moto's phantom snapshot goes."""
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    out = []
    for m in given or []:
        ebs = dict(m.get("Ebs") or {})
        snap = backend.snapshots.get(ebs.get("SnapshotId"))
        if ebs.get("SnapshotId") and snap is None:
            raise EC2ClientError("InvalidSnapshot.NotFound", f"The snapshot '{ebs['SnapshotId']}' does not exist.")
        if snap is not None:
            ebs.setdefault("VolumeSize", snap.volume.size)
        out.append({"DeviceName": m.get("DeviceName"), "Ebs": ebs} if ebs else m)
    ami.ingot_mappings = out


_original_filter_value = ami_models.Ami.get_filter_value


def get_filter_value(self, filter_name, method_name=None):
    if filter_name == "block-device-mapping.snapshot-id":
        return mapped_snapshots(self)
    if filter_name == "manifest-location":  # EC2 API Reference, DescribeImages, Filter.N
        return getattr(self, "image_location", None)
    return _original_filter_value(self, filter_name, method_name)


ami_models.Ami.get_filter_value = get_filter_value


def users(backend, snapshot_id):
    return [a for a in backend.amis.values() if snapshot_id in mapped_snapshots(a)]


_original_delete_snapshot = ebs_store.EBSBackend.delete_snapshot


def delete_snapshot(self, snapshot_id):
    for ami in users(self, snapshot_id):
        raise InvalidSnapshotInUse(snapshot_id, ami.id)
    return _original_delete_snapshot(self, snapshot_id)


ebs_store.EBSBackend.delete_snapshot = delete_snapshot


# --- deregistration protection and DeregisterImage -----------------------------------------


def protection(ami):
    """What DescribeImages says: disabled, enabled-with(out)-cooldown, or disabled-until T."""
    state = getattr(ami, "ingot_protection", "disabled")
    until = getattr(ami, "ingot_cooldown_until", None)
    if state == "disabled" and until is not None and until > now():
        return "disabled-until " + until.strftime("%Y-%m-%dT%H:%M:%SZ")
    return state


ami_models.Ami.deregistration_protection = property(protection)


def owned(self, image_id):
    (ami,) = self.ec2_backend.describe_images(ami_ids=[image_id])  # InvalidAMIID.NotFound
    if ami.owner_id != self.ec2_backend.account_id:
        raise EC2ClientError("AuthFailure", f"Not authorized for image:{image_id}")
    return ami


def enable_image_deregistration_protection(self):
    ami = owned(self, self._get_param("ImageId"))
    cooldown = self._get_param("WithCooldown") in (True, "true")
    ami.ingot_protection = "enabled-with-cooldown" if cooldown else "enabled-without-cooldown"
    ami.ingot_cooldown_until = None
    return ActionResult({"Return": ami.ingot_protection})


def disable_image_deregistration_protection(self):
    ami = owned(self, self._get_param("ImageId"))
    if getattr(ami, "ingot_protection", "disabled") == "enabled-with-cooldown":
        ami.ingot_cooldown_until = now() + COOLDOWN
    ami.ingot_protection = "disabled"
    return ActionResult({"Return": protection(ami)})


def deregister_image(self):
    image_id = self._get_param("ImageId")
    backend = self.ec2_backend
    ami = backend.amis.get(image_id)
    if ami is not None:
        if ami.owner_id != backend.account_id:
            raise EC2ClientError("AuthFailure", f"Not authorized for image:{image_id}")
        if protection(ami) != "disabled":
            raise EC2ClientError(
                "OperationNotPermitted",
                f"The image {image_id} has deregistration protection ({protection(ami)}); disable it first.",
            )
    snapshots = mapped_snapshots(ami) if ami is not None else []
    backend.deregister_image(image_id)  # InvalidAMIID.NotFound / .Unavailable
    if not hasattr(backend, "ingot_gone"):
        backend.ingot_gone = {}
    backend.ingot_gone[image_id] = ami
    result = {"Return": True}
    if self._get_param("DeleteAssociatedSnapshots") in (True, "true"):
        results = []
        for snap in snapshots:
            if users(backend, snap):
                code = "skipped"  # "associated with other AMIs"
            else:
                backend.snapshots.pop(snap, None)
                code = "success"
            results.append({"SnapshotId": snap, "ReturnCode": code})
        result["DeleteSnapshotResults"] = results
    return ActionResult(result)


AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection
AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection
AmisResponse.deregister_image = deregister_image


# --- DisableImage and DescribeImages -------------------------------------------------------

_original_disable = ami_models.AmiBackend.disable_image


def disable_image(self, ami_id):
    _original_disable(self, ami_id)
    self.amis[ami_id].launch_permissions = []


ami_models.AmiBackend.disable_image = disable_image


def describe_images(self):
    p = self._get_param
    ids = p("ImageIds", [])
    owners = p("Owners", [])
    filters = self._filters_from_querystring()
    backend = self.ec2_backend
    images = backend.describe_images(ami_ids=ids, filters=filters, exec_users=p("ExecutableUsers", []), owners=owners)
    if ids and (owners or filters):
        # EC2 applies Owners and Filters to the ImageIds too; moto drops them.
        narrowed = backend.describe_images(filters=filters, owners=owners) if owners or filters else images
        keep = {a.id for a in narrowed}
        images = [a for a in images if a.id in keep]
    if p("IncludeDisabled") not in (True, "true"):
        images = [a for a in images if a.state != "disabled"]
    for image_id in ids:
        gone = getattr(backend, "ingot_gone", {}).get(image_id)
        if gone is None or DEREGISTERED_ANSWER == "empty":
            continue
        if DEREGISTERED_ANSWER == "not-found":
            raise InvalidAMIIdError([image_id])
        gone.state = "deregistered"
        images.append(gone)
    return ActionResult({"Images": images})


AmisResponse.describe_images = describe_images


# --- DescribeImageReferences ----------------------------------------------------------------


def describe_image_references(self):
    p = self._get_param
    ids = p("ImageIds", [])
    kinds = {r.get("ResourceType") for r in p("ResourceTypes", []) or []}
    if not 1 <= len(ids) <= REFERENCE_IDS_MAX:
        raise invalid(f"ImageIds must name 1 to {REFERENCE_IDS_MAX} images")
    if p("IncludeAllResourceTypes") in (True, "true"):
        kinds = {"ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter"}
    elif not kinds:
        raise invalid("Either IncludeAllResourceTypes or ResourceTypes must be specified")
    backend = self.ec2_backend
    for image_id in ids:
        if image_id not in backend.amis:
            raise InvalidAMIIdError([image_id])
    region, account = self.region, backend.account_id
    refs = []
    for image_id in ids:
        if "ec2:Instance" in kinds:
            for instance in backend.all_instances():
                if instance.image_id == image_id:
                    refs.append((f"arn:aws:ec2:{region}:{account}:instance/{instance.id}", image_id, "ec2:Instance"))
        if "ec2:LaunchTemplate" in kinds:
            for template in backend.launch_templates.values():
                newest = sorted(template.versions, key=lambda v: v.number)[-LAUNCH_TEMPLATE_DEPTH:]
                if any(v.data.get("ImageId") == image_id for v in newest):
                    refs.append((f"arn:aws:ec2:{region}:{account}:launch-template/{template.id}", image_id, "ec2:LaunchTemplate"))
        if "ssm:Parameter" in kinds:
            ssm = ssm_models.ssm_backends[account][region]
            for name, versions in ssm._parameters.items():
                last = versions[-1] if versions else None
                if last is not None and last.data_type == "aws:ec2:image" and last.value == image_id:
                    refs.append((f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}", image_id, "ssm:Parameter"))
    return ActionResult({"ImageReferences": [{"Arn": a, "ImageId": i, "ResourceType": t} for a, i, t in refs]})


AmisResponse.describe_image_references = describe_image_references


# --- CopyImage ------------------------------------------------------------------------------


def copy_image(self):
    p = self._get_param
    minutes = p("SnapshotCopyCompletionDurationMinutes")
    if minutes is not None and int(minutes) not in COPY_MINUTES:
        raise invalid(f"SnapshotCopyCompletionDurationMinutes {minutes} is not 15 to 2880 minutes in steps of 15")
    specs = p("TagSpecifications", []) or []
    for spec in specs:
        if spec.get("ResourceType") not in ("image", "snapshot"):
            raise invalid(f"TagSpecifications: resource type {spec.get('ResourceType')} is not image or snapshot")
    source_region = p("SourceRegion")
    source_backend = ec2_backends[self.current_account][source_region]
    source = source_backend.describe_images(ami_ids=[p("SourceImageId")])[0]
    backend = self.ec2_backend
    image = backend.copy_image(p("SourceImageId"), source_region, p("Name"), p("Description"))
    image.source_image_id, image.source_image_region = source.id, source_region
    image.ingot_copy_minutes = None if minutes is None else int(minutes)
    given = []
    for m in source.block_device_mappings:
        ebs = dict(m.get("Ebs") or {})
        if ebs.get("SnapshotId"):
            size = ebs.get("VolumeSize") or 8
            volume = backend.create_volume(size=size, zone_name=f"{self.region}a")
            snap = backend.create_snapshot(volume.id, f"Copied for DestinationAmi {image.id} from SourceAmi {source.id}")
            backend.delete_volume(volume.id)
            ebs["SnapshotId"] = snap.id
        given.append({"DeviceName": m.get("DeviceName"), "Ebs": ebs})
    keep_mappings(backend, image, given)
    tags = {}
    if p("CopyImageTags") in (True, "true"):
        tags.update({t["key"]: t["value"] for t in source_backend.describe_tags(filters={"resource-id": [source.id]})})
        tags = {k: v for k, v in tags.items() if not k.startswith("aws:")}
    for spec in specs:
        pairs = {t["Key"]: t["Value"] for t in spec.get("Tags", [])}
        if spec["ResourceType"] == "image":
            tags.update(pairs)
        elif pairs:
            backend.create_tags(mapped_snapshots(image), pairs)
    if tags:
        backend.create_tags([image.id], tags)
    return ActionResult({"ImageId": image.id})


AmisResponse.copy_image = copy_image


# --- SSM: aws:ec2:image parameters --------------------------------------------------------

_original_put_parameter = ssm_models.SimpleSystemManagerBackend.put_parameter


def available_ami(account, region, value):
    if not AMI_ID.match(value or ""):
        return False
    ec2 = ec2_backends[account][region]
    ami = ec2.amis.get(value)
    return ami is not None and ami.state == "available" and ami.owner_id == account


class Unstored:
    """What PutParameter answers for a value the asynchronous validation will refuse."""

    def __init__(self, version, tier):
        self.version, self.tier = version, tier


def put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type, tier=None, policies=None):
    previous = self._parameters.get(name) or []
    if previous and data_type and (previous[-1].data_type == "aws:ec2:image") != (data_type == "aws:ec2:image"):
        raise ssm_models.ValidationException("The data type of a parameter cannot change to or from aws:ec2:image")
    if data_type == "aws:ec2:image" and not available_ami(self.account_id, self.region_name, value):
        # "PutParameter will return success, but the asynchronous validation will fail and
        # the parameter will not be created or updated."
        return Unstored(previous[-1].version + 1 if previous else 1, tier or "Standard")
    return _original_put_parameter(
        self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite, tags, data_type, tier, policies
    )


ssm_models.SimpleSystemManagerBackend.put_parameter = put_parameter
