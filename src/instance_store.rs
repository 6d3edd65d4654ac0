//! `ingot publish --instance-store`: bundle the image, upload the bundle to S3, register it.
//!
//! The bundle goes to a directory beside the image (`IMAGE.bundle/`) with a stamp,
//! `ingot-bundle.json`, naming the image digest, account, architecture and certificates it
//! was made for. A re-run with the same inputs reuses that bundle, and the upload then skips
//! every object S3 already holds with the same size and MD5: an interrupted publish
//! resumes where it stopped. (A fresh bundle has a fresh random AES key, so nothing of an
//! older one could be reused.)

use crate::account::{BundleLeft, Leftovers};
use crate::error::{bail, Error, Result, ResultExt};
use crate::publish::{ami_spec, ImageInput, PublishInput};
use crate::{AwsChoice, Control, Field, InstanceStoreChoice, Progress, RegisterChoice, UploadChoice};
use ingot_aws::{AmiRoot, BundleUpload, BundleUploadReport, ObjectCounters, RegisterReport, Session};
use ingot_bundle::{BundleOptions, BundleReport};
use ingot_recipe::Recipe;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The bundle a publish used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleStamp {
    /// The image digest (docs/recipe.md) of the image bundled.
    pub image_digest: String,
    /// The account id in the manifest.
    pub user: String,
    /// The manifest's architecture.
    pub architecture: String,
    /// SHA-256 of the EC2 certificate (PEM text).
    pub ec2_cert_sha256: String,
    /// SHA-256 of the user certificate (PEM text).
    pub user_cert_sha256: String,
    /// What the bundler wrote.
    pub bundle: BundleReport,
}

/// What `ingot publish --instance-store` did.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceStoreReport {
    /// The image published.
    pub image: PathBuf,
    /// The bundle (absent when an AMI of the same name was reused).
    pub bundle: Option<BundleStamp>,
    /// True when an earlier run's bundle (same image, account and certificates) was used.
    pub bundle_reused: bool,
    /// True when ingot created the bucket.
    pub bucket_created: bool,
    /// The S3 upload (absent when an AMI of the same name was reused).
    pub upload: Option<BundleUploadReport>,
    /// The registration.
    pub register: RegisterReport,
}

/// `ingot publish --instance-store`: bundles, uploads and registers the image (built first
/// when `input` is a recipe) as an instance-store AMI described by its recipe; reuses an
/// AMI of the same name (unless forced) without doing anything else. Every input is
/// checked before the first request that changes anything; the upload flags that only
/// EBS-backed AMIs take are refused.
pub fn publish(
    aws: &AwsChoice,
    input: &PublishInput,
    upload_flags: &UploadChoice,
    flags: &InstanceStoreChoice,
    reg: &RegisterChoice,
    progress: &Progress,
) -> Result<InstanceStoreReport> {
    let u = upload_flags;
    if u.encrypted || u.parent.is_some() || u.volume_size.is_some() || u.kms_key_id.is_some() {
        bail!("`encrypted`, `kms_key_id`, `parent` and `volume_size` are for EBS-backed AMIs, not `instance_store`");
    }
    let (input, recipe) = input.resolve(progress, &aws.control)?;
    let (image, recipe) = (&input, &recipe);
    let mut spec = ami_spec(recipe, reg, None)?;
    crate::secure_boot::check_built(&image.path, image.report(), recipe, &mut spec)?;
    let session = &aws.session()?;
    let prefix = check_request(image, recipe, &spec, flags)?;
    if let Some(register) = crate::account::reuse(session, &spec, reg)? {
        let (bundle, bundle_reused, bucket_created, upload) = (None, false, false, None);
        return Ok(InstanceStoreReport {
            image: image.path.clone(),
            bundle,
            bundle_reused,
            bucket_created,
            upload,
            register,
        });
    }
    let opts = bundle_options(session, image, spec.machine.architecture.as_str(), flags)?;
    let (stamp, bundle_reused) = bundle(image, &opts, flags, progress, &aws.control)?;
    // From here on the work is in the account: a signal stops it and the error names
    // (or removes) what it left.
    let _stoppable = aws.control.stoppable();
    let bucket = flags.bucket.as_str();
    let bucket_created = session.prepare_bucket(bucket).with_context(|| format!("preparing bucket {bucket:?}"))?;
    let up = BundleUpload {
        bucket: bucket.to_string(),
        prefix: match prefix {
            Some(p) => p,
            None => format!("{}/{}", default_prefix(&spec.name), bundle_id(&stamp.bundle)?),
        },
        parts: stamp.bundle.parts.iter().map(|p| p.0.clone()).collect(),
        manifest: stamp.bundle.manifest.clone(),
        workers: flags.s3_workers,
    };
    let upload = upload(session, &up, progress)?;
    progress.stage(format!("registering {} from {}", spec.name, upload.image_location));
    let registered = session.register(&AmiRoot::Manifest(upload.image_location.clone()), &spec, &reg.options());
    progress.finish();
    match registered {
        Ok(register) => Ok(InstanceStoreReport {
            image: image.path.clone(),
            bundle: Some(stamp),
            bundle_reused,
            bucket_created,
            upload: Some(upload),
            register,
        }),
        Err(e) => Err(left_behind(session, e, &upload, u.cleanup_on_failure)),
    }
}

/// What can be checked offline: size, architecture, settings only EBS-backed AMIs have,
/// the image's file name, bucket name and prefix. Returns the prefix, if one was given.
fn check_request(
    image: &ImageInput,
    recipe: &Recipe,
    spec: &ingot_aws::AmiSpec,
    flags: &InstanceStoreChoice,
) -> Result<Option<String>> {
    if image.size > ingot_bundle::SIZE_LIMIT {
        bail!(
            "{}: {} bytes is over the 10 GiB an instance-store AMI may hold; publish it without `instance_store` (EBS-backed)",
            image.path.display(),
            image.size
        );
    }
    if spec.machine.architecture != ingot_types::Arch::X86_64 {
        bail!(
            "{}: boot.arch = \"{}\": instance-store AMIs are x86_64 only; publish it without `instance_store` (EBS-backed)",
            recipe.path().display(),
            spec.machine.architecture
        );
    }
    if let Some(ami) = &recipe.ami {
        let ebs_only = [
            ("encrypted", ami.encrypted),
            ("kms_key_id", ami.kms_key_id.is_some()),
            ("volume_size", ami.root.volume_size_gib.is_some()),
            ("iops", ami.root.iops.is_some()),
            ("throughput", ami.root.throughput.is_some()),
        ];
        if let Some((key, _)) = ebs_only.iter().find(|(_, set)| *set) {
            bail!(
                "{}: ami.{key} is for EBS-backed AMIs; an instance-store AMI's root comes from its bundle (remove it, or publish without `instance_store`)",
                recipe.path().display()
            );
        }
    }
    let name = image.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) || name.starts_with('.')
    {
        bail!(
            "{}: the image's file name names the bundle's S3 objects: use letters, digits, '.', '_' and '-' only",
            image.path.display()
        );
    }
    ingot_aws::check_bucket_name(&flags.bucket).map_err(|e| Error::from(e).field(Field::Bucket))?;
    if let Some(p) = &flags.prefix {
        ingot_aws::check_prefix(p).map_err(|e| Error::from(e).field(Field::Prefix))?;
    }
    Ok(flags.prefix.clone())
}

/// 16 hex digits naming one bundle (of the SHA-256 of its manifest, which holds the
/// bundle's random key): the default prefix is `AMI-NAME/ID`, so two bundles never share
/// keys and a re-run of the same bundle finds its objects again.
fn bundle_id(bundle: &BundleReport) -> Result<String> {
    let m = std::fs::read_to_string(&bundle.manifest).with_context(|| format!("{}", bundle.manifest.display()))?;
    Ok(crate::hash::text_sha256(&m)[..16].to_string())
}

/// The AMI name as a key prefix: letters, digits, `.`, `_`, `-`; anything else `-`.
pub fn default_prefix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
}

/// The error of a failed registration, naming the bundle (and AMI) left behind, or
/// removing them with `--cleanup-on-failure`: every object when this run wrote the
/// manifest (no AMI can use the bundle then), else only the objects it sent (a manifest
/// that was already there may serve another AMI).
fn left_behind(session: &Session, err: ingot_aws::Error, up: &BundleUploadReport, cleanup: bool) -> Error {
    let image = match &err {
        ingot_aws::Error::Registered { image_id, .. } => Some(image_id.clone()),
        _ => None,
    };
    let err = Error::from(err).context(format!("registering s3://{}", up.image_location));
    let manifest_sent = up.objects.last().is_some_and(|m| !m.skipped);
    let sent: Vec<String> = up.objects.iter().filter(|o| manifest_sent || !o.skipped).map(|o| o.key.clone()).collect();
    let kept = up.objects.len() - sent.len();
    let bundle = BundleLeft { bucket: up.bucket.clone(), image_location: up.image_location.clone(), sent, kept };
    let left = Leftovers { region: session.region().into(), image, snapshot: None, bundle: Some(bundle) };
    left.on(session, err, cleanup, "running the same publish again reuses the uploaded parts")
}

/// Uploads with a progress bar of objects.
fn upload(session: &Session, up: &BundleUpload, progress: &Progress) -> Result<BundleUploadReport> {
    let counters = ObjectCounters::default();
    let what = format!("uploading to s3://{}/{}", up.bucket, up.prefix);
    let show = || {
        let (d, t) = (counters.done.load(Ordering::Relaxed), counters.total.load(Ordering::Relaxed));
        progress.count("objects", what.clone(), d, t);
    };
    crate::account::watched(progress, show, || session.upload_bundle(up, &counters)).map_err(|e| {
        let again = match e {
            ingot_aws::Error::Conflict(_) | ingot_aws::Error::Invalid(_) => String::new(),
            _ => format!(
                " (the objects sent so far are left: running the same publish again skips them, `aws s3 rm --recursive s3://{}/{}/` removes them)",
                up.bucket, up.prefix
            ),
        };
        Error::from(e).context(format!("uploading the bundle to s3://{}/{}{again}", up.bucket, up.prefix))
    })
}

/// The bundle's options: keys and certificates read and checked, the account id from
/// `--user` or STS; fails naming the flag before anything is written.
fn bundle_options(
    session: &Session,
    image: &ImageInput,
    architecture: &str,
    flags: &InstanceStoreChoice,
) -> Result<BundleOptions> {
    let (cert, privatekey) = (&flags.cert, &flags.privatekey);
    let user = match &flags.user {
        Some(u) => u.clone(),
        None => session.account_id().context("finding the account id for the manifest (or give it)")?,
    };
    let opts = BundleOptions {
        name: crate::bundle::image_name(&image.path)?,
        user,
        architecture: architecture.to_string(),
        user_cert: crate::bundle::read_pem(cert, Field::Cert)?,
        user_key: crate::bundle::read_pem(privatekey, Field::PrivateKey)?,
        ec2_cert: crate::bundle::ec2_certificate(flags.ec2_cert.as_deref(), session.region())?,
        mtime: crate::bundle::image_mtime(&image.path)?,
        ..Default::default()
    };
    ingot_bundle::check_options(&opts)
        .context("checking the account id, the user certificate and private key and EC2's certificate")?;
    Ok(opts)
}

/// The bundle for `image`: the one already in the bundle directory when its stamp
/// matches (the image hashed again, every part's SHA-1 checked), else a new one, written
/// after the old bundle's files are removed.
fn bundle(
    image: &ImageInput,
    opts: &BundleOptions,
    flags: &InstanceStoreChoice,
    progress: &Progress,
    control: &Control,
) -> Result<(BundleStamp, bool)> {
    let dir = flags.bundle_dir.clone().unwrap_or_else(|| PathBuf::from(format!("{}.bundle", image.path.display())));
    progress.stage(format!("hashing {}", image.path.display()));
    let image_digest = crate::hash::image_digest_of(&image.path, image.size, progress)?;
    let want = |bundle: BundleReport| BundleStamp {
        image_digest: image_digest.clone(),
        user: opts.user.clone(),
        architecture: opts.architecture.clone(),
        ec2_cert_sha256: crate::hash::text_sha256(&opts.ec2_cert),
        user_cert_sha256: crate::hash::text_sha256(&opts.user_cert),
        bundle,
    };
    let stamp_path = dir.join("ingot-bundle.json");
    let old = read_stamp(&stamp_path);
    let manifest = dir.join(format!("{}.manifest.xml", opts.name));
    let inside = |b: &BundleReport| b.manifest == manifest && b.parts.iter().all(|p| p.0.parent() == Some(&*dir));
    if let Some(old) = &old {
        if *old == want(old.bundle.clone()) && inside(&old.bundle) && manifest.is_file() {
            progress.stage(format!("checking the bundle in {}", dir.display()));
            if old.bundle.check_parts().is_ok() {
                return Ok((old.clone(), true));
            }
        }
    }
    remove_bundle_files(&dir, &opts.name);
    progress.stage(format!("bundling {} into {}", image.path.display(), dir.display()));
    let _unfinished = control.track_matching(&dir, &format!(".{}.", opts.name), ".partial");
    let report =
        ingot_bundle::bundle(&image.path, &dir, opts).with_context(|| format!("bundling {}", image.path.display()));
    progress.finish();
    let stamp = want(report?);
    let json = serde_json::to_vec_pretty(&stamp)?;
    std::fs::write(&stamp_path, json).with_context(|| format!("writing {}", stamp_path.display()))?;
    Ok((stamp, false))
}

/// Removes the stamp, `NAME.manifest.xml` and every `NAME.part.*` in `dir`, so a bundle
/// that fails half-way leaves nothing that looks finished.
fn remove_bundle_files(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join("ingot-bundle.json"));
    let _ = std::fs::remove_file(dir.join(format!("{name}.manifest.xml")));
    let part = format!("{name}.part.");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&part) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn read_stamp(path: &Path) -> Option<BundleStamp> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_prefix_keeps_safe_characters_only() {
        assert_eq!(super::default_prefix("web-1.2_x"), "web-1.2_x");
        assert_eq!(super::default_prefix("web 1/2 (beta)"), "web-1-2--beta-");
    }
}
