//! `ingot bundle` and `ingot unbundle`: instance-store bundles on the local disk.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

fn pem(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{what} {}", path.display()))
}

/// `ingot bundle IMAGE -d DIR ...`.
#[allow(clippy::too_many_arguments)]
pub fn bundle(
    image: &Path,
    dir: &Path,
    cert: &Path,
    privatekey: &Path,
    ec2_cert: &Path,
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
        user_cert: pem(cert, "--cert")?,
        user_key: pem(privatekey, "--privatekey")?,
        ec2_cert: pem(ec2_cert, "--ec2-cert")?,
        mtime,
        ..Default::default()
    };
    let progress = if json { ingot::Progress::hidden() } else { ingot::Progress::stderr() };
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

/// `ingot unbundle MANIFEST --privatekey KEY -d DIR`.
pub fn unbundle(manifest: &Path, privatekey: &Path, dir: &PathBuf, json: bool) -> Result<()> {
    let key = pem(privatekey, "--privatekey")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let progress = if json { ingot::Progress::hidden() } else { ingot::Progress::stderr() };
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
