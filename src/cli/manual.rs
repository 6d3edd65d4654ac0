//! Manual pages from the command line's own definitions (clap_mangen): `ingot.1` and
//! `ingot-SUBCOMMAND.1` for each subcommand, so the pages never drift from `--help`.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes the page of `ingot` and of each of its subcommands into `dir` (created if
/// missing); returns the files written.
pub fn write(ingot: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    let mut pages = vec![page(&ingot, "ingot", dir)?];
    for sub in ingot.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("ingot-{}", sub.get_name());
        // The page is ingot-NAME(1); its synopsis names the command as it is typed.
        let sub = sub.clone().name(name.clone()).bin_name(format!("ingot {}", sub.get_name()));
        pages.push(page(&sub, &name, dir)?);
    }
    Ok(pages)
}

/// Renders `cmd`'s page as `dir/NAME.1`.
fn page(cmd: &clap::Command, name: &str, dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.1"));
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut text).with_context(|| format!("rendering {name}.1"))?;
    std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(path)
}
