//! EC2 instance-store bundles, manifest version 2007-10-10, as EC2's AMI tools
//! (`ec2-bundle-image` 1.5) write them, and the reader that checks and restores them.
//! No AWS code: uploading the parts and registering is `ingot-aws`'s job.
//!
//! The stream: a GNU sparse tar of the image → gzip -9 → AES-128-CBC (PKCS#7) → 10 MiB
//! parts, with SHA-1 digests of the tar stream and of each part, the AES key and IV
//! encrypted to the EC2 and the user's certificates, and the manifest signed with the
//! user's key. Tar, compression and encryption run on three threads, one pass over the
//! image's data.
//!
//! ```no_run
//! # fn pem(p: &str) -> String { std::fs::read_to_string(p).unwrap() }
//! let opts = ingot_bundle::BundleOptions {
//!     name: "disk.raw".into(),
//!     user: "123456789012".into(),
//!     architecture: "x86_64".into(),
//!     user_cert: pem("cert.pem"),
//!     user_key: pem("pk.pem"),
//!     ec2_cert: ingot_bundle::ec2_certificate("us-east-1").pem.into(),
//!     ..Default::default()
//! };
//! let report = ingot_bundle::bundle("disk.raw".as_ref(), "bundle".as_ref(), &opts)?;
//! println!("{} in {} parts", report.manifest.display(), report.parts.len());
//! # Ok::<(), ingot_bundle::BundleError>(())
//! ```

mod certs;
mod crypto;
mod manifest;
mod tar;
mod unbundle;
mod write;

pub use certs::{ec2_certificate, Ec2Certificate, EC2_CHINA, EC2_COMMERCIAL, EC2_GOVCLOUD};
pub use manifest::{Manifest, MANIFEST_MAX_BYTES, PARTS_MAX};
pub use unbundle::{unbundle, UnbundleReport};
pub use write::{bundle, check_options, BundleOptions, BundleReport, PART_SIZE, SIZE_LIMIT};

use std::path::PathBuf;

/// What can go wrong making or reading a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// An input file is not one ingot reads (a FIFO, a device, too large).
    #[error(transparent)]
    Input(#[from] ingot_types::input::InputError),
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate or key that can't be used.
    #[error("{0}")]
    Key(String),
    /// A manifest that can't be read.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A bundle that fails a check (digest, signature, padding, size).
    #[error("{0}")]
    Corrupt(String),
    /// Options the format does not allow.
    #[error("{0}")]
    Invalid(String),
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BundleError {
        let path = path.into();
        move |source| BundleError::Io { path, source }
    }
}
