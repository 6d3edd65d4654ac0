//! The AWS pipelines: upload an image as an EBS snapshot, register it as an AMI, or both
//! (`publish`), and download a snapshot. The AWS work itself is in `ingot-aws`; this
//! module turns recipes, build reports and flags into its options.

use crate::error::{bail, Error, OptionExt, Result, ResultExt};
use crate::{AwsFlags, Progress, RegisterFlags, Report, UploadFlags};
use ingot_aws::{AmiRoot, AmiSpec, BootMode, Digests, LaunchPermissions, Session, UploadOptions, ZeroBlocks};
pub use ingot_aws::{DownloadReport, RegisterReport, UploadReport, DEFAULT_DOWNLOAD_WORKERS};
use ingot_disk::ebs;
use ingot_recipe::{Ami, Recipe};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Snapshot tag holding the image's size in bytes (the volume is whole GiB).
pub const TAG_SIZE: &str = "ingot:image-size";
/// Snapshot tag holding the image's SHA-256, when its build report had one.
pub const TAG_SHA256: &str = "ingot:image-sha256";

/// An image and what its build said about it.
pub struct ImageInput {
    /// The raw image.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its build report (`IMAGE.json`), when there is one.
    pub report: Option<Report>,
}

impl ImageInput {
    /// The volume size in GiB: the flag's, else the recipe's, else the image's rounded up.
    fn volume_gib(&self, flags: &UploadFlags, ami: Option<&Ami>) -> u64 {
        flags.volume_size.or(ami.and_then(|a| a.volume_size_gib)).unwrap_or(self.size.div_ceil(1 << 30))
    }

    /// The image a build just made, described by its report.
    pub fn built(report: Report) -> ImageInput {
        ImageInput { path: report.image.clone(), size: report.disk_size, report: Some(report) }
    }

    /// The image at `path` with `path.json` if that exists and describes this image.
    pub fn open(path: &Path) -> Result<ImageInput> {
        let size = std::fs::metadata(path).with_context(|| format!("{}: cannot read the image", path.display()))?.len();
        let json = PathBuf::from(format!("{}.json", path.display()));
        let report = match std::fs::read(&json) {
            Ok(bytes) => {
                let r: Report = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: not an ingot build report", json.display()))?;
                if r.disk_size != size {
                    bail!(
                        "{}: describes a {}-byte image but {} has {size} bytes",
                        json.display(),
                        r.disk_size,
                        path.display()
                    );
                }
                Some(r)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("{}", json.display())),
        };
        Ok(ImageInput { path: path.to_path_buf(), size, report })
    }
}

/// What `ingot publish` works on: a recipe to build first, or an image built earlier with
/// its recipe.
#[derive(Clone, Debug)]
pub enum PublishInput {
    /// Build `recipe` (to `out`, default `out/NAME.raw`), then publish the image.
    Recipe {
        /// The recipe.
        recipe: PathBuf,
        /// Where the image goes.
        out: Option<PathBuf>,
    },
    /// Publish `image`, built earlier from `recipe`.
    Image {
        /// The image.
        image: PathBuf,
        /// Its recipe, whose `[ami]` says how to register it.
        recipe: PathBuf,
    },
}

impl PublishInput {
    /// `input` is a recipe unless `recipe` is given, then it is an image built earlier.
    pub fn new(input: PathBuf, recipe: Option<PathBuf>, out: Option<PathBuf>) -> PublishInput {
        match recipe {
            Some(recipe) => PublishInput::Image { image: input, recipe },
            None => PublishInput::Recipe { recipe: input, out },
        }
    }

    /// The image (built now, when the input is a recipe: its report is used as it is) and
    /// the recipe, loaded once.
    pub(crate) fn resolve(&self, progress: &Progress) -> Result<(ImageInput, Recipe)> {
        match self {
            PublishInput::Recipe { recipe: path, out } => {
                let recipe = Recipe::load(path)?;
                let report = crate::build::build_recipe(&recipe, path, out.clone(), true, progress)?;
                Ok((ImageInput::built(report), recipe))
            }
            PublishInput::Image { image, recipe } => {
                let recipe = Recipe::load(recipe)?;
                Ok((ImageInput::open(image)?, recipe))
            }
        }
    }
}

/// `ingot upload IMAGE [--recipe R]`: uploads the image to a new snapshot.
pub fn upload_image(
    aws: &AwsFlags,
    image: &Path,
    recipe: Option<&Path>,
    flags: &UploadFlags,
    progress: &Progress,
) -> Result<UploadReport> {
    let input = ImageInput::open(image)?;
    let recipe = recipe.map(Recipe::load).transpose()?;
    let session = aws.session()?;
    upload(&session, &input, recipe.as_ref().and_then(|r| r.ami.as_ref()), flags, progress)
}

/// `ingot register SNAPSHOT --recipe R`: registers a snapshot as the recipe's AMI.
pub fn register(
    aws: &AwsFlags,
    snapshot: &str,
    recipe: &Path,
    flags: &RegisterFlags,
    progress: &Progress,
) -> Result<RegisterReport> {
    let recipe = Recipe::load(recipe)?;
    let spec = ami_spec(&recipe, flags, None)?;
    let session = aws.session()?;
    register_snapshot(&session, snapshot, &spec, flags, progress)
}

/// Uploads `image` to a new snapshot; `ami` (the recipe's, if any) supplies encryption,
/// volume size, tags and the timeout unless flags say otherwise.
pub(crate) fn upload(
    session: &Session,
    image: &ImageInput,
    ami: Option<&Ami>,
    flags: &UploadFlags,
    progress: &Progress,
) -> Result<UploadReport> {
    let encrypted = flags.encrypted || ami.is_some_and(|a| a.encrypted);
    let digest = image.report.as_ref().and_then(|r| r.sha256.clone());
    let size = image.size;
    let volume = image.volume_gib(flags, ami);
    // The parent's digests may take a while to read: check everything else first.
    let parent = flags.parent.clone().map(|id| (id, Digests::new()));
    let zero_blocks = match (encrypted, &image.report) {
        (false, _) => ZeroBlocks::Skip,
        (true, Some(r)) => ZeroBlocks::WriteRelied(r.zeroed.clone()),
        (true, None) => ZeroBlocks::WriteAll,
    };
    let name = image.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tags: Vec<(String, String)> = ami.map(|a| a.tags.clone().into_iter().collect()).unwrap_or_default();
    tags.push((TAG_SIZE.into(), size.to_string()));
    if let Some(d) = &digest {
        tags.push((TAG_SHA256.into(), d.clone()));
    }
    let description = flags.description.clone().unwrap_or_else(|| format!("ingot upload of {name}"));
    let kms_key_arn = flags.kms_key_id.clone().or(ami.and_then(|a| a.kms_key_id.clone()));
    let request = serde_json::json!([description, tags, kms_key_arn]).to_string();
    let token = digest
        .as_deref()
        .map(|d| ingot_aws::client_token(d, volume, encrypted, parent.as_ref().map(|p| p.0.as_str()), &request));
    let mut opts = UploadOptions {
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
        workers: flags.workers,
        ..UploadOptions::default()
    };
    ingot_aws::check_upload(size, &opts).with_context(|| format!("{}: cannot upload", image.path.display()))?;
    if let Some((id, digests)) = &mut opts.parent {
        *digests = parent_digests(session, id, flags.parent_report.as_deref(), progress)?;
    }
    let counters = Arc::new(ingot_aws::Progress::default());
    let report = with_bar(progress, &counters, "uploading", || session.upload(&image.path, &opts, &counters))
        .with_context(|| format!("uploading {} to EBS in {}", image.path.display(), session.region()))?;
    Ok(report)
}

/// The parent's block digests: from an earlier upload report, or read from the snapshot.
fn parent_digests(session: &Session, id: &str, report: Option<&Path>, progress: &Progress) -> Result<Digests> {
    if let Some(path) = report {
        let text = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let mut v: serde_json::Value =
            serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        if v.get("upload").is_some() {
            v = v["upload"].take();
        }
        let r: UploadReport = serde_json::from_value(v)
            .with_context(|| format!("{}: not an ingot upload or publish report", path.display()))?;
        if r.snapshot_id != id {
            bail!("{}: reports snapshot {} but --parent is {id}", path.display(), r.snapshot_id);
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
    let counters = Arc::new(ingot_aws::Progress::default());
    with_bar(progress, &counters, "reading the parent's blocks", || {
        session.snapshot_digests(id, ingot_aws::PARENT_READ_WORKERS, &counters)
    })
    .with_context(|| format!("reading the blocks of parent snapshot {id}"))
}

/// Runs `work` while a thread draws `counters` as a bar.
fn with_bar<T, E>(
    progress: &Progress,
    counters: &Arc<ingot_aws::Progress>,
    what: &str,
    work: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) {
                let bytes = counters.bytes.load(Ordering::Relaxed);
                let rate = bytes as f64 / started.elapsed().as_secs_f64().max(0.001) / 1048576.0;
                progress.count(
                    "blocks",
                    format!("{what}: {rate:.1} MiB/s, {} retries", counters.retries.load(Ordering::Relaxed)),
                    counters.done.load(Ordering::Relaxed),
                    counters.total.load(Ordering::Relaxed),
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        progress.finish();
        r
    })
}

/// The AMI for `recipe` (its `[ami]` section, or defaults) as `ingot-aws` takes it.
pub(crate) fn ami_spec(recipe: &Recipe, flags: &RegisterFlags, volume_gib: Option<u64>) -> Result<AmiSpec> {
    let ami = recipe.ami.clone().with_context(|| {
        format!(
            "{}: no [ami] section: add one to say how to register the image (docs/publish.md)",
            recipe.path().display()
        )
    })?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let name = flags.name.clone().unwrap_or_else(|| ami.expand_name(&recipe.name, now));
    let uefi_data = match &ami.uefi_data {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("ami.uefi_data: {}", p.display()))?.trim().to_string(),
        ),
        None => None,
    };
    let boot_mode = match ami.boot_mode {
        ingot_recipe::BootMode::LegacyBios => BootMode::LegacyBios,
        ingot_recipe::BootMode::Uefi => BootMode::Uefi,
        ingot_recipe::BootMode::UefiPreferred => BootMode::UefiPreferred,
    };
    let spec = AmiSpec {
        name,
        description: ami.description.clone(),
        architecture: ami.architecture.clone(),
        boot_mode,
        ena: ami.ena,
        sriov: ami.sriov,
        tpm: ami.tpm,
        imds_v2: ami.imds_v2,
        root_device_name: ami.root_device.clone(),
        volume_type: ami.volume_type.as_str().to_string(),
        volume_size_gib: ami.volume_size_gib.or(volume_gib),
        iops: ami.iops,
        throughput: ami.throughput,
        delete_on_termination: ami.delete_on_termination,
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
    /// The registration.
    pub register: RegisterReport,
}

/// `ingot publish`: builds (given a recipe), uploads, waits, registers, tags, shares and
/// copies; reuses an AMI of the same name (unless forced) without uploading anything.
/// With `cleanup_on_failure`, a failure after the upload removes the snapshot (and AMI).
pub fn publish(
    aws: &AwsFlags,
    input: &PublishInput,
    upload_flags: &UploadFlags,
    register: &RegisterFlags,
    cleanup_on_failure: bool,
    progress: &Progress,
) -> Result<PublishReport> {
    let (input, recipe) = input.resolve(progress)?;
    let session = aws.session()?;
    let ami = recipe.ami.as_ref();
    let volume = input.volume_gib(upload_flags, ami);
    let spec = ami_spec(&recipe, register, Some(volume))?;
    let image = input.path.clone();
    if !register.force {
        if let Some(id) = session.find_image(&spec.name)? {
            let register = RegisterReport::reused(id, &spec.name, session.region());
            return Ok(PublishReport { image, upload: None, register });
        }
    }
    let upload = upload(&session, &input, ami, upload_flags, progress)?;
    let snapshot = upload.snapshot_id.clone();
    let (image_id, err) = match register_snapshot(&session, &snapshot, &spec, register, progress) {
        Ok(register) => return Ok(PublishReport { image, upload: Some(upload), register }),
        Err(e) => match e.root() {
            Error::Aws(ingot_aws::Error::Registered { image_id, .. }) => (Some(image_id.clone()), e),
            _ => (None, e),
        },
    };
    let what = match &image_id {
        Some(ami) => format!("AMI {ami} and snapshot {snapshot}"),
        None => format!("snapshot {snapshot}"),
    };
    if cleanup_on_failure {
        return match session.cleanup(image_id.as_deref(), Some(&snapshot)) {
            Ok(()) => Err(err.context(format!("{what} removed (--cleanup-on-failure)"))),
            Err(c) => {
                Err(err.context(format!("{what} left behind in {}: removing them failed too ({c})", session.region())))
            }
        };
    }
    let mut how = String::new();
    if let Some(ami) = &image_id {
        how.push_str(&format!("`aws ec2 deregister-image --image-id {ami}`, "));
    }
    how.push_str(&format!("`aws ec2 delete-snapshot --snapshot-id {snapshot}`"));
    Err(err.context(format!(
        "{what} left behind in {}: remove them with {how} (or publish with --cleanup-on-failure); `ingot register {snapshot} --recipe ...` retries the registration",
        session.region()
    )))
}

/// Waits for `snapshot` and registers it as `spec`.
pub(crate) fn register_snapshot(
    session: &Session,
    snapshot: &str,
    spec: &AmiSpec,
    flags: &RegisterFlags,
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
    /// SHA-256 of the image written, when the snapshot's tag said what it must be (checked).
    pub sha256: Option<String>,
}

/// Downloads snapshot `id` to `out` under a temporary name, renamed when complete. A
/// snapshot ingot uploaded carries the image's size and SHA-256 in tags: the image is cut
/// to that size and its digest checked.
pub fn download(aws: &AwsFlags, id: &str, out: &Path, workers: usize, progress: &Progress) -> Result<Downloaded> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("output directory {} does not exist", dir.display());
    }
    let session = aws.session()?;
    let tags = session.snapshot_tags(id).with_context(|| format!("reading the tags of {id}"))?;
    let tag = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let temp = tempfile::Builder::new()
        .prefix(".ingot-download.")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let counters = Arc::new(ingot_aws::Progress::default());
    let opts = ingot_aws::DownloadOptions { workers };
    let download = with_bar(progress, &counters, "downloading", || session.download(id, temp.path(), &opts, &counters))
        .with_context(|| format!("downloading snapshot {id}"))?;
    let mut image_size = download.size;
    if let Some(size) = tag(TAG_SIZE).and_then(|s| s.parse::<u64>().ok()).filter(|&s| s <= download.size) {
        let file = temp.as_file();
        let data =
            ingot_disk::data_ranges(file, download.size).with_context(|| format!("{}", temp.path().display()))?;
        if data.iter().all(|&(_, end)| end <= size.next_multiple_of(ingot_aws::BLOCK_SIZE)) {
            file.set_len(size).with_context(|| format!("{}", temp.path().display()))?;
            image_size = size;
        }
    }
    let sha256 = match tag(TAG_SHA256) {
        Some(want) => {
            let got = crate::hash::sha256_file(temp.as_file(), image_size)
                .with_context(|| format!("{}: cannot read it back", temp.path().display()))?;
            if got != want {
                bail!("snapshot {id}: the downloaded image's SHA-256 is {got}, its {TAG_SHA256} tag says {want}");
            }
            Some(got)
        }
        None => None,
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
    temp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot rename the download to {}", out.display()))?;
    Ok(Downloaded { download, image_size, sha256 })
}

/// SHA-256 (lowercase hex) of the image at `path`, holes hashed without reading.
pub(crate) fn image_sha256(path: &Path, size: u64) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot read the image", path.display()))?;
    crate::hash::sha256_file(&file, size).with_context(|| format!("hashing {}", path.display()))
}

/// SHA-256 (lowercase hex) of a text.
pub(crate) fn text_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
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
        let spec = ami_spec(&recipe, &RegisterFlags::default(), Some(9)).unwrap();
        assert_eq!(spec.name, "web-7-arm64");
        assert_eq!(spec.architecture, "arm64");
        assert_eq!(spec.boot_mode, BootMode::Uefi, "arm64 defaults to UEFI");
        assert!(spec.tpm);
        assert_eq!((spec.volume_type.as_str(), spec.iops), ("io2", Some(4000)));
        assert_eq!(spec.volume_size_gib, Some(9), "the image's size when the recipe names none");
        assert_eq!(spec.tags, [("team".to_string(), "images".to_string())]);
        let named = RegisterFlags { name: Some("other name".into()), ..Default::default() };
        assert_eq!(ami_spec(&recipe, &named, None).unwrap().name, "other name");
    }

    #[test]
    fn a_bad_ami_name_fails_before_anything_is_sent() {
        let recipe = Recipe::parse(RECIPE, "r.toml".as_ref()).unwrap();
        let flags = RegisterFlags { name: Some("x".into()), ..Default::default() };
        let e = ami_spec(&recipe, &flags, None).unwrap_err().to_string();
        assert!(e.contains("r.toml: [ami]"), "{e}");
    }

    #[test]
    fn a_recipe_without_ami_says_what_to_add() {
        let text = "name = \"bare\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\n";
        let recipe = Recipe::parse(text, "bare.toml".as_ref()).unwrap();
        let e = ami_spec(&recipe, &RegisterFlags::default(), None).unwrap_err().to_string();
        assert!(e.contains("bare.toml: no [ami] section"), "{e}");
    }

    #[test]
    fn publish_input_is_a_recipe_unless_one_is_named() {
        let built = PublishInput::new("r.toml".into(), None, Some("o.raw".into()));
        assert!(matches!(built, PublishInput::Recipe { ref recipe, out: Some(_) } if recipe.ends_with("r.toml")));
        let earlier = PublishInput::new("i.raw".into(), Some("r.toml".into()), None);
        assert!(matches!(earlier, PublishInput::Image { ref image, .. } if image.ends_with("i.raw")));
    }

    #[test]
    fn an_image_is_opened_with_its_report_only_when_the_report_fits() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        std::fs::File::create(&image).unwrap().set_len(1 << 20).unwrap();
        let bare = ImageInput::open(&image).unwrap();
        assert_eq!((bare.size, bare.report.is_none()), (1 << 20, true));
        let report = Report {
            image: image.clone(),
            name: "disk".into(),
            disk_size: 1 << 20,
            table: "gpt".into(),
            disk_id: "x".into(),
            source_date_epoch: 0,
            sha256: Some("ab".into()),
            data_bytes: 0,
            zeroed: vec![],
            partitions: vec![],
        };
        let json = dir.path().join("disk.raw.json");
        std::fs::write(&json, serde_json::to_vec(&report).unwrap()).unwrap();
        let opened = ImageInput::open(&image).unwrap();
        assert_eq!(opened.report.and_then(|r| r.sha256).as_deref(), Some("ab"));
        std::fs::File::options().write(true).open(&image).unwrap().set_len(2 << 20).unwrap();
        let e = ImageInput::open(&image).err().unwrap().to_string();
        assert!(e.contains("describes a 1048576-byte image"), "{e}");
        let built = ImageInput::built(report);
        assert_eq!((built.size, built.path), (1 << 20, image));
    }
}
