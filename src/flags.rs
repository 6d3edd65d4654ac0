//! The options of the AWS and bundle pipelines, one type per concept. Each derives
//! `clap::Args`, so the command line fills it directly, and its doc comments are the
//! `--help` text; every default is a named constant of the crate that owns the rule.

use crate::error::{Result, ResultExt};
use clap::Args;
use ingot_aws::{DEFAULT_ATTEMPT_TIMEOUT_SECS, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_MAX_ATTEMPTS};
use ingot_aws::{DEFAULT_READ_TIMEOUT_SECS, DEFAULT_S3_WORKERS, DEFAULT_WORKERS};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach AWS (every AWS subcommand).
#[derive(Args, Clone, Debug)]
pub struct AwsFlags {
    /// Shared-config profile (default: AWS_PROFILE, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Region (default: AWS_REGION, else the profile's). `images` and `prune` take
    /// several: repeat the flag or separate them with commas.
    #[arg(long, value_delimiter = ',')]
    pub region: Vec<String>,
    /// Seconds to establish a connection.
    #[arg(long, default_value_t = DEFAULT_CONNECT_TIMEOUT_SECS as f64)]
    pub connect_timeout: f64,
    /// Seconds to wait for a response to start (and between reads).
    #[arg(long, default_value_t = DEFAULT_READ_TIMEOUT_SECS as f64)]
    pub read_timeout: f64,
    /// Seconds for one attempt of one request.
    #[arg(long, default_value_t = DEFAULT_ATTEMPT_TIMEOUT_SECS as f64)]
    pub attempt_timeout: f64,
    /// Attempts of one request before giving up (transient failures only).
    #[arg(long, default_value_t = DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: u32,
}

impl AwsFlags {
    /// Connects with these settings; a timeout that is not a positive number of seconds
    /// is an error naming its flag.
    pub fn session(&self) -> Result<ingot_aws::Session> {
        if let [_, second, ..] = self.region.as_slice() {
            return Err(crate::Error::invalid(format!(
                "--region {second}: this command works in one region; images and prune take several"
            )));
        }
        self.connect()
    }

    /// A session in the first `--region` (or the default region), and every region
    /// named (or just that one).
    pub fn sessions(&self) -> Result<(ingot_aws::Session, Vec<String>)> {
        let session = self.connect()?;
        let regions = if self.region.is_empty() { vec![session.region().to_string()] } else { self.region.clone() };
        Ok((session, regions))
    }

    fn connect(&self) -> Result<ingot_aws::Session> {
        let secs = |name: &str, s: f64| -> Result<Duration> {
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| crate::Error::invalid(format!("--{name} {s}: expected a positive number of seconds")))
        };
        let retry = ingot_aws::RetryPolicy { max_attempts: self.max_attempts.max(1), ..Default::default() };
        let connect = ingot_aws::Connect {
            profile: self.profile.clone(),
            region: self.region.first().cloned(),
            connect_timeout: secs("connect-timeout", self.connect_timeout)?,
            read_timeout: secs("read-timeout", self.read_timeout)?,
            attempt_timeout: secs("attempt-timeout", self.attempt_timeout)?,
            retry,
        };
        ingot_aws::Session::connect(&connect).context("connecting to AWS")
    }
}

/// How to upload an image to an EBS snapshot (`ingot upload`, `ingot publish`); the
/// recipe's `[ami]` supplies what a flag leaves out.
#[derive(Args, Clone, Debug)]
pub struct UploadFlags {
    /// Snapshot description.
    #[arg(long)]
    pub description: Option<String>,
    /// Volume size in GiB (default: the recipe's, else the image size rounded up).
    #[arg(long)]
    pub volume_size: Option<u64>,
    /// Encrypt the snapshot (then the zero blocks the filesystems rely on are written too).
    #[arg(long)]
    pub encrypted: bool,
    /// KMS key ARN for --encrypted (default: the account's EBS key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Parent snapshot: upload only the blocks that differ from it.
    #[arg(long)]
    pub parent: Option<String>,
    /// The report of the upload that made --parent, or the build report (IMAGE.json) of
    /// the image it was made from: their block digests are compared with this image's,
    /// so only the blocks that differ are read (without it the parent's blocks are read
    /// back from EBS).
    #[arg(long, requires = "parent")]
    pub parent_report: Option<PathBuf>,
    /// PutSnapshotBlock requests in flight (memory: workers × 512 KiB).
    #[arg(long, default_value_t = DEFAULT_WORKERS)]
    pub workers: usize,
    /// Minutes EBS waits for the upload to complete (10–4320; default: the recipe's, else 60).
    #[arg(long)]
    pub snapshot_timeout: Option<u32>,
    /// Delete what a failed or interrupted run leaves behind: the pending snapshot, and
    /// for publish the AMI or the bundle in S3 (otherwise the error names them with the
    /// commands that remove them).
    #[arg(long)]
    pub cleanup_on_failure: bool,
}

impl Default for UploadFlags {
    fn default() -> Self {
        UploadFlags {
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

/// How to register an AMI (`ingot register`, `ingot publish`).
#[derive(Args, Clone, Debug, Default)]
pub struct RegisterFlags {
    /// AMI name (default: the recipe's `[ami] name` template).
    #[arg(long)]
    pub name: Option<String>,
    /// Register again even if an AMI of that name exists (the old one is deregistered).
    #[arg(long)]
    pub force: bool,
    /// Seconds between polls while waiting for the snapshot and copies.
    #[arg(long)]
    pub poll: Option<u64>,
}

impl RegisterFlags {
    /// The registration's bounds and `--force`, as `ingot-aws` takes them.
    pub fn options(&self) -> ingot_aws::RegisterOptions {
        let mut opts = ingot_aws::RegisterOptions { force: self.force, ..Default::default() };
        if let Some(p) = self.poll {
            opts.poll = Duration::from_secs(p);
        }
        opts
    }
}

/// `ingot publish --instance-store` and its flags.
#[derive(Args, Clone, Debug)]
pub struct InstanceStoreFlags {
    /// Publish an instance-store AMI: bundle, upload to S3, register the manifest.
    #[arg(long, requires_all = ["bucket", "cert", "privatekey"])]
    pub instance_store: bool,
    /// S3 bucket for the bundle (created in the region if missing).
    #[arg(long, requires = "instance_store")]
    pub bucket: Option<String>,
    /// Key prefix in the bucket (default: AMI-NAME/ID, ID unique to the bundle).
    #[arg(long, requires = "instance_store")]
    pub prefix: Option<String>,
    /// Where the bundle is written (default: IMAGE.bundle).
    #[arg(long, requires = "instance_store")]
    pub bundle_dir: Option<PathBuf>,
    /// Your X.509 certificate (PEM).
    #[arg(long, requires = "instance_store")]
    pub cert: Option<PathBuf>,
    /// Your RSA private key (PEM), which signs the manifest.
    #[arg(long, requires = "instance_store")]
    pub privatekey: Option<PathBuf>,
    /// EC2's bundle certificate (default: the one shipped for the region's partition).
    #[arg(long, requires = "instance_store")]
    pub ec2_cert: Option<PathBuf>,
    /// Your 12-digit account id (default: the credentials' account, from STS).
    #[arg(long, requires = "instance_store")]
    pub user: Option<String>,
    /// PutObject requests in flight (memory: workers × 10 MiB).
    #[arg(long, default_value_t = DEFAULT_S3_WORKERS)]
    pub s3_workers: usize,
}

impl Default for InstanceStoreFlags {
    fn default() -> Self {
        InstanceStoreFlags {
            instance_store: false,
            bucket: None,
            prefix: None,
            bundle_dir: None,
            cert: None,
            privatekey: None,
            ec2_cert: None,
            user: None,
            s3_workers: DEFAULT_S3_WORKERS,
        }
    }
}

/// The region `ingot bundle` picks EC2's certificate for when `--region` is not given.
pub const DEFAULT_BUNDLE_REGION: &str = "us-east-1";

/// `ingot bundle`'s keys and manifest fields.
#[derive(Args, Clone, Debug)]
pub struct BundleFlags {
    /// Your X.509 certificate (PEM).
    #[arg(long)]
    pub cert: PathBuf,
    /// Your RSA private key (PEM), which signs the manifest.
    #[arg(long)]
    pub privatekey: PathBuf,
    /// EC2's bundle certificate (default: the one ingot ships for --region's partition,
    /// as the AMI tools' cert-ec2.pem, cert-ec2-gov.pem, cert-ec2-cn-north-1.pem).
    #[arg(long)]
    pub ec2_cert: Option<PathBuf>,
    /// The region the bundle is for: picks EC2's certificate (us-gov-*: GovCloud,
    /// cn-*: China, else commercial).
    #[arg(long, default_value = DEFAULT_BUNDLE_REGION)]
    pub region: String,
    /// Your 12-digit AWS account id.
    #[arg(long)]
    pub user: String,
    /// x86_64 or i386.
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// The image name in the bundle (default: the image's file name).
    #[arg(long)]
    pub name: Option<String>,
}
