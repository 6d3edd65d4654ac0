//! Outputs written under a temporary name beside their final path and renamed into place
//! only when complete, so that nothing at an output path looks finished unless it is:
//! the image and report of a build, a download. The temporary file is on its run's
//! [`Control`] list of unfinished files until it is renamed or dropped (which removes it).

use crate::error::{bail, OptionExt, Result, ResultExt};
use crate::Control;
use ingot_types::control::Unfinished;
use std::path::{Path, PathBuf};

/// A file being written for `out`.
pub(crate) struct Staged {
    temp: tempfile::NamedTempFile,
    out: PathBuf,
    _unfinished: Unfinished,
}

/// The directory `out` goes in (`.` for a bare name); an error naming it when it is not a
/// directory.
pub(crate) fn dir_of(out: &Path) -> Result<PathBuf> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("output directory {} does not exist; create it or choose another output", dir.display());
    }
    Ok(dir)
}

/// What an output may replace at `path`: nothing, or a regular file. A directory, a device
/// node, a FIFO or a symlink there is refused before any work, so that `-o /dev/null` or
/// `-o link` never replaces what is there.
pub(crate) fn check_output(path: &Path) -> Result<()> {
    let kind = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot check the output {}", path.display())),
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) => m.file_type(),
    };
    let what = ingot_types::input::kind(kind);
    bail!(
        "{} is {what}: ingot writes its output only where there is nothing or a regular file; choose another output path",
        path.display()
    )
}

impl Staged {
    /// A temporary file for `out` in its directory, named `PREFIX…SUFFIX` (`None`: `.NAME.`
    /// and `.partial`), on `control`'s list of unfinished files. `out` must be nothing or a
    /// regular file in an existing directory.
    pub(crate) fn new(out: &Path, prefix: Option<&str>, control: &Control) -> Result<Staged> {
        let dir = dir_of(out)?;
        check_output(out)?;
        let name = out.file_name().with_context(|| format!("output {} has no file name", out.display()))?;
        let own = format!(".{}.", name.to_string_lossy());
        let (prefix, suffix) = match prefix {
            Some(p) => (p, ""),
            None => (own.as_str(), ".partial"),
        };
        let temp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(suffix)
            .tempfile_in(&dir)
            .with_context(|| format!("cannot write in the output directory {}", dir.display()))?;
        let _unfinished = control.track(temp.path());
        Ok(Staged { temp, out: out.to_path_buf(), _unfinished })
    }

    /// The temporary file's path.
    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// The temporary file.
    pub(crate) fn file(&self) -> &std::fs::File {
        self.temp.as_file()
    }

    /// Makes the file an ordinary output (mode 0644: tempfile makes 0600 files) and checks
    /// `out` again (the work took a while), so that the rename cannot fail on either.
    pub(crate) fn ready(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.temp.path();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).with_context(|| p.display())?;
        check_output(&self.out)
    }

    /// Renames the file to `out`.
    pub(crate) fn rename(self) -> Result<()> {
        let out = self.out.clone();
        self.temp
            .persist(&out)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot rename the output to {}", out.display()))?;
        Ok(())
    }

    /// [`Staged::ready`], then [`Staged::rename`].
    pub(crate) fn finish(self) -> Result<()> {
        self.ready()?;
        self.rename()
    }
}
