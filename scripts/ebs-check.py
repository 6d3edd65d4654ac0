#!/usr/bin/env python3
"""Independent checks of what an EBS endpoint holds, with boto3 (not ingot's code).

  ebs-check.py readback ENDPOINT SNAPSHOT IMAGE [REGION]
      Lists the snapshot's blocks (ListSnapshotBlocks, every page), reads each back
      (GetSnapshotBlock), verifies its checksum and compares it with the image.
      Prints JSON: {"listed": [...], "mismatched": [...], "bad_checksum": [...],
      "volume_size": GiB, "block_size": bytes, "state": EC2 state}
  ebs-check.py snapshots ENDPOINT TAG_KEY TAG_VALUE
      Prints the ids of the snapshots with that tag, as JSON.
"""

import base64
import hashlib
import json
import sys
import time

import boto3

BLOCK = 524288


def clients(endpoint, region="us-east-1"):
    kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("ebs", **kw), boto3.client("ec2", **kw)


def readback(endpoint, snapshot, image, region="us-east-1"):
    ebs, ec2 = clients(endpoint, region)
    blocks, token, size, block_size = [], None, 0, 0
    while True:
        kw = {"SnapshotId": snapshot}
        if token:
            kw["NextToken"] = token
        out = ebs.list_snapshot_blocks(**kw)
        blocks += out["Blocks"]
        size, block_size = out["VolumeSize"], out["BlockSize"]
        token = out.get("NextToken")
        if not token:
            break
    mismatched, bad = [], []
    with open(image, "rb") as f:
        for b in blocks:
            got = ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=b["BlockIndex"], BlockToken=b["BlockToken"])
            data = got["BlockData"].read()
            if got["Checksum"] != base64.b64encode(hashlib.sha256(data).digest()).decode():
                bad.append(b["BlockIndex"])
            f.seek(b["BlockIndex"] * BLOCK)
            want = f.read(BLOCK)
            want += b"\0" * (BLOCK - len(want))
            if data != want:
                mismatched.append(b["BlockIndex"])
    # EC2 may see the completion a moment after EBS does.
    for _ in range(40):
        state = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"]
        if state != "pending":
            break
        time.sleep(0.25)
    print(json.dumps({
        "listed": [b["BlockIndex"] for b in blocks],
        "mismatched": mismatched,
        "bad_checksum": bad,
        "volume_size": size,
        "block_size": block_size,
        "state": state,
    }))


def snapshots(endpoint, key, value):
    _, ec2 = clients(endpoint)
    out = ec2.describe_snapshots(Filters=[{"Name": f"tag:{key}", "Values": [value]}])
    print(json.dumps([s["SnapshotId"] for s in out["Snapshots"]]))


def state(endpoint, snapshot):
    _, ec2 = clients(endpoint)
    try:
        out = ec2.describe_snapshots(SnapshotIds=[snapshot])
    except ec2.exceptions.ClientError as e:
        if e.response["Error"]["Code"] == "InvalidSnapshot.NotFound":
            print(json.dumps("absent"))
            return
        raise
    print(json.dumps(out["Snapshots"][0]["State"]))


if __name__ == "__main__":
    {"readback": readback, "snapshots": snapshots, "state": state}[sys.argv[1]](*sys.argv[2:])
