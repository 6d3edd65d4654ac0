//! `ingot bundle` and `ingot unbundle`: the keys and certificates read, EC2's certificate
//! picked, the defaults filled in, then `ingot-bundle` does the work.

use crate::error::{bail, OptionExt, Result, ResultExt};
use crate::{BundleChoice, Control, Field, Progress};
use ingot_bundle::{BundleOptions, BundleReport};
use std::path::{Path, PathBuf};

/// The PEM text of the file `path`, which `field` names.
pub(crate) fn read_pem(path: &Path, field: Field) -> Result<String> {
    let text = ingot_types::input::read_to_string(path, ingot_types::input::PEM_MAX);
    text.with_context(|| path.display()).map_err(|e| e.field(field))
}

/// EC2's bundle certificate: the file given, else the one ingot ships for `region`'s
/// partition.
pub(crate) fn ec2_certificate(file: Option<&Path>, region: &str) -> Result<String> {
    match file {
        Some(p) => read_pem(p, Field::Ec2Cert),
        None => Ok(ingot_bundle::ec2_certificate(region).pem.to_string()),
    }
}

/// The name of the image in its bundle: the image's file name.
pub(crate) fn image_name(image: &Path) -> Result<String> {
    let name = image.file_name().with_context(|| format!("{} has no file name", image.display()))?;
    Ok(name.to_string_lossy().into_owned())
}

/// The time the bundle's tar header gives the image: the image file's mtime, as the AMI
/// tools' `tar` records it (0 when the file system has none).
pub(crate) fn image_mtime(image: &Path) -> Result<u64> {
    let meta = std::fs::metadata(image).with_context(|| format!("{}: cannot read the image", image.display()))?;
    let since = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    Ok(since.map_or(0, |d| d.as_secs()))
}

/// Bundles `image` into `dir` (created if missing) as `flags` say.
pub fn bundle(
    image: &Path,
    dir: &Path,
    flags: &BundleChoice,
    progress: &Progress,
    control: &Control,
) -> Result<BundleReport> {
    let opts = BundleOptions {
        name: match &flags.name {
            Some(n) => n.clone(),
            None => image_name(image)?,
        },
        user: flags.user.clone(),
        architecture: flags.arch.clone(),
        user_cert: read_pem(&flags.cert, Field::Cert)?,
        user_key: read_pem(&flags.privatekey, Field::PrivateKey)?,
        ec2_cert: ec2_certificate(flags.ec2_cert.as_deref(), &flags.region)?,
        mtime: image_mtime(image)?,
        ..Default::default()
    };
    progress.stage(format!("bundling {} (tar, gzip -9, AES-128-CBC, 10 MiB parts)", image.display()));
    // The bundler writes `.NAME.part.N.partial` and `.NAME.manifest.xml.partial` and
    // renames them when the bundle is complete.
    let _unfinished = control.track_matching(dir, &format!(".{}.", opts.name), ".partial");
    let report = ingot_bundle::bundle(image, dir, &opts).with_context(|| format!("bundling {}", image.display()));
    progress.finish();
    report
}

/// Checks the bundle at `manifest` (a `NAME.manifest.xml`, or the directory holding the
/// one manifest) with `privatekey` and restores its image into `dir`.
pub fn unbundle(
    manifest: &Path,
    privatekey: &Path,
    dir: &Path,
    progress: &Progress,
    control: &Control,
) -> Result<ingot_bundle::UnbundleReport> {
    let key = read_pem(privatekey, Field::PrivateKey)?;
    let manifest = &find_manifest(manifest)?;
    let made = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    progress.stage(format!("checking and unpacking {}", manifest.display()));
    // The image is written as `.ingot-unbundle.XXXXXX` and renamed once checked.
    let _unfinished = control.track_matching(dir, ".ingot-unbundle.", "");
    let report =
        ingot_bundle::unbundle(manifest, &key, dir).with_context(|| format!("unbundling {}", manifest.display()));
    if report.is_err() && made {
        let _ = std::fs::remove_dir(dir); // only if still empty: a failed unbundle leaves nothing
    }
    progress.finish();
    report
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
        n => bail!("{}: {n} manifests in this directory: name the one to unbundle", path.display()),
    }
}
