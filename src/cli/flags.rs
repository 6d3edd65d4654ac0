//! The flags of the AWS and bundle commands, one `clap::Args` type per concept (their doc
//! comments are the `--help` text), each converted into the library's plain option
//! struct (`ingot::AwsChoice`, `UploadChoice`, …): the library knows no flag. Every
//! default is a named constant of the crate that owns the rule.

use anyhow::{bail, Context, Result};
use clap::Args;
use ingot::Control;
use ingot::{DEFAULT_BUNDLE_ARCH, DEFAULT_BUNDLE_REGION};
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
    /// The library's [`ingot::AwsChoice`] for these flags and the run's `control`; a
    /// timeout that is not a positive number of seconds is an error naming its flag.
    pub fn choice(&self, control: &Control) -> Result<ingot::AwsChoice> {
        let secs = |name: &str, s: f64| -> Result<Duration> {
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("--{name} {s}: expected a positive number of seconds"))
        };
        Ok(ingot::AwsChoice {
            profile: self.profile.clone(),
            regions: self.region.clone(),
            connect_timeout: secs("connect-timeout", self.connect_timeout)?,
            read_timeout: secs("read-timeout", self.read_timeout)?,
            attempt_timeout: secs("attempt-timeout", self.attempt_timeout)?,
            max_attempts: self.max_attempts,
            control: control.clone(),
        })
    }

    /// [`AwsFlags::choice`] for a command that works in one region: a second `--region`
    /// is an error naming the flag.
    pub fn one_region(&self, control: &Control) -> Result<ingot::AwsChoice> {
        if let [_, second, ..] = self.region.as_slice() {
            bail!("--region {second}: this command works in one region; images and prune take several");
        }
        self.choice(control)
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

impl UploadFlags {
    /// The library's [`ingot::UploadChoice`] for these flags.
    pub fn choice(&self) -> ingot::UploadChoice {
        ingot::UploadChoice {
            description: self.description.clone(),
            volume_size: self.volume_size,
            encrypted: self.encrypted,
            kms_key_id: self.kms_key_id.clone(),
            parent: self.parent.clone(),
            parent_report: self.parent_report.clone(),
            workers: self.workers,
            snapshot_timeout: self.snapshot_timeout,
            cleanup_on_failure: self.cleanup_on_failure,
        }
    }
}

/// How to register an AMI (`ingot register`, `ingot publish`).
#[derive(Args, Clone, Debug)]
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
    /// The library's [`ingot::RegisterChoice`] for these flags.
    pub fn choice(&self) -> ingot::RegisterChoice {
        ingot::RegisterChoice { name: self.name.clone(), force: self.force, poll: self.poll.map(Duration::from_secs) }
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

impl InstanceStoreFlags {
    /// The library's [`ingot::InstanceStoreChoice`], or `None` without `--instance-store`
    /// (an EBS-backed AMI).
    pub fn choice(&self) -> Result<Option<ingot::InstanceStoreChoice>> {
        if !self.instance_store {
            return Ok(None);
        }
        let needs = |flag: &str| format!("--instance-store needs --{flag}");
        let bucket = self.bucket.clone().with_context(|| needs("bucket"))?;
        let cert = self.cert.clone().with_context(|| needs("cert"))?;
        let privatekey = self.privatekey.clone().with_context(|| needs("privatekey"))?;
        Ok(Some(ingot::InstanceStoreChoice {
            prefix: self.prefix.clone(),
            bundle_dir: self.bundle_dir.clone(),
            ec2_cert: self.ec2_cert.clone(),
            user: self.user.clone(),
            s3_workers: self.s3_workers,
            ..ingot::InstanceStoreChoice::new(bucket, cert, privatekey)
        }))
    }
}

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
    #[arg(long, default_value = DEFAULT_BUNDLE_ARCH)]
    pub arch: String,
    /// The image name in the bundle (default: the image's file name).
    #[arg(long)]
    pub name: Option<String>,
}

impl BundleFlags {
    /// The library's [`ingot::BundleChoice`] for these flags.
    pub fn choice(&self) -> ingot::BundleChoice {
        ingot::BundleChoice {
            cert: self.cert.clone(),
            privatekey: self.privatekey.clone(),
            ec2_cert: self.ec2_cert.clone(),
            region: self.region.clone(),
            user: self.user.clone(),
            arch: self.arch.clone(),
            name: self.name.clone(),
        }
    }
}

/// The flag that sets `field`: what the binary's errors name instead of the library's
/// description of it.
pub fn flag(field: ingot::Field) -> &'static str {
    flag_of(field.option()).unwrap_or(field.describe())
}

/// The library's option names (its messages write them in backticks, its
/// [`ingot::Field`]s by [`ingot::Field::option`]) and the flags that set them.
const FLAGS: [(&str, &str); 18] = [
    ("cleanup_on_failure", "--cleanup-on-failure"),
    ("encrypted", "--encrypted"),
    ("kms_key_id", "--kms-key-id"),
    ("parent", "--parent"),
    ("volume_size", "--volume-size"),
    ("instance_store", "--instance-store"),
    ("keep", "--keep"),
    ("force", "--force"),
    ("no_digest", "--no-digest"),
    ("vars", "--vars"),
    ("profile", "--profile"),
    ("region", "--region"),
    ("bucket", "--bucket"),
    ("prefix", "--prefix"),
    ("cert", "--cert"),
    ("privatekey", "--privatekey"),
    ("ec2_cert", "--ec2-cert"),
    ("bios", "--bios"),
];

/// The flag that sets the library's option `option`.
fn flag_of(option: &str) -> Option<&'static str> {
    FLAGS.iter().find(|(o, _)| *o == option).map(|(_, flag)| *flag)
}

/// `text` (a library's message) with every option it names written as the flag that sets
/// it: the library names `cleanup_on_failure`, the command line `--cleanup-on-failure`.
pub fn flag_names(text: &str) -> String {
    FLAGS.iter().fold(text.to_string(), |t, (option, flag)| {
        let named = format!("`{option}`");
        if t.contains(&named) {
            t.replace(&named, flag)
        } else {
            t
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_option_names_become_flags() {
        assert_eq!(flag_names("removed (`cleanup_on_failure`)"), "removed (--cleanup-on-failure)");
        assert_eq!(flag_names("`keep` 0: pass `force` too"), "--keep 0: pass --force too");
        assert_eq!(flag(ingot::Field::Ec2Cert), "--ec2-cert");
        assert_eq!(
            flag_names("`aws ec2 deregister-image --image-id ami-1`"),
            "`aws ec2 deregister-image --image-id ami-1`"
        );
    }
}
