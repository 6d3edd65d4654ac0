//! What a publish works on: an image and the build report beside it (whose block digests
//! the upload checks every block against), or a recipe built first.

use crate::error::{Result, ResultExt};
use crate::{Control, Progress, Report, UploadChoice};
use ingot_disk::digest::BlockDigests;
use ingot_recipe::{Ami, Recipe};
use std::path::{Path, PathBuf};

/// An image and what its build said about it.
pub struct ImageInput {
    /// The raw image.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its build report (`IMAGE.json`) with the block digests it was checked by, when
    /// there is one that can be: see [`ImageInput::report`].
    report: Option<(Report, BlockDigests)>,
}

impl ImageInput {
    /// The volume size in GiB: the flag's, else the recipe's, else the image's rounded up.
    pub(crate) fn volume_gib(&self, flags: &UploadChoice, ami: Option<&Ami>) -> u64 {
        flags.volume_size.or(ami.and_then(|a| a.root.volume_size_gib)).unwrap_or(self.size.div_ceil(1 << 30))
    }

    /// The image a build just made, described by its report.
    pub fn built(report: Report) -> Result<ImageInput> {
        let blocks = crate::hash::blocks_from_hex(&report.blocks, &report.image)?;
        let (path, size) = (report.image.clone(), report.disk_size);
        let report = report.digest.is_some().then_some((report, blocks));
        Ok(ImageInput { path, size, report })
    }

    /// The image at `path` with `path.json` if that exists. A report that cannot describe
    /// the image (another size; no block digests, as `--no-digest` builds it) is left
    /// out, the first with a warning.
    pub fn open(path: &Path, progress: &Progress) -> Result<ImageInput> {
        let size = std::fs::metadata(path).with_context(|| format!("{}: cannot read the image", path.display()))?.len();
        let json = Report::path_of(path);
        let report = match Report::read(path)? {
            Some(r) if r.disk_size != size => {
                progress.warn(format!(
                    "{} no longer describes {}: it says {} bytes, the image has {size}; the image is published as one without a report",
                    json.display(),
                    path.display(),
                    r.disk_size
                ));
                None
            }
            Some(r) if r.digest.is_some() => {
                let blocks = crate::hash::blocks_from_hex(&r.blocks, &json)?;
                Some((r, blocks))
            }
            _ => None,
        };
        Ok(ImageInput { path: path.to_path_buf(), size, report })
    }

    /// The build report, if the image has one with block digests. It is relied on (its
    /// digest is the snapshot's identity, its zero ranges what an encrypted upload may
    /// leave out) only together with [`ImageInput::blocks`]: the upload checks every
    /// block it reads against them and stops at the first that differs.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref().map(|(r, _)| r)
    }

    /// The report's digests of the image's non-zero blocks.
    pub fn blocks(&self) -> Option<&BlockDigests> {
        self.report.as_ref().map(|(_, b)| b)
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
    pub(crate) fn resolve(&self, progress: &Progress, control: &Control) -> Result<(ImageInput, Recipe)> {
        match self {
            PublishInput::Recipe { recipe: path, out } => {
                let recipe = Recipe::load(path)?;
                let opts = crate::BuildOptions {
                    recipe: path.clone(),
                    out: out.clone(),
                    progress: progress.clone(),
                    digests: Default::default(),
                    control: control.clone(),
                };
                let report = crate::build::build_recipe(&recipe, &opts)?;
                Ok((ImageInput::built(report)?, recipe))
            }
            PublishInput::Image { image, recipe } => {
                let recipe = Recipe::load(recipe)?;
                Ok((ImageInput::open(image, progress)?, recipe))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_input_is_a_recipe_unless_one_is_named() {
        let built = PublishInput::new("r.toml".into(), None, Some("o.raw".into()));
        assert!(matches!(built, PublishInput::Recipe { ref recipe, out: Some(_) } if recipe.ends_with("r.toml")));
        let earlier = PublishInput::new("i.raw".into(), Some("r.toml".into()), None);
        assert!(matches!(earlier, PublishInput::Image { ref image, .. } if image.ends_with("i.raw")));
    }

    fn report(image: &Path, size: u64, digest: Option<&str>) -> Report {
        Report {
            image: image.to_path_buf(),
            name: "disk".into(),
            disk_size: size,
            table: "gpt".into(),
            disk_id: "x".into(),
            source_date_epoch: 0,
            digest: digest.map(String::from),
            blocks: [(0, "ab".repeat(32))].into_iter().collect(),
            sha256: None,
            data_bytes: 0,
            verity: Vec::new(),
            measurements: None,
            zeroed: vec![],
            partitions: vec![],
            uefi_data: None,
            uefi_data_sha256: None,
        }
    }

    #[test]
    fn a_report_is_used_when_it_can_describe_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        std::fs::File::create(&image).unwrap().set_len(1 << 20).unwrap();
        let hidden = Progress::hidden();
        let bare = ImageInput::open(&image, &hidden).unwrap();
        assert_eq!((bare.size, bare.report().is_none()), (1 << 20, true));
        let json = dir.path().join("disk.raw.json");
        let write = |r: &Report| std::fs::write(&json, serde_json::to_vec(r).unwrap()).unwrap();
        write(&report(&image, 1 << 20, Some("d")));
        let opened = ImageInput::open(&image, &hidden).unwrap();
        assert_eq!(opened.report().and_then(|r| r.digest.as_deref()), Some("d"));
        assert_eq!(opened.blocks().map(|b| b[&0]), Some([0xab; 32]));
        write(&report(&image, 1 << 20, None));
        assert!(ImageInput::open(&image, &hidden).unwrap().report().is_none(), "--no-digest: nothing to check by");
        let mut bad = report(&image, 1 << 20, Some("d"));
        bad.blocks.insert(3, "xyz".into());
        write(&bad);
        let e = ImageInput::open(&image, &hidden).err().unwrap().to_string();
        assert!(e.contains("disk.raw.json: block 3"), "{e}");
    }

    #[test]
    fn a_resized_image_loses_its_report_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        std::fs::File::create(&image).unwrap().set_len(2 << 20).unwrap();
        std::fs::write(
            dir.path().join("disk.raw.json"),
            serde_json::to_vec(&report(&image, 1 << 20, Some("d"))).unwrap(),
        )
        .unwrap();
        let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = warnings.clone();
        let progress = Progress::new(move |e| {
            if let crate::Event::Warning(w) = e {
                seen.lock().unwrap().push(w.to_string());
            }
        });
        let resized = ImageInput::open(&image, &progress).unwrap();
        assert!(resized.report().is_none());
        let w = warnings.lock().unwrap();
        assert!(w.len() == 1 && w[0].contains("no longer describes") && w[0].contains("1048576 bytes"), "{w:?}");
    }
}
