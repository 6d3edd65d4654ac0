#!/usr/bin/env python3
"""Independent checks of an uploaded instance-store bundle, with boto3 (not ingot's code).

  s3-check.py objects ENDPOINT REGION BUCKET PREFIX DIR
      Lists the objects under PREFIX/ (every page), downloads each, and prints JSON:
      {"location": the bucket's region, "objects": [{"key", "size", "etag", "md5",
      "same_as_local": content equal to DIR/<file name>, "grants": [[grantee id or URI,
      permission], ...]}]}
  s3-check.py image ENDPOINT REGION AMI
      Prints DescribeImages' record of the AMI as JSON.
  s3-check.py mkbucket ENDPOINT REGION BUCKET
      Creates a bucket with S3's defaults (no Object Ownership asked for).
"""

import hashlib
import json
import os
import sys

import boto3


def client(service, endpoint, region):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def objects(endpoint, region, bucket, prefix, local_dir):
    s3 = client("s3", endpoint, region)
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    found, token = [], None
    while True:
        kw = {"Bucket": bucket, "Prefix": prefix + "/"}
        if token:
            kw["ContinuationToken"] = token
        out = s3.list_objects_v2(**kw)
        found += out.get("Contents", [])
        token = out.get("NextContinuationToken")
        if not token:
            break
    result = []
    for o in found:
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        local = os.path.join(local_dir, o["Key"].rsplit("/", 1)[-1])
        same = os.path.exists(local) and open(local, "rb").read() == body
        acl = s3.get_object_acl(Bucket=bucket, Key=o["Key"])
        grants = [[g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]] for g in acl["Grants"]]
        result.append(
            {
                "key": o["Key"],
                "size": o["Size"],
                "etag": o["ETag"].strip('"'),
                "md5": hashlib.md5(body).hexdigest(),
                "same_as_local": same,
                "grants": grants,
            }
        )
    return {"location": location, "objects": result}


def image(endpoint, region, ami):
    ec2 = client("ec2", endpoint, region)
    (img,) = ec2.describe_images(ImageIds=[ami])["Images"]
    return img


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "objects":
        out = objects(*args)
    elif cmd == "image":
        out = image(*args)
    elif cmd == "mkbucket":
        endpoint, region, bucket = args
        kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        client("s3", endpoint, region).create_bucket(Bucket=bucket, **kw)
        out = {"created": bucket}
    else:
        sys.exit(f"unknown command {cmd}")
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
