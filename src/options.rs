//! What the AWS and bundle pipelines take: one plain struct per concept, with typed
//! values (durations, paths) and the defaults of the crate that owns each rule. The
//! `ingot` binary fills them from its flags (src/cli/flags.rs); a program using the
//! library fills them itself.

use crate::error::{Result, ResultExt};
use ingot_aws::{DEFAULT_ATTEMPT_TIMEOUT_SECS, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_MAX_ATTEMPTS};
use ingot_aws::{DEFAULT_READ_TIMEOUT_SECS, DEFAULT_S3_WORKERS, DEFAULT_WORKERS};
use ingot_types::control::Control;
use std::path::PathBuf;
use std::time::Duration;

/// A field of these option structs, for an error about its value: the library names
/// the concept ([`Field::describe`]); the `ingot` binary names its flag instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// [`InstanceStoreChoice::bucket`].
    Bucket,
    /// [`InstanceStoreChoice::prefix`].
    Prefix,
    /// The user's certificate ([`InstanceStoreChoice::cert`], [`BundleChoice::cert`]).
    Cert,
    /// The user's private key ([`InstanceStoreChoice::privatekey`],
    /// [`BundleChoice::privatekey`], `unbundle`'s key).
    PrivateKey,
    /// EC2's certificate ([`InstanceStoreChoice::ec2_cert`], [`BundleChoice::ec2_cert`]).
    Ec2Cert,
}

impl Field {
    /// The field's name in the option structs.
    pub fn option(self) -> &'static str {
        match self {
            Field::Bucket => "bucket",
            Field::Prefix => "prefix",
            Field::Cert => "cert",
            Field::PrivateKey => "privatekey",
            Field::Ec2Cert => "ec2_cert",
        }
    }

    /// What the field holds, as a library error names it.
    pub fn describe(self) -> &'static str {
        match self {
            Field::Bucket => "the bucket",
            Field::Prefix => "the key prefix",
            Field::Cert => "the user certificate",
            Field::PrivateKey => "the user private key",
            Field::Ec2Cert => "EC2's certificate",
        }
    }
}

/// How to reach AWS, and the run's [`Control`] (its cancel token and clean-up list).
///
/// ```
/// let aws = ingot::AwsChoice { regions: vec!["eu-west-1".into()], ..Default::default() };
/// assert_eq!(aws.connect_timeout, std::time::Duration::from_secs(ingot_aws::DEFAULT_CONNECT_TIMEOUT_SECS));
/// ```
#[derive(Clone, Debug)]
pub struct AwsChoice {
    /// Shared-config profile (default: AWS_PROFILE, else `default`).
    pub profile: Option<String>,
    /// The regions: the first is where the work is done; listings and prune cover all
    /// (default: AWS_REGION, else the profile's).
    pub regions: Vec<String>,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time to wait for a response to start (and between reads).
    pub read_timeout: Duration,
    /// Time for one attempt of one request.
    pub attempt_timeout: Duration,
    /// Attempts of one request before giving up (transient failures only; at least 1).
    pub max_attempts: u32,
    /// The run's cancel token and clean-up list.
    pub control: Control,
}

impl Default for AwsChoice {
    fn default() -> Self {
        AwsChoice {
            profile: None,
            regions: Vec::new(),
            connect_timeout: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
            read_timeout: Duration::from_secs(DEFAULT_READ_TIMEOUT_SECS),
            attempt_timeout: Duration::from_secs(DEFAULT_ATTEMPT_TIMEOUT_SECS),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            control: Control::default(),
        }
    }
}

impl AwsChoice {
    /// Connects in the one region the work is done in; more than one region is an error
    /// (only listings and prune take several).
    pub fn session(&self) -> Result<ingot_aws::Session> {
        if let [first, second, ..] = self.regions.as_slice() {
            return Err(crate::Error::invalid(format!(
                "regions {first} and {second}: this command works in one region; images and prune take several"
            )));
        }
        self.connect()
    }

    /// A session in the first region (or the default region), and every region named
    /// (or just that one).
    pub fn sessions(&self) -> Result<(ingot_aws::Session, Vec<String>)> {
        let session = self.connect()?;
        let regions = if self.regions.is_empty() { vec![session.region().to_string()] } else { self.regions.clone() };
        Ok((session, regions))
    }

    fn connect(&self) -> Result<ingot_aws::Session> {
        let retry = ingot_aws::RetryPolicy { max_attempts: self.max_attempts.max(1), ..Default::default() };
        let connect = ingot_aws::Connect {
            profile: self.profile.clone(),
            region: self.regions.first().cloned(),
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            attempt_timeout: self.attempt_timeout,
            retry,
            control: self.control.clone(),
        };
        ingot_aws::Session::connect(&connect).context("connecting to AWS")
    }
}

/// How to upload an image to an EBS snapshot; the recipe's `[ami]` supplies what is left
/// out.
#[derive(Clone, Debug)]
pub struct UploadChoice {
    /// Snapshot description (default: `ingot upload of NAME`).
    pub description: Option<String>,
    /// Volume size in GiB (default: the recipe's, else the image size rounded up).
    pub volume_size: Option<u64>,
    /// Encrypt the snapshot (then the zero blocks the filesystems rely on are written too).
    pub encrypted: bool,
    /// KMS key ARN for an encrypted snapshot (default: the account's EBS key).
    pub kms_key_id: Option<String>,
    /// Parent snapshot: upload only the blocks that differ from it.
    pub parent: Option<String>,
    /// The report of the upload that made the parent, or the build report of the image it
    /// was made from: its block digests are compared with this image's.
    pub parent_report: Option<PathBuf>,
    /// PutSnapshotBlock requests in flight (memory: workers × 512 KiB).
    pub workers: usize,
    /// Minutes EBS waits for the upload to complete (10–4320; default: the recipe's, else 60).
    pub snapshot_timeout: Option<u32>,
    /// Delete what a failed or stopped run leaves behind (the pending snapshot, the AMI,
    /// the bundle in S3) instead of naming it.
    pub cleanup_on_failure: bool,
}

impl Default for UploadChoice {
    fn default() -> Self {
        UploadChoice {
            description: None,
            volume_size: None,
            encrypted: false,
            kms_key_id: None,
            parent: None,
            parent_report: None,
            workers: DEFAULT_WORKERS,
            snapshot_timeout: None,
            cleanup_on_failure: false,
        }
    }
}

/// How to register an AMI.
#[derive(Clone, Debug, Default)]
pub struct RegisterChoice {
    /// AMI name (default: the recipe's `[ami] name` template).
    pub name: Option<String>,
    /// Register again even if an AMI of that name exists (the old one is deregistered).
    pub force: bool,
    /// Time between polls while waiting for the snapshot and copies (default:
    /// `ingot_aws::RegisterOptions`'s).
    pub poll: Option<Duration>,
}

impl RegisterChoice {
    /// The registration's bounds and `force`, as `ingot-aws` takes them.
    pub fn options(&self) -> ingot_aws::RegisterOptions {
        let mut opts = ingot_aws::RegisterOptions { force: self.force, ..Default::default() };
        if let Some(p) = self.poll {
            opts.poll = p;
        }
        opts
    }
}

/// An instance-store AMI's bundle and where it goes.
#[derive(Clone, Debug)]
pub struct InstanceStoreChoice {
    /// S3 bucket for the bundle (created in the region if missing).
    pub bucket: String,
    /// Key prefix in the bucket (default: AMI-NAME/ID, ID unique to the bundle).
    pub prefix: Option<String>,
    /// Where the bundle is written (default: IMAGE.bundle).
    pub bundle_dir: Option<PathBuf>,
    /// The user's X.509 certificate (PEM).
    pub cert: PathBuf,
    /// The user's RSA private key (PEM), which signs the manifest.
    pub privatekey: PathBuf,
    /// EC2's bundle certificate (default: the one shipped for the region's partition).
    pub ec2_cert: Option<PathBuf>,
    /// The 12-digit account id (default: the credentials' account, from STS).
    pub user: Option<String>,
    /// PutObject requests in flight (memory: workers × 10 MiB).
    pub s3_workers: usize,
}

impl InstanceStoreChoice {
    /// A bundle for `bucket`, signed with `cert` and `privatekey`; the rest by default.
    pub fn new(bucket: String, cert: PathBuf, privatekey: PathBuf) -> InstanceStoreChoice {
        InstanceStoreChoice {
            bucket,
            prefix: None,
            bundle_dir: None,
            cert,
            privatekey,
            ec2_cert: None,
            user: None,
            s3_workers: DEFAULT_S3_WORKERS,
        }
    }
}

/// The region whose EC2 certificate a bundle gets when none is named.
pub const DEFAULT_BUNDLE_REGION: &str = "us-east-1";

/// The architecture a bundle's manifest names when none is given.
pub const DEFAULT_BUNDLE_ARCH: &str = ingot_types::Arch::X86_64.as_str();

/// A bundle's keys and manifest fields.
#[derive(Clone, Debug)]
pub struct BundleChoice {
    /// The user's X.509 certificate (PEM).
    pub cert: PathBuf,
    /// The user's RSA private key (PEM), which signs the manifest.
    pub privatekey: PathBuf,
    /// EC2's bundle certificate (default: the one ingot ships for `region`'s partition).
    pub ec2_cert: Option<PathBuf>,
    /// The region the bundle is for: picks EC2's certificate (us-gov-*: GovCloud, cn-*:
    /// China, else commercial).
    pub region: String,
    /// The 12-digit AWS account id.
    pub user: String,
    /// The manifest's architecture: x86_64 or i386.
    pub arch: String,
    /// The image name in the bundle (default: the image's file name).
    pub name: Option<String>,
}
