#!/usr/bin/env python3
"""A moto server made strict where the EBS direct and EC2 APIs are strict.

Usage: moto-server.py [PORT]   (0 or nothing: any free port)
Prints "READY <port>" on stdout once it listens; serves until killed.

moto 5.2 is lenient: it reports a 512-byte EBS block size, accepts any checksum, data
length, block index, writes after completion and any completion checksum, ignores
ClientToken and ParentSnapshotId, says `completed` for a snapshot still being written, and
keeps little of RegisterImage; its S3 neither checks Content-MD5 nor grants EC2 anything
for the aws-exec-read canned ACL. This launcher patches moto's classes at start-up (moto's
files stay untouched) so that the server rejects, with the documented error codes, what EBS,
S3 and EC2 reject (a bad Content-MD5 is BadDigest; RegisterImage of a manifest that is not
in S3 is InvalidManifest), keeps what RegisterImage was given, and records every EC2 and S3
request so a test can check exactly what ingot sent:

    GET /_ingot/requests   -> JSON list of {"service", "region", "action", "params"}
                              (S3: action is the HTTP method, params has path, acl,
                              content_md5 and length; SSM: the X-Amz-Target's action,
                              no params)
"""

import base64
import os
import hashlib
import json
import sys
import threading
from urllib.parse import parse_qsl

from moto.core.exceptions import JsonRESTError
from moto.ebs import models as ebs_models
from moto.ebs import responses as ebs_responses
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_lifecycle  # noqa: E402  (patches moto's AMI lifecycle and SSM on import)

BLOCK_SIZE = 524288
GIB = 1 << 30


class EbsError(JsonRESTError):
    def __init__(self, error_type, message, code=400):
        super().__init__(error_type, message)
        self.code = code


def validation(message):
    return EbsError("ValidationException", message, 400)


def not_found(snapshot_id):
    return EbsError(
        "ResourceNotFoundException", f"The snapshot '{snapshot_id}' does not exist.", 404
    )


# --- EBS: the model -------------------------------------------------------------------

_original_init = ebs_models.EBSSnapshot.__init__


def _snapshot_init(self, account_id, snapshot):
    _original_init(self, account_id, snapshot)
    # INGOT_MOTO_BLOCK_SIZE lets a test play a server that reports another block size.
    self.block_size = int(os.environ.get("INGOT_MOTO_BLOCK_SIZE", BLOCK_SIZE))
    self.written = {}  # index -> raw sha256 of blocks put into this snapshot
    self.ec2_snapshot = snapshot


ebs_models.EBSSnapshot.__init__ = _snapshot_init

TOKENS = {}  # client token -> (request fingerprint, snapshot id)
LOCK = threading.Lock()


def _backend_snapshot(backend, snapshot_id):
    snap = backend.snapshots.get(snapshot_id)
    if snap is None:
        raise not_found(snapshot_id)
    return snap


# --- EBS: the responses ---------------------------------------------------------------


def start_snapshot(self):
    size = self._get_param("VolumeSize")
    timeout = self._get_param("Timeout")
    token = self._get_param("ClientToken")
    parent = self._get_param("ParentSnapshotId")
    encrypted = self._get_param("Encrypted")
    if size is None or not 1 <= int(size) <= 65536:
        raise validation(f"VolumeSize {size} is outside 1-65536 GiB")
    if timeout is not None and not 10 <= int(timeout) <= 4320:
        raise validation(f"Timeout {timeout} is outside 10-4320 minutes")
    if parent and encrypted:
        raise validation("Encrypted must be omitted when ParentSnapshotId is given")
    fingerprint = json.dumps([size, parent, encrypted, self._get_param("KmsKeyArn")])
    with LOCK:
        if token and token in TOKENS:
            seen, snapshot_id = TOKENS[token]
            if seen != fingerprint:
                raise validation("ClientToken was used with different parameters")
            return _start_result(self.ebs_backend.snapshots[snapshot_id])
        if parent:
            parent_snap = _backend_snapshot(self.ebs_backend, parent)
            if parent_snap.status != "completed":
                raise validation(f"The parent snapshot {parent} is not completed")
            if int(size) < parent_snap.volume_size:
                raise validation("VolumeSize is smaller than the parent snapshot's")
        snap = self.ebs_backend.start_snapshot(
            volume_size=int(size),
            tags=self._get_param("Tags"),
            description=self._get_param("Description"),
        )
        snap.ec2_snapshot.status = "pending"
        if parent:
            snap.blocks.update(parent_snap.blocks)
        if token:
            TOKENS[token] = (fingerprint, snap.snapshot_id)
    return _start_result(snap)


def _start_result(snap):
    from moto.core.responses import ActionResult

    return ActionResult(
        {
            "SnapshotId": snap.snapshot_id,
            "OwnerId": snap.account_id,
            "Status": snap.status,
            "StartTime": snap.start_time,
            "VolumeSize": snap.volume_size,
            "BlockSize": snap.block_size,
            "Tags": snap.tags,
            "Description": snap.description,
        }
    )


def put_snapshot_block(self):
    snapshot_id = self._get_param("SnapshotId")
    index = int(self._get_param("BlockIndex"))
    data = self._get_param("BlockData") or b""
    if isinstance(data, str):
        data = data.encode()
    checksum = self._get_param("Checksum")
    algorithm = self._get_param("ChecksumAlgorithm")
    length = self._get_param("DataLength")
    snap = _backend_snapshot(self.ebs_backend, snapshot_id)
    if snap.status != "pending":
        raise validation(f"The snapshot {snapshot_id} is {snap.status}; blocks can only be written while pending")
    if not 0 <= index < snap.volume_size * GIB // BLOCK_SIZE:
        raise validation(f"BlockIndex {index} is outside the volume")
    if length is None or int(length) != BLOCK_SIZE:
        raise validation(f"DataLength {length} must be {BLOCK_SIZE}")
    if len(data) != int(length):
        raise validation(f"the body holds {len(data)} bytes, DataLength says {length}")
    if algorithm != "SHA256":
        raise validation(f"ChecksumAlgorithm {algorithm} is not SHA256")
    digest = hashlib.sha256(data).digest()
    if checksum != base64.b64encode(digest).decode():
        raise validation("The checksum does not match the block data")
    with LOCK:
        snap.put_block(index, data, checksum, algorithm, int(length))
        snap.written[index] = digest
    from moto.core.responses import ActionResult

    return ActionResult({"Checksum": checksum, "ChecksumAlgorithm": algorithm})


def complete_snapshot(self):
    snapshot_id = self._get_param("SnapshotId")
    snap = _backend_snapshot(self.ebs_backend, snapshot_id)
    count = self._get_param("ChangedBlocksCount")
    checksum = self._get_param("Checksum")
    algorithm = self._get_param("ChecksumAlgorithm")
    method = self._get_param("ChecksumAggregationMethod")
    with LOCK:
        if snap.status != "pending":
            raise validation(f"The snapshot {snapshot_id} is already {snap.status}")
        if count is None or int(count) != len(snap.written):
            raise validation(f"ChangedBlocksCount {count} does not match the {len(snap.written)} blocks written")
        if checksum is not None:
            if algorithm != "SHA256" or method != "LINEAR":
                raise validation(f"unsupported checksum {algorithm}/{method}")
            linear = hashlib.sha256(b"".join(snap.written[i] for i in sorted(snap.written))).digest()
            if checksum != base64.b64encode(linear).decode():
                raise validation("The aggregate checksum does not match the blocks written")
        snap.status = "completed"
    # EC2 sees the snapshot complete a moment later, as on AWS.
    threading.Timer(1.5, lambda: setattr(snap.ec2_snapshot, "status", "completed")).start()
    from moto.core.responses import ActionResult

    return ActionResult({"Status": "completed"})


def get_snapshot_block(self):
    snapshot_id = self._get_param("SnapshotId")
    index = int(self._get_param("BlockIndex"))
    snap = _backend_snapshot(self.ebs_backend, snapshot_id)
    block = snap.blocks.get(index)
    if block is None:
        raise validation(f"Block {index} of {snapshot_id} holds no data")
    from moto.core.responses import ActionResult

    return ActionResult(
        {
            "DataLength": block.data_length,
            "BlockData": block.block_data,
            "Checksum": block.checksum,
            "ChecksumAlgorithm": block.checksum_algorithm,
        }
    )


def list_snapshot_blocks(self):
    snapshot_id = self._get_param("SnapshotId")
    snap = _backend_snapshot(self.ebs_backend, snapshot_id)
    from moto.core.responses import ActionResult

    blocks = [{"BlockIndex": i, "BlockToken": snap.blocks[i].block_token} for i in sorted(snap.blocks)]
    return ActionResult({"Blocks": blocks, "VolumeSize": snap.volume_size, "BlockSize": snap.block_size})


ebs_responses.EBSResponse.start_snapshot = start_snapshot
ebs_responses.EBSResponse.put_snapshot_block = put_snapshot_block
ebs_responses.EBSResponse.complete_snapshot = complete_snapshot
ebs_responses.EBSResponse.get_snapshot_block = get_snapshot_block
ebs_responses.EBSResponse.list_snapshot_blocks = list_snapshot_blocks


# --- EC2: EnableImageDeprecation (moto 5.2 lacks it) -------------------------------------

from moto.core.responses import ActionResult as _ActionResult  # noqa: E402
from moto.ec2.responses.amis import AmisResponse  # noqa: E402


def enable_image_deprecation(self):
    image_id = self._get_param("ImageId")
    at = self._get_param("DeprecateAt")
    (ami,) = self.ec2_backend.describe_images(ami_ids=[image_id])  # raises InvalidAMIID.NotFound
    if not at:
        raise validation("DeprecateAt is required")
    ami.deprecation_time = at
    return _ActionResult({"Return": True})


AmisResponse.enable_image_deprecation = enable_image_deprecation


# --- EC2: RegisterImage keeps what it is given; a manifest must be in S3 -----------------

from moto.ec2.exceptions import EC2ClientError  # noqa: E402
from moto.s3 import models as s3_models  # noqa: E402
from moto.s3 import responses as s3_responses  # noqa: E402


def register_image(self):
    p = self._get_param
    location = p("ImageLocation")
    if location:
        bucket, _, key = location.partition("/")
        s3 = s3_models.s3_backends[self.current_account]["aws"]
        try:
            found = s3.get_object(bucket, key)
        except Exception:  # MissingBucket
            found = None
        if found is None:
            raise EC2ClientError(
                "InvalidManifest",
                f"The specified AMI has an unparsable manifest, or you may not have access to the location where the manifest file is stored: {location}",
            )
    ami = self.ec2_backend.register_image(p("Name"), p("Description", ""))
    moto_lifecycle.keep_mappings(self.ec2_backend, ami, p("BlockDeviceMappings", []))
    ami.image_location = location
    ami.architecture = p("Architecture") or "x86_64"
    ami.virtualization_type = p("VirtualizationType") or "paravirtual"
    ami.root_device_type = "instance-store" if location else "ebs"
    ami.root_device_name = p("RootDeviceName") or "/dev/sda1"
    ami.boot_mode = p("BootMode")
    ami.ena_support = p("EnaSupport") in (True, "true")
    ami.imds_support = p("ImdsSupport")
    ami.sriov = p("SriovNetSupport")
    tags = self._parse_tag_specification().get("image", {})
    if tags:
        self.ec2_backend.create_tags([ami.id], tags)
    return _ActionResult({"ImageId": ami.id})


AmisResponse.register_image = register_image


# --- S3: aws-exec-read grants EC2 read ---------------------------------------------------

# S3 documents aws-exec-read as "Owner gets FULL_CONTROL. Amazon EC2 gets READ access to
# GET an Amazon Machine Image (AMI) bundle from Amazon S3"; EC2's grantee is this canonical
# user (the one the AMI tools grant read to).
EC2_READER = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"
_original_canned_acl = s3_models.get_canned_acl


def get_canned_acl(acl):
    if acl != "aws-exec-read":
        return _original_canned_acl(acl)
    owner = s3_models.FakeGrantee(grantee_id=s3_models.OWNER)
    ec2 = s3_models.FakeGrantee(grantee_id=EC2_READER, display_name="za-team")
    return s3_models.FakeAcl(
        grants=[
            s3_models.FakeGrant([owner], [s3_models.PERMISSION_FULL_CONTROL]),
            s3_models.FakeGrant([ec2], [s3_models.PERMISSION_READ]),
        ]
    )


s3_models.get_canned_acl = get_canned_acl
s3_responses.get_canned_acl = get_canned_acl


# --- recording ------------------------------------------------------------------------

REQUESTS = []


def scope(environ):
    """(service, region) from the SigV4 credential scope of the Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        cred = auth.split("Credential=")[1].split(",")[0]
        _key, _date, region, service, _ = cred.split("/")
        return service, region
    except (IndexError, ValueError):
        return "", ""


def recording(app):
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO") == "/_ingot/requests":
            body = json.dumps(REQUESTS).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        service, region = scope(environ)
        if service == "ec2":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            with LOCK:
                REQUESTS.append(
                    {"service": service, "region": region, "action": params.pop("Action", ""), "params": params}
                )
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
        if service == "ssm":
            action = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
            with LOCK:
                REQUESTS.append({"service": service, "region": region, "action": action, "params": {}})
        if service == "s3":
            return s3_request(app, environ, start_response, region)
        return app(environ, start_response)

    return wrapped


def s3_error(start_response, status, code, message):
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    body = body.encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def acls_disabled(bucket_name):
    from moto.core import DEFAULT_ACCOUNT_ID

    try:
        bucket = s3_models.s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket_name)
    except Exception:  # MissingBucket: moto answers that itself
        return False
    return getattr(bucket, "ownership_rule", None) == "BucketOwnerEnforced"


def s3_request(app, environ, start_response, region):
    """Records an S3 request and checks what moto does not: Content-MD5 (BadDigest), and,
    as S3 does since April 2023, a new bucket's ACLs are disabled unless CreateBucket asks
    otherwise (x-amz-object-ownership), and an object ACL on such a bucket is refused
    (AccessControlListNotSupported)."""
    import io

    method = environ.get("REQUEST_METHOD", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    sent_md5 = environ.get("HTTP_CONTENT_MD5")
    params = {
        "path": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "acl": environ.get("HTTP_X_AMZ_ACL"),
        "content_md5": sent_md5,
        "length": length,
    }
    params["object_ownership"] = environ.get("HTTP_X_AMZ_OBJECT_OWNERSHIP")
    with LOCK:
        REQUESTS.append({"service": "s3", "region": region, "action": method, "params": params})
    names = params["path"].strip("/").split("/", 1)
    if method == "PUT" and len(names) == 1 and names[0] and not params["query"]:
        environ.setdefault("HTTP_X_AMZ_OBJECT_OWNERSHIP", "BucketOwnerEnforced")
    acl = params["acl"]
    if method == "PUT" and len(names) == 2 and acl not in (None, "bucket-owner-full-control") and acls_disabled(names[0]):
        return s3_error(start_response, "400 Bad Request", "AccessControlListNotSupported", "The bucket does not allow ACLs")
    if method == "PUT" and sent_md5 is not None:
        if base64.b64encode(hashlib.md5(raw).digest()).decode() != sent_md5:
            message = "The Content-MD5 you specified did not match what we received."
            return s3_error(start_response, "400 Bad Request", "BadDigest", message)
    return app(environ, start_response)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = recording(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
