//! The AWS pipelines: upload an image as an EBS snapshot, register it as an AMI, or both
//! (`publish`), and download a snapshot. The AWS work itself is in `ingot-aws`; this
//! module turns recipes, build reports and flags into its options.

use crate::account::Leftovers;
use crate::error::{bail, Error, OptionExt, Result, ResultExt};
pub use crate::input::{ImageInput, PublishInput};
use crate::report::BlocksReport;
use crate::{AwsChoice, Progress, RegisterChoice, UploadChoice};
use ingot_aws::{AmiRoot, AmiSpec, Digests, LaunchPermissions, Session, UploadOptions, ZeroBlocks};
pub use ingot_aws::{DownloadReport, RegisterReport, UploadReport, DEFAULT_DOWNLOAD_WORKERS};
use ingot_recipe::{Ami, Recipe};
use ingot_types::{ebs, RootVolume};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Snapshot tag holding the image's size in bytes (the volume is whole GiB).
pub const TAG_SIZE: &str = "ingot:image-size";
/// Snapshot tag holding the image digest (docs/recipe.md), when its build report had one.
pub const TAG_DIGEST: &str = "ingot:image-digest";
/// Snapshot tag holding the image's whole-file SHA-256, when its build report had one
/// (built with `--sha256`).
pub const TAG_SHA256: &str = "ingot:image-sha256";

/// `ingot upload IMAGE [--recipe R]`: uploads the image to a new snapshot.
pub fn upload_image(
    aws: &AwsChoice,
    image: &Path,
    recipe: Option<&Path>,
    flags: &UploadChoice,
    progress: &Progress,
) -> Result<UploadReport> {
    let _stoppable = aws.control.stoppable();
    let input = ImageInput::open(image, progress)?;
    let recipe = recipe.map(Recipe::load).transpose()?;
    let session = aws.session()?;
    upload(&session, &input, recipe.as_ref().and_then(|r| r.ami.as_ref()), flags, progress)
}

/// `ingot register SNAPSHOT --recipe R`: registers a snapshot as the recipe's AMI.
pub fn register(
    aws: &AwsChoice,
    snapshot: &str,
    recipe: &Path,
    flags: &RegisterChoice,
    progress: &Progress,
) -> Result<RegisterReport> {
    let recipe = Recipe::load(recipe)?;
    let spec = ami_spec(&recipe, flags, None)?;
    let session = aws.session()?;
    register_snapshot(&session, snapshot, &spec, flags, progress)
}

/// Uploads `image` to a new snapshot; `ami` (the recipe's, if any) supplies encryption,
/// volume size, tags and the timeout unless flags say otherwise. A failure after
/// StartSnapshot names the pending snapshot, or removes it with `--cleanup-on-failure`.
pub(crate) fn upload(
    session: &Session,
    image: &ImageInput,
    ami: Option<&Ami>,
    flags: &UploadChoice,
    progress: &Progress,
) -> Result<UploadReport> {
    let mut opts = upload_options(image, ami, flags)?;
    if let Some((id, digests)) = &mut opts.parent {
        *digests = parent_digests(session, id, flags.parent_report.as_deref(), progress)?;
    }
    let counters = Arc::new(ingot_aws::BlockCounters::default());
    let uploaded = with_bar(progress, &counters, "uploading", || session.upload(&image.path, &opts, &counters));
    let what = || format!("uploading {} to EBS in {}", image.path.display(), session.region());
    match uploaded {
        Ok(report) => Ok(report),
        Err(ingot_aws::Error::Pending { snapshot, cause, .. }) if flags.cleanup_on_failure => {
            let left =
                Leftovers { region: session.region().into(), image: None, snapshot: Some(snapshot), bundle: None };
            Err(Error::from(*cause).context(what()).context(left.remove(session)))
        }
        Err(e) => Err(Error::from(e).context(what())),
    }
}

/// The upload's options, checked against EBS's limits; the parent's digests are left
/// empty (reading them may take a while, so everything else is checked first).
fn upload_options(image: &ImageInput, ami: Option<&Ami>, flags: &UploadChoice) -> Result<UploadOptions> {
    let encrypted = flags.encrypted || ami.is_some_and(|a| a.encrypted);
    let report = image.report();
    let digest = report.and_then(|r| r.digest.clone());
    let size = image.size;
    let volume = image.volume_gib(flags, ami);
    let parent = flags.parent.clone().map(|id| (id, Digests::new()));
    let zero_blocks = match (encrypted, report) {
        (false, _) => ZeroBlocks::Skip,
        (true, Some(r)) => ZeroBlocks::WriteRelied(r.zeroed.clone()),
        (true, None) => ZeroBlocks::WriteAll,
    };
    let name = image.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tags: Vec<(String, String)> = ami.map(|a| a.tags.clone().into_iter().collect()).unwrap_or_default();
    tags.push((TAG_SIZE.into(), size.to_string()));
    if let Some(d) = &digest {
        tags.push((TAG_DIGEST.into(), d.clone()));
    }
    if let Some(sha) = report.and_then(|r| r.sha256.clone()) {
        tags.push((TAG_SHA256.into(), sha));
    }
    let description = flags.description.clone().unwrap_or_else(|| format!("ingot upload of {name}"));
    let kms_key_arn = flags.kms_key_id.clone().or(ami.and_then(|a| a.kms_key_id.clone()));
    let request = serde_json::json!([description, tags, kms_key_arn]).to_string();
    let token = digest
        .as_deref()
        .map(|d| ingot_aws::client_token(d, volume, encrypted, parent.as_ref().map(|p| p.0.as_str()), &request));
    let opts = UploadOptions {
        volume_size_gib: Some(volume),
        description,
        tags,
        client_token: token,
        encrypted,
        kms_key_arn,
        timeout_minutes: flags
            .snapshot_timeout
            .or(ami.map(|a| a.snapshot_timeout))
            .unwrap_or(ebs::DEFAULT_SNAPSHOT_TIMEOUT_MINUTES),
        parent,
        zero_blocks,
        expect: image.blocks().cloned(),
        workers: flags.workers,
        ..UploadOptions::default()
    };
    ingot_aws::check_upload(size, &opts).with_context(|| format!("{}: cannot upload", image.path.display()))?;
    Ok(opts)
}

/// The parent's block digests: from an earlier upload (or publish) report, from the build
/// report of the image it was made from, or read from the snapshot.
fn parent_digests(session: &Session, id: &str, report: Option<&Path>, progress: &Progress) -> Result<Digests> {
    if let Some(path) = report {
        let r = match BlocksReport::read(path)? {
            BlocksReport::Build(r) if r.digest.is_none() => {
                bail!("{}: built without block digests (`no_digest`), it has none to compare with", path.display())
            }
            BlocksReport::Build(r) => return crate::hash::blocks_from_hex(&r.blocks, path),
            BlocksReport::Upload(upload) => upload,
        };
        if r.snapshot_id != id {
            bail!("{}: reports snapshot {} but the parent is {id}", path.display(), r.snapshot_id);
        }
        return r
            .blocks
            .iter()
            .map(|(&i, d)| {
                ingot_aws::digest_from_b64(d)
                    .map(|d| (i, d))
                    .with_context(|| format!("{}: block {i} has a bad digest", path.display()))
            })
            .collect();
    }
    let counters = Arc::new(ingot_aws::BlockCounters::default());
    with_bar(progress, &counters, "reading the parent's blocks", || {
        session.snapshot_digests(id, ingot_aws::PARENT_READ_WORKERS, &counters)
    })
    .with_context(|| format!("reading the blocks of parent snapshot {id}"))
}

/// Runs `work` while a thread draws `counters` as a bar.
fn with_bar<T>(
    progress: &Progress,
    counters: &Arc<ingot_aws::BlockCounters>,
    what: &str,
    work: impl FnOnce() -> T,
) -> T {
    let started = std::time::Instant::now();
    let show = || {
        let bytes = counters.bytes.load(Ordering::Relaxed);
        let rate = bytes as f64 / started.elapsed().as_secs_f64().max(0.001) / 1048576.0;
        let retries = counters.retries.load(Ordering::Relaxed);
        let (done, total) = (counters.done.load(Ordering::Relaxed), counters.total.load(Ordering::Relaxed));
        progress.count("blocks", format!("{what}: {rate:.1} MiB/s, {retries} retries"), done, total);
    };
    crate::account::watched(progress, show, work)
}

/// The AMI for `recipe` (its `[ami]` section, or defaults) as `ingot-aws` takes it.
pub(crate) fn ami_spec(recipe: &Recipe, flags: &RegisterChoice, volume_gib: Option<u64>) -> Result<AmiSpec> {
    let ami = recipe.ami.clone().with_context(|| {
        format!(
            "{}: no [ami] section: add one to say how to register the image (docs/publish.md)",
            recipe.path().display()
        )
    })?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let name = flags.name.clone().unwrap_or_else(|| ami.expand_name(&recipe.name, now));
    let ssm_parameter = ami.ssm_parameter.as_ref().map(|t| ami.expand(t, &recipe.name, now));
    if let Some(p) = &ssm_parameter {
        ingot_recipe::check_parameter_template(p).map_err(|e| {
            crate::Error::invalid(format!("{}: ami.ssm_parameter expands to {e}", recipe.path().display()))
        })?;
    }
    let uefi_data = match &ami.uefi_data {
        Some(p) => Some(
            ingot_types::input::read_to_string(p, ingot_types::input::SIGNATURE_LIST_MAX)
                .context("ami.uefi_data")?
                .trim()
                .to_string(),
        ),
        None => crate::secure_boot::uefi_data(recipe)?,
    };
    let spec = AmiSpec {
        name,
        description: ami.description.clone(),
        machine: ami.machine.clone(),
        root: RootVolume { volume_size_gib: ami.root.volume_size_gib.or(volume_gib), ..ami.root.clone() },
        uefi_data,
        tags: ami.tags.clone().into_iter().collect(),
        launch: LaunchPermissions {
            accounts: ami.share_accounts.clone(),
            organizations: ami.share_organizations.clone(),
            organizational_units: ami.share_organizational_units.clone(),
            public: ami.public,
        },
        regions: ami.regions.clone(),
        deprecate_at: ami.deprecate_at.clone(),
        deregistration_protection: ami.deregistration_protection,
        ssm_parameter,
        copy_completion_minutes: ami.copy_completion_minutes,
    };
    spec.check().with_context(|| format!("{}: [ami]", recipe.path().display()))?;
    Ok(spec)
}

/// What `ingot publish` did.
#[derive(Clone, Debug, Serialize)]
pub struct PublishReport {
    /// The image published.
    pub image: PathBuf,
    /// The upload (absent when an AMI of the same name was reused).
    pub upload: Option<UploadReport>,
    /// When the upload reused a snapshot that already held this image: the account's
    /// AMIs that mapped it before this one (the snapshot is deleted with the last of
    /// them, docs/lifecycle.md).
    pub snapshot_shared_with: Vec<String>,
    /// The registration.
    pub register: RegisterReport,
    /// A UKI or systemd-boot image's NitroTPM measurements (SHA-384), as its AMI and snapshot are
    /// tagged with them ([`crate::PCR_TAGS`]; docs/attestation.md).
    pub measurements: Option<crate::NitroTpmMeasurements>,
}

/// `ingot publish`: builds (given a recipe), uploads, waits, registers, tags, shares and
/// copies; reuses an AMI of the same name (unless forced) without uploading anything.
/// With `cleanup_on_failure`, a failure (or a stop requested through `aws.control`)
/// during or after the upload removes the snapshot (and AMI).
pub fn publish(
    aws: &AwsChoice,
    input: &PublishInput,
    upload_flags: &UploadChoice,
    register: &RegisterChoice,
    progress: &Progress,
) -> Result<PublishReport> {
    let cleanup_on_failure = upload_flags.cleanup_on_failure;
    let (input, recipe) = input.resolve(progress, &aws.control)?;
    let ami = recipe.ami.as_ref();
    let volume = input.volume_gib(upload_flags, ami);
    let mut spec = ami_spec(&recipe, register, Some(volume))?;
    crate::secure_boot::check_built(&input.path, input.report(), &recipe, &mut spec)?;
    let measurements = input.report().and_then(|r| r.measurements.as_ref());
    spec.tags.extend(measurements.map(crate::Measurements::tags).unwrap_or_default());
    let measurements = measurements.map(|m| m.nitro_tpm().measurements);
    let _stoppable = aws.control.stoppable();
    let session = aws.session()?;
    let image = input.path.clone();
    if let Some(register) = crate::account::reuse(&session, &spec, register)? {
        return Ok(PublishReport { image, upload: None, snapshot_shared_with: Vec::new(), register, measurements });
    }
    let upload = upload(&session, &input, ami, upload_flags, progress)?;
    let snapshot = upload.snapshot_id.clone();
    let snapshot_shared_with = if upload.reused {
        let users =
            session.image_users(session.region(), ingot_aws::Mapping::Snapshot, std::slice::from_ref(&snapshot));
        users.with_context(|| format!("finding the AMIs that map {snapshot}"))?.remove(&snapshot).unwrap_or_default()
    } else {
        Vec::new()
    };
    let (image_id, err) = match register_snapshot(&session, &snapshot, &spec, register, progress) {
        Ok(register) => {
            return Ok(PublishReport { image, upload: Some(upload), snapshot_shared_with, register, measurements })
        }
        Err(e) => match e.root() {
            Error::Aws(ingot_aws::Error::Registered { image_id, .. }) => (Some(image_id.clone()), e),
            _ => (None, e),
        },
    };
    let again = format!("`ingot register {snapshot} --recipe ...` retries the registration");
    let left = Leftovers { region: session.region().into(), image: image_id, snapshot: Some(snapshot), bundle: None };
    Err(left.on(&session, err, cleanup_on_failure, &again))
}

/// Waits for `snapshot` and registers it as `spec`.
pub(crate) fn register_snapshot(
    session: &Session,
    snapshot: &str,
    spec: &AmiSpec,
    flags: &RegisterChoice,
    progress: &Progress,
) -> Result<RegisterReport> {
    let opts = flags.options();
    progress.stage(format!("waiting for {snapshot} to complete"));
    session
        .wait_snapshot(snapshot, &opts, &|p| progress.stage(format!("waiting for {snapshot} to complete ({p})")))
        .with_context(|| format!("waiting for snapshot {snapshot}"))?;
    progress.stage(format!("registering {}", spec.name));
    let root = AmiRoot::Snapshot(snapshot.to_string());
    let r = session.register(&root, spec, &opts).with_context(|| format!("registering {snapshot} as {:?}", spec.name));
    progress.finish();
    r
}

/// What `download` did.
#[derive(Clone, Debug, Serialize)]
pub struct Downloaded {
    /// The EBS side.
    #[serde(flatten)]
    pub download: DownloadReport,
    /// The image's size: the `ingot:image-size` tag's, else the volume's.
    pub image_size: u64,
    /// The image digest of the image written, when the snapshot's tag said what it must
    /// be (checked).
    pub digest: Option<String>,
    /// SHA-256 of the image written, when the snapshot's tag said what it must be (checked).
    pub sha256: Option<String>,
}

/// Downloads snapshot `id` to `out` under a temporary name, renamed when complete. A
/// snapshot ingot uploaded carries the image's size and digest (and SHA-256, if its build
/// reported one) in tags: the image is cut to that size and its digests checked.
pub fn download(aws: &AwsChoice, id: &str, out: &Path, workers: usize, progress: &Progress) -> Result<Downloaded> {
    // Made first: a bad output path fails before any request (the file goes if one fails).
    let temp = crate::staged::Staged::new(out, Some(".ingot-download."), &aws.control)?;
    let session = aws.session()?;
    let tags = session.snapshot_tags(id).with_context(|| format!("reading the tags of {id}"))?;
    let tag = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let counters = Arc::new(ingot_aws::BlockCounters::default());
    let opts = ingot_aws::DownloadOptions { workers };
    let download = with_bar(progress, &counters, "downloading", || session.download(id, temp.path(), &opts, &counters))
        .with_context(|| format!("downloading snapshot {id}"))?;
    let mut image_size = download.size;
    if let Some(size) = tag(TAG_SIZE).and_then(|s| s.parse::<u64>().ok()).filter(|&s| s <= download.size) {
        let file = temp.file();
        let data =
            ingot_disk::data_ranges(file, download.size).with_context(|| format!("{}", temp.path().display()))?;
        if data.iter().all(|&(_, end)| end <= size.next_multiple_of(ingot_aws::BLOCK_SIZE)) {
            file.set_len(size).with_context(|| format!("{}", temp.path().display()))?;
            image_size = size;
        }
    }
    let digest = match tag(TAG_DIGEST) {
        Some(want) => {
            // From the digests EBS's checksums vouched for as the blocks arrived: the file
            // is not read back.
            let got = hex::encode(ingot_disk::digest::image_digest(image_size, &download.digests));
            if got != want {
                bail!("snapshot {id}: the downloaded image's digest is {got}, its {TAG_DIGEST} tag says {want}");
            }
            Some(got)
        }
        None => None,
    };
    let sha256 = match tag(TAG_SHA256) {
        Some(want) => {
            let got = crate::hash::sha256_file(temp.file(), image_size)
                .with_context(|| format!("{}: cannot read it back", temp.path().display()))?;
            if got != want {
                bail!("snapshot {id}: the downloaded image's SHA-256 is {got}, its {TAG_SHA256} tag says {want}");
            }
            Some(got)
        }
        None => None,
    };
    temp.finish().context("the download")?;
    Ok(Downloaded { download, image_size, digest, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECIPE: &str = r#"
name = "web"
[boot]
uefi = "systemd-boot"
arch = "arm64"
kernel = "/boot/vmlinuz"
[ami]
name = "{name}-{version}-{arch}"
version = "7"
volume_type = "io2"
iops = 4000
tpm = true
[ami.tags]
team = "images"
[[partition]]
type = "esp"
size = "64 MiB"
filesystem = "vfat"
[[partition]]
type = "root-arm64"
size = "fill"
filesystem = "ext4"
"#;

    #[test]
    fn ami_section_becomes_the_request_as_validated() {
        let recipe = Recipe::parse(RECIPE, "r.toml".as_ref()).unwrap();
        let spec = ami_spec(&recipe, &RegisterChoice::default(), Some(9)).unwrap();
        assert_eq!(spec.name, "web-7-arm64");
        assert_eq!(spec.machine.architecture, ingot_types::Arch::Arm64);
        assert_eq!(spec.machine.boot_mode, ingot_types::BootMode::Uefi, "arm64 defaults to UEFI");
        assert!(spec.machine.tpm);
        assert_eq!((spec.root.volume_type.as_str(), spec.root.iops), ("io2", Some(4000)));
        assert_eq!(spec.root.volume_size_gib, Some(9), "the image's size when the recipe names none");
        assert_eq!(spec.tags, [("team".to_string(), "images".to_string())]);
        let named = RegisterChoice { name: Some("other name".into()), ..Default::default() };
        assert_eq!(ami_spec(&recipe, &named, None).unwrap().name, "other name");
    }

    #[test]
    fn a_bad_ami_name_fails_before_anything_is_sent() {
        let recipe = Recipe::parse(RECIPE, "r.toml".as_ref()).unwrap();
        let flags = RegisterChoice { name: Some("x".into()), ..Default::default() };
        let e = ami_spec(&recipe, &flags, None).unwrap_err().to_string();
        assert!(e.contains("r.toml: [ami]"), "{e}");
    }

    #[test]
    fn a_recipe_without_ami_says_what_to_add() {
        let text = "name = \"bare\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n";
        let recipe = Recipe::parse(text, "bare.toml".as_ref()).unwrap();
        let e = ami_spec(&recipe, &RegisterChoice::default(), None).unwrap_err().to_string();
        assert!(e.contains("bare.toml: no [ami] section"), "{e}");
    }
}
