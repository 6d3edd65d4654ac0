//! S3: the files of an instance-store bundle, uploaded where RegisterImage can read them.
//!
//! Parts first, the manifest last (EC2 reads the manifest, then the parts it names), each
//! object with the `aws-exec-read` canned ACL (the owner and EC2 may read it) and a
//! Content-MD5 that S3 checks. An object already there with the same size and MD5 (its
//! ETag, for single-part uploads) is skipped, so a re-run after a failure sends only what
//! is missing. The bucket is created in the session's region when it does not exist, and
//! refused when it lives in another region (EC2 reads bundles from the AMI's region only).

use crate::retry::{classify, hint, retry, Failure};
use crate::{Error, Session};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, ObjectCannedAcl};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
pub struct ObjectProgress {
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

    /// Uploads a bundle's parts, then its manifest; see the module documentation.
    pub fn upload_bundle(&self, up: &BundleUpload, progress: &ObjectProgress) -> Result<BundleUploadReport, Error> {
        check_bucket_name(&up.bucket)?;
        let retries = Arc::new(AtomicU64::new(0));
        progress.total.store(up.parts.len() as u64 + 1, Ordering::Relaxed);
        self.rt.block_on(async {
            let mut objects = self.put_parts(up, &retries, progress).await?;
            let manifest_key = key(&up.prefix, &up.manifest);
            let manifest = put_file(&self.s3, &up.bucket, &manifest_key, &up.manifest, &self.retry, &retries).await?;
            progress.done.fetch_add(1, Ordering::Relaxed);
            objects.push(manifest);
            Ok(BundleUploadReport {
                image_location: format!("{}/{manifest_key}", up.bucket),
                bucket: up.bucket.clone(),
                bytes_sent: objects.iter().filter(|o| !o.skipped).map(|o| o.size).sum(),
                objects,
                retries: retries.load(Ordering::Relaxed),
            })
        })
    }

    /// Deletes `keys` from `bucket` (what `--cleanup-on-failure` does to a bundle).
    pub fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<(), Error> {
        let retries = AtomicU64::new(0);
        self.rt.block_on(async {
            for key in keys {
                retry("DeleteObject", &self.retry, &retries, None, || {
                    self.s3.delete_object().bucket(bucket).key(key).send()
                })
                .await?;
            }
            Ok(())
        })
    }

    /// The parts, `up.workers` at a time; stops at the first failure.
    async fn put_parts(
        &self,
        up: &BundleUpload,
        retries: &Arc<AtomicU64>,
        progress: &ObjectProgress,
    ) -> Result<Vec<BundleObject>, Error> {
        let sem = Arc::new(tokio::sync::Semaphore::new(up.workers.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut objects: Vec<Option<BundleObject>> = vec![None; up.parts.len()];
        let mut record = |done: Result<(usize, Result<BundleObject, Error>), tokio::task::JoinError>| {
            let (i, r) = done.map_err(|e| Error::Protocol(format!("upload task failed: {e}")))?;
            objects[i] = Some(r?);
            progress.done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), Error>(())
        };
        for (i, part) in up.parts.iter().enumerate() {
            let permit = sem.clone().acquire_owned().await.map_err(|_| Error::Protocol("upload stopped".into()))?;
            let (s3, bucket, key) = (self.s3.clone(), up.bucket.clone(), key(&up.prefix, part));
            let (path, policy, retries) = (part.clone(), self.retry, retries.clone());
            tasks.spawn(async move {
                let r = put_file(&s3, &bucket, &key, &path, &policy, &retries).await;
                drop(permit);
                (i, r)
            });
            while let Some(done) = tasks.try_join_next() {
                record(done)?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            record(done)?;
        }
        Ok(objects.into_iter().flatten().collect())
    }

    async fn ensure_bucket(&self, bucket: &str, retries: &AtomicU64) -> Result<bool, Error> {
        let mut attempt = 1;
        let head = loop {
            let r = self.s3.head_bucket().bucket(bucket).send().await;
            match &r {
                Err(e) if matches!(classify(e), Failure::Transient(_)) && attempt < self.retry.max_attempts => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                _ => break r,
            }
        };
        if let Err(e) = head {
            match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => return self.create_bucket(bucket).await,
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
                Some(301) => {
                    let r = e.raw_response().and_then(|r| r.headers().get("x-amz-bucket-region"));
                    return Err(wrong_region(bucket, r.unwrap_or("another region"), &self.region));
                }
                _ => return Err(crate::ec2::api("HeadBucket")(e)),
            }
        }
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
        Ok(false)
    }

    /// CreateBucket in the session's region; true (created) unless it was ours already.
    async fn create_bucket(&self, bucket: &str) -> Result<bool, Error> {
        let mut create = self.s3.create_bucket().bucket(bucket);
        if self.region != "us-east-1" {
            let c = BucketLocationConstraint::from(self.region.as_str());
            create =
                create.create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(c).build());
        }
        match create.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(false),
            Err(e) => Err(crate::ec2::api("CreateBucket")(e)),
        }
    }
}

fn wrong_region(bucket: &str, location: &str, region: &str) -> Error {
    Error::Invalid(format!(
        "bucket {bucket:?} is in {location} but the AMI is registered in {region}: EC2 reads a bundle only from the AMI's region; pick a bucket there or pass --region {location}"
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

/// Uploads one file unless an object of the same size and MD5 is already at `key`.
async fn put_file(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
    policy: &crate::RetryPolicy,
    retries: &AtomicU64,
) -> Result<BundleObject, Error> {
    let data = bytes::Bytes::from(tokio::fs::read(path).await.map_err(Error::io(path))?);
    let md5: [u8; 16] = Md5::digest(&data).into();
    let md5_hex: String = md5.iter().map(|b| format!("{b:02x}")).collect();
    let mut object = BundleObject { key: key.to_string(), size: data.len() as u64, md5: md5_hex, skipped: false };
    if let Ok(head) = s3.head_object().bucket(bucket).key(key).send().await {
        let etag = head.e_tag().unwrap_or("").trim_matches('"');
        if head.content_length() == Some(object.size as i64) && etag == object.md5 {
            object.skipped = true;
            return Ok(object);
        }
    }
    let content_md5 = crate::b64(&md5);
    retry("PutObject", policy, retries, None, || {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .acl(ObjectCannedAcl::AwsExecRead)
            .content_md5(&content_md5)
            .content_length(object.size as i64)
            .body(ByteStream::from(data.clone()))
            .send()
    })
    .await?;
    Ok(object)
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
    fn keys_join_the_prefix_and_the_file_name() {
        assert_eq!(key("", "dir/x.part.0".as_ref()), "x.part.0");
        assert_eq!(key("a/b", "dir/x.manifest.xml".as_ref()), "a/b/x.manifest.xml");
    }
}
