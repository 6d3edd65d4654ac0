//! What a publish works on: an image and the build report beside it (checked against the
//! image before anything relies on it), or a recipe built first.

use crate::error::{Result, ResultExt};
use crate::{Progress, Report, UploadFlags};
use ingot_recipe::{Ami, Recipe};
use std::path::{Path, PathBuf};

/// An image and what its build said about it.
pub struct ImageInput {
    /// The raw image.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its build report (`IMAGE.json`), when there is one; read only through
    /// [`ImageInput::checked_report`].
    report: Option<Report>,
    /// The report came from the build that just wrote the image, so it describes it.
    fresh: bool,
}

impl ImageInput {
    /// The volume size in GiB: the flag's, else the recipe's, else the image's rounded up.
    pub(crate) fn volume_gib(&self, flags: &UploadFlags, ami: Option<&Ami>) -> u64 {
        flags.volume_size.or(ami.and_then(|a| a.volume_size_gib)).unwrap_or(self.size.div_ceil(1 << 30))
    }

    /// The image a build just made, described by its report.
    pub fn built(report: Report) -> ImageInput {
        ImageInput { path: report.image.clone(), size: report.disk_size, report: Some(report), fresh: true }
    }

    /// The image at `path` with `path.json` if that exists (not yet checked against the
    /// image: see [`ImageInput::check_report`]).
    pub fn open(path: &Path) -> Result<ImageInput> {
        let size = std::fs::metadata(path).with_context(|| format!("{}: cannot read the image", path.display()))?.len();
        let json = PathBuf::from(format!("{}.json", path.display()));
        let report = match std::fs::read(&json) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{}: not an ingot build report", json.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("{}", json.display())),
        };
        Ok(ImageInput { path: path.to_path_buf(), size, report, fresh: false })
    }

    /// The report, once it is known to describe the image (built just now, or checked by
    /// [`ImageInput::check_report`]); nothing else of a report is ever relied on.
    pub fn checked_report(&self) -> Option<&Report> {
        self.report.as_ref().filter(|_| self.fresh)
    }

    /// Makes sure the report still describes the image before anything relies on it (its
    /// digest is the snapshot's identity, its zero ranges what an encrypted upload may
    /// leave out): the image is hashed (holes not read) and compared with the report's
    /// SHA-256. A report that no longer matches, or that has no digest to check it by
    /// (`--no-digest`), is dropped: the image is then published as one without a report,
    /// and a stale report is named in a warning with the first partition that differs.
    pub fn check_report(&mut self, progress: &Progress) -> Result<()> {
        let Some(report) = &self.report else { return Ok(()) };
        if self.fresh {
            return Ok(());
        }
        let Some(want) = report.sha256.clone() else {
            self.report = None;
            return Ok(());
        };
        progress.stage(format!("checking {} against its build report", self.path.display()));
        let file = std::fs::File::open(&self.path)
            .with_context(|| format!("{}: cannot read the image", self.path.display()))?;
        let got =
            crate::hash::sha256_file(&file, self.size).with_context(|| format!("hashing {}", self.path.display()))?;
        if got == want {
            self.fresh = true;
            return Ok(());
        }
        let mut differs = "outside the partitions (the partition table or boot code)".to_string();
        for p in &report.partitions {
            let Some(want) = &p.sha256 else { continue };
            if crate::hash::sha256_range(&file, p.offset, p.size)? != *want {
                differs = format!("first in partition {} ({:?}, at byte {})", p.number, p.label, p.offset);
                break;
            }
        }
        progress.warn(format!(
            "{}.json no longer describes {}: the image changed after its build ({differs}); its digest and zero ranges are ignored and the image is published as one without a report",
            self.path.display(),
            self.path.display()
        ));
        self.report = None;
        Ok(())
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

    #[test]
    fn an_image_is_opened_with_its_report_and_a_resized_one_loses_it() {
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
        let mut resized = ImageInput::open(&image).unwrap();
        resized.check_report(&Progress::hidden()).unwrap();
        assert!(resized.checked_report().is_none(), "a report of another size is dropped");
        let built = ImageInput::built(report);
        assert_eq!((built.size, built.path), (1 << 20, image));
    }

    #[test]
    fn a_report_that_no_longer_describes_the_image_is_dropped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.raw");
        std::fs::write(&image, vec![7u8; 4096]).unwrap();
        let file = std::fs::File::open(&image).unwrap();
        let part = |sha256| crate::PartitionReport {
            number: 1,
            label: "root".into(),
            kind: "x".into(),
            guid: "g".into(),
            offset: 1024,
            size: 2048,
            filesystem: "none".into(),
            filesystem_uuid: None,
            fat_type: None,
            sha256,
        };
        let report = Report {
            image: image.clone(),
            name: "disk".into(),
            disk_size: 4096,
            table: "gpt".into(),
            disk_id: "x".into(),
            source_date_epoch: 0,
            sha256: Some(crate::hash::sha256_file(&file, 4096).unwrap()),
            data_bytes: 4096,
            zeroed: vec![(0, 512)],
            partitions: vec![part(Some(crate::hash::sha256_range(&file, 1024, 2048).unwrap()))],
        };
        std::fs::write(format!("{}.json", image.display()), serde_json::to_vec(&report).unwrap()).unwrap();
        let warnings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = warnings.clone();
        let progress = Progress::new(move |e| {
            if let crate::Event::Warning(w) = e {
                seen.lock().unwrap().push(w.to_string());
            }
        });

        let mut same = ImageInput::open(&image).unwrap();
        assert!(same.checked_report().is_none(), "not relied on before the check");
        same.check_report(&progress).unwrap();
        assert!(same.checked_report().is_some(), "an unchanged image keeps its report");

        std::os::unix::fs::FileExt::write_all_at(
            &std::fs::File::options().write(true).open(&image).unwrap(),
            b"X",
            2000,
        )
        .unwrap();
        let mut changed = ImageInput::open(&image).unwrap();
        changed.check_report(&progress).unwrap();
        assert!(changed.checked_report().is_none() && changed.report.is_none());
        let w = warnings.lock().unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("no longer describes") && w[0].contains("first in partition 1"), "{}", w[0]);
    }
}
