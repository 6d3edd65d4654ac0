//! S3: the files of an instance-store bundle, uploaded where RegisterImage can read them.
//!
//! Parts first, the manifest last (EC2 reads the manifest, then the parts it names), each
//! object with the `aws-exec-read` canned ACL (the owner and EC2 may read it), a
//! Content-MD5 that S3 checks, and the MD5 again as metadata `x-amz-meta-ingot-md5` (an
//! ETag is the MD5 only without SSE-KMS). An object already there with the same size and
//! MD5 is skipped, so a re-run after a failure sends only what is missing; other content
//! at any key fails the upload before anything is written (it may be the bundle of a live
//! AMI). The bucket is
//! created in the session's region, with ACLs enabled (Object Ownership "bucket owner
//! preferred": new buckets default to ACLs disabled, which refuses aws-exec-read), when it
//! does not exist; a bucket in another region, or one with ACLs disabled, is refused.

use crate::pool::each;
use crate::retry::{classify, hint, retry, retry_classified, Failure};
use crate::{Error, Session};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, ObjectCannedAcl, ObjectOwnership};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// PutObject requests in flight by default: eight 10 MiB parts (80 MiB of memory) fill
/// a gigabit link to S3; more only adds memory.
pub const DEFAULT_S3_WORKERS: usize = 8;

/// Where and how to upload a bundle (to a bucket [`Session::prepare_bucket`] made ready).
#[derive(Clone, Debug)]
pub struct BundleUpload {
    /// The bucket (created in the session's region if missing).
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// The part files in order.
    pub parts: Vec<PathBuf>,
    /// The manifest file, uploaded after every part.
    pub manifest: PathBuf,
    /// PutObject requests in flight (memory: workers × 10 MiB).
    pub workers: usize,
}

/// One object of the bundle in S3.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleObject {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The MD5 of its content, lowercase hex (sent as Content-MD5, equal to the ETag).
    pub md5: String,
    /// True when an identical object was already there and nothing was sent.
    pub skipped: bool,
}

/// What [`Session::upload_bundle`] did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BundleUploadReport {
    /// The bucket.
    pub bucket: String,
    /// `bucket/prefix/NAME.manifest.xml`: RegisterImage's ImageLocation.
    pub image_location: String,
    /// Every object, parts first, manifest last.
    pub objects: Vec<BundleObject>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Retried attempts.
    pub retries: u64,
}

/// Progress counters of a bundle upload, shared with the caller.
#[derive(Debug, Default)]
pub struct ObjectCounters {
    /// Objects to deal with.
    pub total: AtomicU64,
    /// Objects dealt with (sent or skipped).
    pub done: AtomicU64,
}

impl Session {
    /// Makes `bucket` ready for a bundle: creates it in the session's region unless it
    /// exists; refuses a bucket in another region, or one these credentials cannot use.
    /// True when it was created.
    pub fn prepare_bucket(&self, bucket: &str) -> Result<bool, Error> {
        check_bucket_name(bucket)?;
        self.rt.block_on(self.ensure_bucket(bucket, &AtomicU64::new(0)))
    }

    /// Uploads a bundle's parts, then its manifest; see the module documentation. First
    /// every key is looked at (HeadObject) and every file's MD5 taken: other content at
    /// any key fails the upload before anything is written.
    pub fn upload_bundle(&self, up: &BundleUpload, progress: &ObjectCounters) -> Result<BundleUploadReport, Error> {
        check_bucket_name(&up.bucket)?;
        let retries = Arc::new(AtomicU64::new(0));
        let mut files: Vec<(String, PathBuf)> = up.parts.iter().map(|p| (key(&up.prefix, p), p.clone())).collect();
        files.push((key(&up.prefix, &up.manifest), up.manifest.clone()));
        let files = Arc::new(files);
        progress.total.store(files.len() as u64, Ordering::Relaxed);
        let to = Arc::new(Target {
            s3: self.s3.clone(),
            bucket: up.bucket.clone(),
            policy: self.retry,
            control: self.control.clone(),
        });
        self.rt.block_on(async {
            let look = |i: usize| {
                let (to, files, retries) = (to.clone(), files.clone(), retries.clone());
                async move { survey(&to, &files[i].0, &files[i].1, &retries).await }
            };
            let objects = each(files.len(), up.workers, look, &mut |_| {}).await?;
            let skipped = objects.iter().filter(|o| o.skipped).count() as u64;
            progress.done.fetch_add(skipped, Ordering::Relaxed);
            // The parts (those not already there), then the manifest.
            let objects = Arc::new(objects);
            let last = files.len() - 1;
            let put = |i: usize| {
                let (to, files, objects, retries) = (to.clone(), files.clone(), objects.clone(), retries.clone());
                async move {
                    if objects[i].skipped {
                        return Ok(false);
                    }
                    put_file(&to, &objects[i], &files[i].1, &retries).await.map(|()| true)
                }
            };
            let mut count = |sent: &bool| {
                if *sent {
                    progress.done.fetch_add(1, Ordering::Relaxed);
                }
            };
            each(last, up.workers, put, &mut count).await?;
            each(1, 1, |_| put(last), &mut count).await?;
            let objects = Arc::try_unwrap(objects).unwrap_or_else(|o| (*o).clone());
            Ok(BundleUploadReport {
                image_location: format!("{}/{}", up.bucket, files[last].0),
                bucket: up.bucket.clone(),
                bytes_sent: objects.iter().filter(|o| !o.skipped).map(|o| o.size).sum(),
                objects,
                retries: retries.load(Ordering::Relaxed),
            })
        })
    }

    /// Deletes `keys` from `bucket`, a bucket in `region` (what `--cleanup-on-failure` does
    /// to a bundle, and `ingot deregister`).
    pub fn delete_objects(&self, region: &str, bucket: &str, keys: &[String]) -> Result<(), Error> {
        let retries = AtomicU64::new(0);
        let s3 = self.s3_in(region);
        self.rt.block_on(async {
            for key in keys {
                retry("DeleteObject", &self.retry, &retries, None, || {
                    s3.delete_object().bucket(bucket).key(key).send()
                })
                .await?;
            }
            Ok(())
        })
    }

    /// The object `key` of `bucket` (a bucket in `region`), or `None` when there is none.
    pub fn get_object(&self, region: &str, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let retries = AtomicU64::new(0);
        let s3 = self.s3_in(region);
        self.rt.block_on(async {
            let got =
                retry("GetObject", &self.retry, &retries, None, || s3.get_object().bucket(bucket).key(key).send());
            let out = match got.await {
                Ok(out) => out,
                Err(Error::Api { code, .. }) if code == "NoSuchKey" || code == "HTTP 404" => return Ok(None),
                Err(e) => return Err(e),
            };
            let body =
                out.body.collect().await.map_err(|e| Error::Protocol(format!("GetObject {bucket}/{key}: {e}")))?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }

    async fn ensure_bucket(&self, bucket: &str, retries: &AtomicU64) -> Result<bool, Error> {
        // Transient failures are retried; any other answer (404, 403, a 301 naming the
        // bucket's region) is read below.
        let head = retry_classified("HeadBucket", &self.retry, retries, None, || async {
            match self.s3.head_bucket().bucket(bucket).send().await {
                Err(e) if matches!(classify(&e), Failure::Transient(_)) => Err(classify(&e)),
                answer => Ok(answer),
            }
        })
        .await?;
        if let Err(e) = head {
            let elsewhere = e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region"));
            if let Some(at) = elsewhere.filter(|at| *at != self.region) {
                return Err(wrong_region(bucket, at, &self.region));
            }
            match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => return self.create_bucket(bucket, retries).await,
                Some(403) => {
                    return Err(Error::Api {
                        operation: "HeadBucket",
                        code: "AccessDenied".into(),
                        message: format!(
                            "bucket {bucket:?} belongs to another account, or these credentials may not use it"
                        ),
                        hint: hint("AccessDenied").into(),
                    })
                }
                Some(301) => return Err(wrong_region(bucket, "another region", &self.region)),
                _ => return Err(crate::ec2::api("HeadBucket")(e)),
            }
        }
        self.check_existing(bucket, retries).await.map(|()| false)
    }

    /// An existing bucket must be in the session's region and have ACLs enabled.
    async fn check_existing(&self, bucket: &str, retries: &AtomicU64) -> Result<(), Error> {
        let out = retry("GetBucketLocation", &self.retry, retries, None, || {
            self.s3.get_bucket_location().bucket(bucket).send()
        })
        .await?;
        let location = match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1",
            Some("EU") => "eu-west-1",
            Some(other) => other,
        };
        if location != self.region {
            return Err(wrong_region(bucket, location, &self.region));
        }
        self.check_acls_enabled(bucket, retries).await
    }

    /// Refuses a bucket whose Object Ownership disables ACLs (aws-exec-read would fail).
    /// No ownership controls, or no permission to read them, passes (PutObject will say).
    async fn check_acls_enabled(&self, bucket: &str, retries: &AtomicU64) -> Result<(), Error> {
        let out = retry("GetBucketOwnershipControls", &self.retry, retries, None, || {
            self.s3.get_bucket_ownership_controls().bucket(bucket).send()
        })
        .await;
        let out = match out {
            Ok(out) => out,
            Err(Error::Api { code, .. })
                if matches!(code.as_str(), "OwnershipControlsNotFoundError" | "AccessDenied") =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        let rules = out.ownership_controls().map(|c| c.rules()).unwrap_or_default();
        if rules.iter().any(|r| r.object_ownership() == &ObjectOwnership::BucketOwnerEnforced) {
            return Err(Error::Invalid(format!(
                "bucket {bucket:?} has ACLs disabled (Object Ownership: bucket owner enforced), but EC2 reads a bundle through the aws-exec-read ACL: run `aws s3api put-bucket-ownership-controls --bucket {bucket} --ownership-controls Rules=[{{ObjectOwnership=BucketOwnerPreferred}}]` or pick another bucket"
            )));
        }
        Ok(())
    }

    /// CreateBucket in the session's region with ACLs enabled; true (created) unless it
    /// was ours already.
    async fn create_bucket(&self, bucket: &str, retries: &AtomicU64) -> Result<bool, Error> {
        let config = (self.region != "us-east-1").then(|| {
            let c = BucketLocationConstraint::from(self.region.as_str());
            CreateBucketConfiguration::builder().location_constraint(c).build()
        });
        let created = retry("CreateBucket", &self.retry, retries, None, || {
            self.s3
                .create_bucket()
                .bucket(bucket)
                .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                .set_create_bucket_configuration(config.clone())
                .send()
        })
        .await;
        match created {
            Ok(_) => Ok(true),
            // A retried CreateBucket whose first attempt succeeded, or a race with another
            // run: check it as an existing bucket.
            Err(Error::Api { code, .. }) if code == "BucketAlreadyOwnedByYou" => {
                self.check_existing(bucket, retries).await.map(|()| false)
            }
            Err(e) => Err(e),
        }
    }
}

fn wrong_region(bucket: &str, location: &str, region: &str) -> Error {
    Error::Invalid(format!(
        "bucket {bucket:?} is in {location} but the AMI is registered in {region}: EC2 reads a bundle only from the AMI's region; pick a bucket there or pass `region` {location}"
    ))
}

/// `prefix/FILE_NAME` (just the file name when the prefix is empty).
fn key(prefix: &str, path: &std::path::Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// Where the objects go.
struct Target {
    s3: aws_sdk_s3::Client,
    bucket: String,
    policy: crate::RetryPolicy,
    /// The run's cancel token: no part starts once it asks for a stop.
    control: ingot_types::control::Control,
}

/// The file's size and MD5, and whether S3 already holds it at `key` (then it is
/// skipped); other content at `key` is an error.
async fn survey(to: &Target, key: &str, path: &Path, retries: &AtomicU64) -> Result<BundleObject, Error> {
    let data = tokio::fs::read(path).await.map_err(Error::io(path))?;
    let md5 = md5_hex(&data);
    let mut object = BundleObject { key: key.to_string(), size: data.len() as u64, md5, skipped: false };
    let head =
        retry("HeadObject", &to.policy, retries, None, || to.s3.head_object().bucket(&to.bucket).key(key).send()).await;
    let head = match head {
        Ok(h) => h,
        Err(Error::Api { code, .. }) if code == "NotFound" || code == "HTTP 404" => return Ok(object),
        Err(e) => return Err(e),
    };
    let etag = head.e_tag().unwrap_or("").trim_matches('"');
    let meta = head.metadata().and_then(|m| m.get("ingot-md5")).map(String::as_str);
    let same_md5 = meta == Some(object.md5.as_str()) || etag == object.md5;
    if head.content_length() == Some(object.size as i64) && same_md5 {
        object.skipped = true;
        return Ok(object);
    }
    Err(Error::Conflict(format!(
        "s3://{}/{key} already holds other content ({} bytes): it may be the bundle of another AMI, which reads it at every launch; pick another `prefix` (the default one is unique to each bundle)",
        to.bucket,
        head.content_length().unwrap_or(0)
    )))
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// PutObject of `path` as `object` (aws-exec-read, Content-MD5, `ingot-md5` metadata).
async fn put_file(to: &Target, object: &BundleObject, path: &Path, retries: &AtomicU64) -> Result<(), Error> {
    to.control.check()?;
    let data = bytes::Bytes::from(tokio::fs::read(path).await.map_err(Error::io(path))?);
    let md5: [u8; 16] = Md5::digest(&data).into();
    if hex::encode(md5) != object.md5 {
        return Err(Error::Invalid(format!("{} changed during the upload", path.display())));
    }
    let content_md5 = crate::b64(&md5);
    retry("PutObject", &to.policy, retries, None, || {
        to.s3
            .put_object()
            .bucket(&to.bucket)
            .key(&object.key)
            .acl(ObjectCannedAcl::AwsExecRead)
            .content_md5(&content_md5)
            .content_length(object.size as i64)
            .metadata("ingot-md5", &object.md5)
            .body(ByteStream::from(data.clone()))
            .send()
    })
    .await?;
    Ok(())
}

/// A key prefix ingot accepts: `/`-separated segments of letters, digits, `.`, `_`, `-`
/// (no empty, `.` or `..` segment), at most 512 characters; empty means the bucket's root.
pub fn check_prefix(prefix: &str) -> Result<(), Error> {
    let ok_segment = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    if prefix.is_empty() || (prefix.len() <= 512 && prefix.split('/').all(ok_segment)) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "prefix {prefix:?}: '/'-separated names of letters, digits, '.', '_' and '-', no leading, trailing or doubled '/', at most 512 characters"
        )))
    }
}

/// S3's bucket naming rules, checked before any request.
pub fn check_bucket_name(bucket: &str) -> Result<(), Error> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "bucket {bucket:?}: S3 bucket names are 3–63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket_name("my-bundles.2026").is_ok());
        for bad in ["ab", "My-Bucket", "-a-b", "a..b", "a_b", "bucket/"] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_are_plain_paths() {
        for good in ["", "images", "images/v1.2/x_y-z"] {
            assert!(check_prefix(good).is_ok(), "{good}");
        }
        for bad in ["/a", "a/", "a//b", "s3://b/x", "a b", "a/../b", "a/./b", "\u{7}"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_join_the_prefix_and_the_file_name() {
        assert_eq!(key("", "dir/x.part.0".as_ref()), "x.part.0");
        assert_eq!(key("a/b", "dir/x.manifest.xml".as_ref()), "a/b/x.manifest.xml");
    }
}
