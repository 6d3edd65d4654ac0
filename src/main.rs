//! The `ingot` command line: a thin layer over the pipelines in the `ingot` library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod aws_cli;
mod bundle_cli;
use aws_cli::{AwsArgs, RegisterArgs, UploadArgs};
use bundle_cli::InstanceStoreArgs;

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
    /// Upload a raw image to a new EBS snapshot through the EBS direct API; prints its id.
    #[command(after_help = "Examples:
  ingot upload out/hello.raw --region eu-west-1
  ingot upload out/v2.raw --parent snap-0123 --parent-report v1-upload.json --json > v2-upload.json

All-zero 512 KiB blocks and holes are skipped (written when --encrypted and a filesystem
relies on them reading as zeros). The build report IMAGE.json, if present, supplies the
image digest (the idempotency token of StartSnapshot) and those zero ranges.")]
    Upload {
        /// The raw image.
        image: PathBuf,
        /// A recipe whose [ami] section supplies tags, encryption and volume size.
        #[arg(long)]
        recipe: Option<PathBuf>,
        #[command(flatten)]
        upload: UploadArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print the report as JSON (with every block's digest) and no progress.
        #[arg(long)]
        json: bool,
    },
    /// Register an existing snapshot as an AMI described by a recipe's [ami] section.
    #[command(after_help = "Examples:
  ingot register snap-0123456789abcdef0 --recipe recipes/hello.toml")]
    Register {
        /// The snapshot id.
        snapshot: String,
        /// The recipe with the [ami] section.
        #[arg(long)]
        recipe: PathBuf,
        #[command(flatten)]
        register: RegisterArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print the report as JSON and no progress.
        #[arg(long)]
        json: bool,
    },
    /// Build (given a recipe), upload, wait, register, tag, share and copy: one AMI.
    #[command(after_help = "Examples:
  ingot publish recipes/hello.toml --region us-east-1
  ingot publish out/hello.raw --recipe recipes/hello.toml     (an image built earlier)
  ingot publish recipes/hello.toml --instance-store --bucket my-bundles \\
      --cert cert.pem --privatekey pk.pem                     (instance-store AMI)

An AMI with the same name is reused without uploading anything unless --force.
--instance-store bundles the image into IMAGE.bundle/, uploads the parts and then the
manifest to s3://BUCKET/PREFIX/ (aws-exec-read, Content-MD5; parts already there are
skipped) and registers the manifest; images over 10 GiB are refused.")]
    Publish {
        /// A recipe to build, or (with --recipe) an image built earlier.
        input: PathBuf,
        /// The recipe of an image built earlier.
        #[arg(long)]
        recipe: Option<PathBuf>,
        /// Output image path when building (default: out/NAME.raw).
        #[arg(short, long, conflicts_with = "recipe")]
        out: Option<PathBuf>,
        #[command(flatten)]
        upload: UploadArgs,
        #[command(flatten)]
        register: RegisterArgs,
        /// Delete the snapshot (or the bundle in S3) when a later step fails.
        #[arg(long)]
        cleanup_on_failure: bool,
        #[command(flatten)]
        instance_store: Box<InstanceStoreArgs>,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print the report as JSON and no progress.
        #[arg(long)]
        json: bool,
    },
    /// Write an instance-store bundle (manifest 2007-10-10) of a raw image to a directory.
    #[command(after_help = "Examples:
  ingot bundle out/hello.raw -d bundle --cert cert.pem --privatekey pk.pem --user 123456789012
  ingot bundle out/hello.raw -d bundle ... --region us-gov-west-1    (GovCloud's EC2 certificate)

The image is tarred (GNU sparse), compressed (gzip -9), encrypted (AES-128-CBC) and cut
into 10 MiB parts NAME.part.N; NAME.manifest.xml is written last, signed with the private
key. Images over 10 GiB are refused.")]
    Bundle {
        /// The raw image.
        image: PathBuf,
        /// Where the parts and the manifest go (created if missing).
        #[arg(short = 'd', long)]
        destination: PathBuf,
        /// Your X.509 certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Your RSA private key (PEM), which signs the manifest.
        #[arg(long)]
        privatekey: PathBuf,
        /// EC2's bundle certificate (default: the one ingot ships for --region's partition,
        /// as the AMI tools' cert-ec2.pem, cert-ec2-gov.pem, cert-ec2-cn-north-1.pem).
        #[arg(long)]
        ec2_cert: Option<PathBuf>,
        /// The region the bundle is for: picks EC2's certificate (us-gov-*: GovCloud,
        /// cn-*: China, else commercial).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Your 12-digit AWS account id.
        #[arg(long)]
        user: String,
        /// x86_64 or i386.
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// The image name in the bundle (default: the image's file name).
        #[arg(long)]
        name: Option<String>,
        /// Print the report as JSON and no progress.
        #[arg(long)]
        json: bool,
    },
    /// Check a bundle (signature, every digest) and restore its image.
    #[command(after_help = "Examples:
  ingot unbundle bundle/hello.raw.manifest.xml --privatekey pk.pem -d restored
  ingot unbundle bundle --privatekey pk.pem -d restored     (the one manifest in bundle/)")]
    Unbundle {
        /// The bundle's NAME.manifest.xml (the parts are beside it), or the directory
        /// holding it.
        manifest: PathBuf,
        /// The private key the bundle was made with.
        #[arg(long)]
        privatekey: PathBuf,
        /// Where the image goes (created if missing).
        #[arg(short = 'd', long)]
        destination: PathBuf,
        /// Print the report as JSON and no progress.
        #[arg(long)]
        json: bool,
    },
    /// Download a snapshot into a sparse raw image, verifying every block's checksum.
    #[command(after_help = "Examples:
  ingot download snap-0123456789abcdef0 restored.raw")]
    Download {
        /// The snapshot id.
        snapshot: String,
        /// The image to write.
        out: PathBuf,
        /// GetSnapshotBlock requests in flight.
        #[arg(long, default_value_t = 32)]
        workers: usize,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print the report as JSON and no progress.
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
        Command::Upload { image, recipe, upload, aws, json } => aws_cli::upload(image, recipe, &upload, &aws, json)?,
        Command::Register { snapshot, recipe, register, aws, json } => {
            aws_cli::register(snapshot, recipe, &register, &aws, json)?
        }
        Command::Publish { input, recipe, out, upload, register, cleanup_on_failure, instance_store, aws, json } => {
            if instance_store.instance_store {
                bundle_cli::publish(
                    input,
                    recipe,
                    out,
                    &upload,
                    &instance_store,
                    &register,
                    cleanup_on_failure,
                    &aws,
                    json,
                )?
            } else {
                aws_cli::publish(input, recipe, out, &upload, &register, cleanup_on_failure, &aws, json)?
            }
        }
        Command::Download { snapshot, out, workers, aws, json } => {
            aws_cli::download(snapshot, out, workers, &aws, json)?
        }
        Command::Bundle { image, destination, cert, privatekey, ec2_cert, region, user, arch, name, json } => {
            let keys = bundle_cli::Keys { cert, privatekey, ec2_cert, region };
            bundle_cli::bundle(&image, &destination, &keys, &user, &arch, name, json)?
        }
        Command::Unbundle { manifest, privatekey, destination, json } => {
            bundle_cli::unbundle(&manifest, &privatekey, &destination, json)?
        }
    }
    Ok(())
}
