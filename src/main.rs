//! The `ingot` command line: a thin layer over the pipelines in the `ingot` library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Casts bootable disk images offline, without root.
#[derive(Parser)]
#[command(name = "ingot", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a raw disk image from a TOML recipe.
    #[command(after_help = "Examples:
  ingot build recipes/hello.toml                 writes out/hello.raw and out/hello.raw.json
  ingot build recipes/hello.toml -o /tmp/h.raw   writes /tmp/h.raw and /tmp/h.raw.json
  SOURCE_DATE_EPOCH=1700000000 ingot build r.toml --json

The image is written under a temporary name and renamed when complete; a failed build
leaves nothing at OUT. Same recipe and inputs give the same SHA-256.")]
    Build {
        /// The recipe file (see docs/recipe.md).
        recipe: PathBuf,
        /// Output image path (default: out/NAME.raw).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Print the build report as JSON on stdout and no progress.
        #[arg(long)]
        json: bool,
        /// Leave the SHA-256 digests out of the report (they hash every byte, holes
        /// included: about half a second per GiB).
        #[arg(long)]
        no_digest: bool,
    },
    /// Show an image's partition table and partitions.
    #[command(after_help = "Examples:
  ingot inspect out/hello.raw
  ingot inspect out/hello.raw --json")]
    Inspect {
        /// The raw image.
        image: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build { recipe, out, json, no_digest } => {
            let progress = if json { ingot::Progress::hidden() } else { ingot::Progress::stderr() };
            let report = ingot::build(&ingot::BuildOptions { recipe, out, progress, digest: !no_digest })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}  {}", report.sha256.as_deref().unwrap_or("(no digest)"), report.image.display());
                for p in &report.partitions {
                    println!(
                        "  {:>2}  {:<12} {:>10} MiB at {:>8} KiB  {:<5} {}",
                        p.number,
                        p.label,
                        p.size >> 20,
                        p.offset >> 10,
                        p.filesystem,
                        p.guid
                    );
                }
            }
        }
        Command::Inspect { image, json } => {
            let i = ingot::inspect(&image)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                println!("{}: {} bytes, {} table, disk id {}", image.display(), i.size, i.table, i.disk_id);
                for p in &i.partitions {
                    println!(
                        "  {:>2}  offset {:>12}  size {:>12}  type {}  {}{}{}",
                        p.number,
                        p.offset,
                        p.size,
                        p.kind,
                        p.filesystem.as_deref().unwrap_or("-"),
                        p.label.as_ref().map(|l| format!("  name {l:?}")).unwrap_or_default(),
                        p.guid.as_ref().map(|g| format!("  guid {g}")).unwrap_or_default(),
                    );
                }
            }
        }
    }
    Ok(())
}
