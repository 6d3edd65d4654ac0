//! The AWS side of ingot: EBS direct upload and download of raw images, S3 upload of
//! instance-store bundles, and EC2 registration of both as AMIs. The only ingot crate that links the AWS SDK;
//! its API blocks (the async runtime lives inside [`Session`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! let session = ingot_aws::Session::connect(&ingot_aws::Connect::default())?;
//! let progress = Arc::new(ingot_aws::BlockCounters::default());
//! let report = session.upload("disk.raw".as_ref(), &ingot_aws::UploadOptions::default(), &progress)?;
//! println!("{} ({} blocks)", report.snapshot_id, report.blocks_written);
//! # Ok::<(), ingot_aws::Error>(())
//! ```

pub mod blocks;
mod deregister;
mod download;
mod ec2;
mod error;
mod images;
mod pool;
mod register;
mod retire;
pub mod retry;
mod s3;
mod session;
mod ssm;
mod upload;

pub use blocks::{Digests, ZeroBlocks, BLOCK_SIZE};
pub use deregister::{Kept, Left, RetireOptions, Retired, Status, StillUsed};
pub use download::{DownloadOptions, DownloadReport, DEFAULT_DOWNLOAD_WORKERS, PARENT_READ_WORKERS};
pub use ec2::{
    check_ami_name, check_uefi_data, AmiRoot, AmiSpec, LaunchPermissions, PublishedImage, RegisterReport,
    UEFI_DATA_MAX_CHARS,
};
pub use error::Error;
pub use images::{
    newest_first, ImageQuery, ImageReference, ImageSnapshot, Mapping, OwnedImage, DEREGISTERED_NAME_TAG,
    DEREGISTERED_TAG, SOURCE_TAG,
};
pub use register::RegisterOptions;
pub use retire::{BundleKeys, Retirement};
pub use retry::{RetryPolicy, DEFAULT_MAX_ATTEMPTS};
pub use s3::{
    check_bucket_name, check_prefix, BundleObject, BundleUpload, BundleUploadReport, ObjectCounters, DEFAULT_S3_WORKERS,
};
pub use session::{
    Connect, Session, DEFAULT_ATTEMPT_TIMEOUT_SECS, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_READ_TIMEOUT_SECS,
};
pub use ssm::{ParameterUpdate, AMI_DATA_TYPE};
pub use upload::{check as check_upload, BlockCounters, UploadOptions, UploadReport, DEFAULT_WORKERS, WORKERS};

use base64::Engine;

/// Standard base64 with padding, as the EBS API carries checksums.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 SHA-256 digest.
pub fn digest_from_b64(s: &str) -> Option<[u8; 32]> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()?.try_into().ok()
}

/// A StartSnapshot client token derived from what the snapshot will hold and how it is
/// asked for: the image's SHA-256, the volume size, encryption, the parent, and `request`
/// (the description, tags and KMS key, which EBS also compares for a reused token).
/// Same image and request, same token.
pub fn client_token(
    image_sha256: &str,
    volume_gib: u64,
    encrypted: bool,
    parent: Option<&str>,
    request: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in
        ["ingot-snapshot", image_sha256, &volume_gib.to_string(), &encrypted.to_string(), parent.unwrap_or(""), request]
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..24])
}
