//! `ingot bundle`, `ingot unbundle` and `ingot publish --instance-store`.

use crate::aws_cli::{AwsArgs, RegisterArgs, UploadArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use ingot::instance_store::InstanceStoreFlags;
use std::path::{Path, PathBuf};

/// `ingot publish --instance-store` and its flags.
#[derive(Args, Clone, Debug)]
pub struct InstanceStoreArgs {
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
    #[arg(long, default_value_t = 8)]
    pub s3_workers: usize,
}

/// The certificates and key of `ingot bundle`.
pub struct Keys {
    /// `--cert`.
    pub cert: PathBuf,
    /// `--privatekey`.
    pub privatekey: PathBuf,
    /// `--ec2-cert`.
    pub ec2_cert: Option<PathBuf>,
    /// `--region`.
    pub region: String,
}

fn pem(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{what} {}", path.display()))
}

/// `ingot bundle IMAGE -d DIR ...`.
pub fn bundle(
    image: &Path,
    dir: &Path,
    keys: &Keys,
    user: &str,
    arch: &str,
    name: Option<String>,
    json: bool,
) -> Result<()> {
    let name = match name {
        Some(n) => n,
        None => image
            .file_name()
            .with_context(|| format!("{} has no file name", image.display()))?
            .to_string_lossy()
            .into_owned(),
    };
    let mtime = std::fs::metadata(image)
        .with_context(|| format!("{}: cannot read the image", image.display()))?
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let opts = ingot_bundle::BundleOptions {
        name,
        user: user.to_string(),
        architecture: arch.to_string(),
        user_cert: pem(&keys.cert, "--cert")?,
        user_key: pem(&keys.privatekey, "--privatekey")?,
        ec2_cert: match &keys.ec2_cert {
            Some(p) => pem(p, "--ec2-cert")?,
            None => ingot_bundle::ec2_certificate(&keys.region).pem.to_string(),
        },
        mtime,
        ..Default::default()
    };
    let progress = crate::aws_cli::progress(json);
    progress.stage(format!("bundling {} (tar, gzip -9, AES-128-CBC, 10 MiB parts)", image.display()));
    let report = ingot_bundle::bundle(image, dir, &opts).with_context(|| format!("bundling {}", image.display()));
    progress.finish();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}  ({} parts, {} bytes)", report.manifest.display(), report.parts.len(), report.bundled_size);
    }
    Ok(())
}

/// `ingot unbundle (MANIFEST | DIR) --privatekey KEY -d DIR`.
pub fn unbundle(manifest: &Path, privatekey: &Path, dir: &PathBuf, json: bool) -> Result<()> {
    let key = pem(privatekey, "--privatekey")?;
    let manifest = &find_manifest(manifest)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let progress = crate::aws_cli::progress(json);
    progress.stage(format!("checking and unpacking {}", manifest.display()));
    let report =
        ingot_bundle::unbundle(manifest, &key, dir).with_context(|| format!("unbundling {}", manifest.display()));
    progress.finish();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}  ({} bytes, {} parts checked)", report.image.display(), report.size, report.parts);
    }
    Ok(())
}

/// `path` itself, or the one `*.manifest.xml` in the directory `path`.
fn find_manifest(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))? {
        let p = entry.with_context(|| format!("cannot list {}", path.display()))?.path();
        if p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".manifest.xml")) {
            found.push(p);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("{}: no *.manifest.xml in this directory", path.display()),
        _ => bail!("{}: {} manifests in this directory: name the one to unbundle", path.display(), found.len()),
    }
}

/// `ingot publish --instance-store (RECIPE | IMAGE --recipe R) --bucket B --cert C --privatekey K`.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    input: PathBuf,
    recipe: Option<PathBuf>,
    out: Option<PathBuf>,
    up: &UploadArgs,
    is: &InstanceStoreArgs,
    reg: &RegisterArgs,
    cleanup_on_failure: bool,
    aws: &AwsArgs,
    json: bool,
) -> Result<()> {
    if up.encrypted || up.parent.is_some() || up.volume_size.is_some() || up.kms_key_id.is_some() {
        bail!("--encrypted, --kms-key-id, --parent and --volume-size are for EBS-backed AMIs, not --instance-store");
    }
    let progress = crate::aws_cli::progress(json);
    let (image, recipe) = crate::aws_cli::publish_input(input, recipe, out, &progress)?;
    let flags = InstanceStoreFlags {
        bucket: is.bucket.clone().unwrap_or_default(),
        prefix: is.prefix.clone(),
        bundle_dir: is.bundle_dir.clone(),
        cert: is.cert.clone().unwrap_or_default(),
        privatekey: is.privatekey.clone().unwrap_or_default(),
        ec2_cert: is.ec2_cert.clone(),
        user: is.user.clone(),
        workers: is.s3_workers,
    };
    let session = aws.session()?;
    let report =
        ingot::instance_store::publish(&session, &image, &recipe, &flags, &reg.flags(), cleanup_on_failure, &progress)?;
    if report.register.reused && !json {
        eprintln!(
            "AMI {:?} already exists as {}: nothing bundled or uploaded (--force registers again)",
            report.register.name, report.register.image_id
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut line = report.register.image_id.clone();
        for c in &report.register.copies {
            line.push_str(&format!("\n{} {}", c.region, c.image_id));
        }
        println!("{line}");
    }
    Ok(())
}
