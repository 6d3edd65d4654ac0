//! The `ingot` command line: a thin layer over the pipelines in the `ingot` library.

use anyhow::{bail, Result};
use clap::{CommandFactory, Parser, Subcommand};
use cli::flags::{AwsFlags, BundleFlags, InstanceStoreFlags, RegisterFlags, UploadFlags};
use ingot::publish::PublishInput;
use ingot::Control;
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;
use cli::print;
use cli::progress::terminal;

/// Casts bootable disk images offline, without root.
#[derive(Parser)]
#[command(name = "ingot", version = env!("INGOT_VERSION"), about, long_about = None, disable_help_subcommand = true)]
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
leaves nothing at OUT. Same recipe and inputs give the same bytes, digest and report.")]
    Build {
        /// The recipe file (see docs/recipe.md).
        recipe: PathBuf,
        /// Output image path (default: out/NAME.raw).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Print the build report as JSON on stdout and no progress.
        #[arg(long)]
        json: bool,
        /// Leave the image digest and the block digests out of the report (they hash
        /// the data, not the holes).
        #[arg(long)]
        no_digest: bool,
        /// Also report the SHA-256 of the whole image and of each partition, as
        /// `sha256sum` prints it (every byte is hashed, holes included: about half a
        /// second per GiB of disk).
        #[arg(long)]
        sha256: bool,
    },
    /// Boot an image under QEMU with its serial console on the terminal.
    #[command(after_help = "Examples:
  ingot boot out/hello.raw                              UEFI (OVMF, or AAVMF for arm64)
  ingot boot out/debian.raw --bios --nvme
  ingot boot out/sb.raw --secure-boot                   keys from out/sb.raw.json's uefi_data
  ingot boot out/ci.raw --expect 'login:' --timeout 600   (exit 0, 1 on panic, 124 on timeout)

The disk is attached with snapshot=on: the image never changes unless --write. KVM is
used when /dev/kvm is usable for the guest's architecture (TCG when it is not, or when
KVM fails the guest), unless --accel says otherwise. QEMU and the
firmware come from Debian's qemu-system-x86 / qemu-system-arm, ovmf / qemu-efi-aarch64
and swtpm packages; a missing one is named.")]
    Boot(cli::boot::BootFlags),
    /// Validate a recipe and print its plan, without reading the sources or writing.
    #[command(after_help = "Examples:
  ingot check recipes/hello.toml
  ingot check recipes/debian-cloud.toml --json

Prints the disk size, every partition's offset, size, type, PARTUUID, filesystem label
and UUID and its sources in layering order, the boot chain (with the kernel command
line the build writes) and the AMI publish would register. Sizes that depend on the
content (size = \"auto\") are known only once the build measures it. Exits non-zero
with the recipe's error when it is not valid.")]
    Check {
        /// The recipe file.
        recipe: PathBuf,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an image's partition table and partitions.
    #[command(after_help = "Examples:
  ingot inspect out/hello.raw
  ingot inspect out/hello.raw --json
  ingot inspect out/verity.raw --verify")]
    Inspect {
        /// The raw image.
        image: PathBuf,
        /// Check each dm-verity hash partition's tree against its data partition (one
        /// read of the data); exit 1 at the first bad block.
        #[arg(long)]
        verify: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Predict the TPM measurements (PCRs 4, 7, 11, 12) of booting an image's UKI or
    /// systemd-boot.
    #[command(after_help = "Examples:
  ingot measure out/attestable.raw
  ingot measure out/attestable.raw --format nitrotpm > pcrs.json
  ingot measure disk.raw --uefi-data store.b64 --json

The values are what EC2's NitroTPM measures when it boots the image as an AMI (SHA-384,
as AWS's nitro-tpm-pcr-compute prints them with --format nitrotpm) and the SHA-256
bank, with the events behind each (docs/attestation.md). With Secure Boot: under the
UEFI variable store of --uefi-data, else of the build report IMAGE.json when it has
one; without either, a boot without Secure Boot.")]
    Measure {
        /// The raw image.
        image: PathBuf,
        /// The EC2 UefiData store (base64 text, as OUT.json's uefi_data) the AMI boots
        /// with.
        #[arg(long)]
        uefi_data: Option<PathBuf>,
        /// `ingot`: every bank with its events; `nitrotpm`: the JSON AWS's
        /// nitro-tpm-pcr-compute prints.
        #[arg(long, value_enum, default_value = "ingot")]
        format: cli::measure::Format,
        /// Print as JSON (always, with --format nitrotpm).
        #[arg(long)]
        json: bool,
    },
    /// Make a fresh Secure Boot PK, KEK and db (RSA-2048, self-signed) in DIR.
    #[command(after_help = "Examples:
  ingot keys secure-boot/ --common-name \"Example Corp\"

Writes NAME.key (PKCS #8 PEM, mode 0600), NAME.crt (PEM) and NAME.esl (EFI signature
list) for PK, KEK and db, and owner.guid (the lists' owner). Refuses to overwrite any file.
Keep the .key files offline: a recipe's [secure_boot] needs only db.key (docs/secure-boot.md).")]
    Keys {
        /// The directory to write (created if missing).
        dir: PathBuf,
        /// The certificates' common name: \"NAME PK\", \"NAME KEK\", \"NAME db\".
        #[arg(long, default_value = "ingot")]
        common_name: String,
        /// Print the files written as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Upload a raw image to a new EBS snapshot through the EBS direct API; prints its id.
    #[command(after_help = "Examples:
  ingot upload out/hello.raw --region eu-west-1
  ingot upload out/v2.raw --parent snap-0123 --parent-report v1-upload.json --json > v2-upload.json

All-zero 512 KiB blocks and holes are skipped (written when --encrypted and a filesystem
relies on them reading as zeros). The build report IMAGE.json, if present, supplies the
image digest (the idempotency token of StartSnapshot) and those zero ranges, and every
block read is checked against its block digests. SIGINT or SIGTERM stops the upload and
names the pending snapshot (--cleanup-on-failure deletes it).")]
    Upload {
        /// The raw image.
        image: PathBuf,
        /// A recipe whose [ami] section supplies tags, encryption and volume size.
        #[arg(long)]
        recipe: Option<PathBuf>,
        #[command(flatten)]
        upload: UploadFlags,
        #[command(flatten)]
        aws: AwsFlags,
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
        register: RegisterFlags,
        #[command(flatten)]
        aws: AwsFlags,
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
        upload: UploadFlags,
        #[command(flatten)]
        register: RegisterFlags,
        #[command(flatten)]
        instance_store: Box<InstanceStoreFlags>,
        #[command(flatten)]
        aws: AwsFlags,
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
        #[command(flatten)]
        keys: BundleFlags,
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
    /// Print the recipe's JSON Schema (for editors: taplo, Even Better TOML).
    #[command(after_help = "Examples:
  ingot schema > recipe.schema.json

Then start a recipe with the line `#:schema ./recipe.schema.json` and editors that read
TOML schemas complete and check its keys. docs/recipe.schema.json is the same schema.")]
    Schema,
    /// Print a shell completion script for SHELL on stdout.
    #[command(after_help = "Examples:
  ingot completions bash > ~/.local/share/bash-completion/completions/ingot
  ingot completions zsh > ~/.zfunc/_ingot          (with fpath+=(~/.zfunc) before compinit)
  ingot completions fish > ~/.config/fish/completions/ingot.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (ingot.1, ingot-build.1, …) into DIR.
    #[command(after_help = "Examples:
  ingot man /usr/local/share/man/man1 && man ingot-build
  ingot man target/man && man -l target/man/ingot.1")]
    Man {
        /// The directory to write (created if missing).
        dir: PathBuf,
    },
    /// List the account's AMIs, newest first, with their snapshots and what references them.
    #[command(after_help = "Examples:
  ingot images --name 'debian-12-*' --region us-east-1,eu-west-1
  ingot images --tag project=web --json

Lists id, region, creation date, state, name, architecture, boot mode, deregistration
protection, deprecation, last launch, snapshots with their sizes, an instance-store
AMI's bundle, and what references the AMI (instances, launch templates, SSM
parameters: DescribeImageReferences). Disabled and deprecated AMIs are included.")]
    Images {
        /// AMI name pattern (`*` any characters, `?` one), as EC2's name filter takes it.
        #[arg(long)]
        name: Option<String>,
        /// Only AMIs with this tag (KEY=VALUE; repeat for several).
        #[arg(long, value_parser = parse_tag)]
        tag: Vec<(String, String)>,
        #[command(flatten)]
        aws: AwsFlags,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deregister AMIs and delete their snapshots (or bundle), with --copies their copies.
    #[command(after_help = "Examples:
  ingot deregister ami-0123456789abcdef0 --region eu-west-1
  ingot deregister ami-0123456789abcdef0 --copies --dry-run

An AMI is kept, with the reason, when another account owns it, when it has
deregistration protection, when something references it (--force deregisters it anyway)
or when one of its snapshots is another AMI's. Its snapshots are tagged
ingot:deregistered-image before the AMI goes, so a run that fails halfway is finished by
running it again; an AMI already gone is reported as such. Exits non-zero when an AMI is
kept or something is left.")]
    Deregister(cli::lifecycle::DeregisterFlags),
    /// Deregister all but the newest AMIs of a name, with their snapshots and copies.
    #[command(after_help = "Examples:
  ingot prune --name 'web-*-x86_64' --keep 3 --region us-east-1,eu-west-1 --dry-run
  ingot prune --name 'nightly-*' --keep 7 --older-than 14 --yes

In each region named, the AMIs whose name matches are sorted newest first; all but the
--keep newest (and, with --older-than, those made in the last DAYS days) are retired as
`ingot deregister --copies` retires them, kept with the reason when protected, referenced
or sharing a snapshot. The plan is printed first; on a terminal it asks before going on,
otherwise it goes on only with --yes.")]
    Prune(cli::lifecycle::PruneFlags),
    /// Download a snapshot into a sparse raw image, verifying every block's checksum.
    #[command(after_help = "Examples:
  ingot download snap-0123456789abcdef0 restored.raw")]
    Download {
        /// The snapshot id.
        snapshot: String,
        /// The image to write.
        out: PathBuf,
        /// GetSnapshotBlock requests in flight.
        #[arg(long, default_value_t = ingot::publish::DEFAULT_DOWNLOAD_WORKERS)]
        workers: usize,
        #[command(flatten)]
        aws: AwsFlags,
        /// Print the report as JSON and no progress.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = std::env::args().nth(1).unwrap_or_default();
    // One run, one control: the signal handler trips it, the command's work obeys it.
    let control = Control::new();
    if let Err(e) = cli::interrupt::on_signal(command.clone(), control.clone()) {
        eprintln!("error: cannot watch for SIGINT and SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli, &control) {
        Ok(code) => code,
        Err(e) => match cli::interrupt::stopped_by() {
            Some(signal) => {
                eprintln!("ingot {command} stopped by {}: {}", cli::interrupt::name(signal), cli::error_text(&e));
                ExitCode::from(128 + signal as u8)
            }
            None if e.downcast_ref::<cli::StdoutError>().is_some_and(cli::StdoutError::reader_gone) => {
                ExitCode::SUCCESS // the reader went away (`| head`): nothing to say, as coreutils
            }
            None => {
                eprintln!("error: {}", cli::error_text(&e));
                ExitCode::FAILURE
            }
        },
    }
}

fn run(cli: Cli, control: &Control) -> Result<ExitCode> {
    let done = match cli.command {
        Command::Boot(flags) => return cli::boot::boot(&flags),
        Command::Deregister(flags) => return cli::lifecycle::deregister(&flags, control),
        Command::Prune(flags) => return cli::lifecycle::prune(&flags, control),
        Command::Build { recipe, out, json, no_digest, sha256 } => {
            let digests = ingot::ReportDigests { blocks: !no_digest, sha256 };
            build(recipe, out, digests, control, json)
        }
        Command::Check { recipe, json } => check(&recipe, json),
        Command::Inspect { image, verify, json } => inspect(&image, verify, json),
        Command::Keys { dir, common_name, json } => keys(&dir, &common_name, json),
        Command::Measure { image, uefi_data, format, json } => {
            cli::measure::run(&image, uefi_data.as_deref(), format, json)
        }
        Command::Upload { image, recipe, upload, aws, json } => {
            upload_image(&aws.one_region(control)?, &image, recipe.as_deref(), &upload.choice(), json)
        }
        Command::Register { snapshot, recipe, register, aws, json } => {
            register_snapshot(&aws.one_region(control)?, &snapshot, &recipe, &register.choice(), json)
        }
        Command::Publish { input, recipe, out, upload, register, instance_store, aws, json } => {
            let input = PublishInput::new(input, recipe, out);
            publish(&aws.one_region(control)?, input, &upload, &register, &instance_store, json)
        }
        Command::Images { name, tag, aws, json } => images(&aws.choice(control)?, name, tag, json),
        Command::Download { snapshot, out, workers, aws, json } => {
            download(&aws, &snapshot, &out, workers, json, control)
        }
        Command::Bundle { image, destination, keys, json } => bundle(&image, &destination, &keys, control, json),
        Command::Unbundle { manifest, privatekey, destination, json } => {
            unbundle(&manifest, &privatekey, &destination, control, json)
        }
        Command::Schema => cli::out(&serde_json::to_string_pretty(&ingot_recipe::json_schema())?),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(&dir),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `ingot build`.
fn build(
    recipe: PathBuf,
    out: Option<PathBuf>,
    digests: ingot::ReportDigests,
    control: &Control,
    json: bool,
) -> Result<()> {
    let progress = terminal(json);
    let report = ingot::build(&ingot::BuildOptions { recipe, out, progress, digests, control: control.clone() })?;
    print(json, &report, &build_lines(&report))
}

/// `ingot check`.
fn check(recipe: &std::path::Path, json: bool) -> Result<()> {
    let plan = ingot::check(recipe)?;
    print(json, &plan, &cli::check::lines(&plan))
}

/// `ingot inspect`.
fn inspect(image: &std::path::Path, verify: bool, json: bool) -> Result<()> {
    cli::quiet_fat_reader_panics();
    let i = ingot::inspect(image)?;
    if !verify {
        return print(json, &i, &cli::inspect::lines(image, &i));
    }
    let checks = ingot::verify(image, &i)?;
    let mut value = serde_json::to_value(&i)?;
    value["verify"] = serde_json::to_value(&checks)?;
    print(json, &value, &(cli::inspect::lines(image, &i) + &cli::inspect::verify_lines(&checks)))?;
    if checks.is_empty() {
        bail!("{}: --verify found no dm-verity hash partition to check", image.display());
    }
    match checks.iter().find(|c| !c.ok()) {
        Some(c) => bail!(
            "{}: partition {}'s dm-verity tree does not match its data: {}",
            image.display(),
            c.hash_partition,
            c.first_bad.as_deref().unwrap_or("no data partition found for it")
        ),
        None => Ok(()),
    }
}

/// `ingot keys`.
fn keys(dir: &std::path::Path, common_name: &str, json: bool) -> Result<()> {
    let made = ingot_boot::keys::make(dir, common_name)?;
    let files: Vec<String> = made.files.iter().map(|p| p.display().to_string()).collect();
    let report = serde_json::json!({ "owner": made.owner.to_string(), "files": files });
    print(json, &report, &files.join("\n"))
}

/// `ingot upload`.
fn upload_image(
    aws: &ingot::AwsChoice,
    image: &std::path::Path,
    recipe: Option<&std::path::Path>,
    upload: &ingot::UploadChoice,
    json: bool,
) -> Result<()> {
    let report = ingot::publish::upload_image(aws, image, recipe, upload, &terminal(json))?;
    if let (Some(line), false) = (reused_snapshot(&report, &[]), json) {
        eprintln!("{line}");
    }
    print(json, &report, &report.snapshot_id)
}

/// `ingot register`.
fn register_snapshot(
    aws: &ingot::AwsChoice,
    snapshot: &str,
    recipe: &std::path::Path,
    flags: &ingot::RegisterChoice,
    json: bool,
) -> Result<()> {
    let report = ingot::publish::register(aws, snapshot, recipe, flags, &terminal(json))?;
    print(json, &report, &report.image_id)
}

/// `ingot publish`, EBS-backed or (`--instance-store`) from an S3 bundle.
fn publish(
    aws: &ingot::AwsChoice,
    input: PublishInput,
    upload: &UploadFlags,
    register: &RegisterFlags,
    instance_store: &InstanceStoreFlags,
    json: bool,
) -> Result<()> {
    let progress = terminal(json);
    let (upload, register) = (&upload.choice(), &register.choice());
    if let Some(store) = instance_store.choice()? {
        let r = ingot::instance_store::publish(aws, &input, upload, &store, register, &progress)?;
        return print(json, &r, &published(json, &r.register, "bundled or uploaded"));
    }
    let r = ingot::publish::publish(aws, &input, upload, register, &progress)?;
    if let (Some(upload), false) = (&r.upload, json) {
        if let Some(line) = reused_snapshot(upload, &r.snapshot_shared_with) {
            eprintln!("{line}");
        }
    }
    let mut lines = published(json, &r.register, "uploaded");
    if let Some(m) = &r.measurements {
        lines += &format!("\nPCR4 {}\nPCR7 {}\nPCR12 {}", m.PCR4, m.PCR7, m.PCR12);
    }
    print(json, &r, &lines)
}

/// `ingot images`.
fn images(aws: &ingot::AwsChoice, name: Option<String>, tags: Vec<(String, String)>, json: bool) -> Result<()> {
    let query = ingot_aws::ImageQuery { name, tags, ids: Vec::new() };
    let images = ingot::lifecycle::images(aws, &query)?;
    print(json, &images, &cli::lifecycle::image_lines(&images))
}

/// `ingot download`.
fn download(
    aws: &AwsFlags,
    snapshot: &str,
    out: &std::path::Path,
    workers: usize,
    json: bool,
    control: &Control,
) -> Result<()> {
    let aws = aws.one_region(control)?;
    let report = ingot::publish::download(&aws, snapshot, out, workers, &terminal(json))?;
    let digest = report.digest.as_deref().or(report.sha256.as_deref());
    let digest = digest.unwrap_or("(no ingot:image-digest tag: digest not checked)");
    print(json, &report, &format!("{digest}  {}", out.display()))
}

/// `ingot bundle`.
fn bundle(
    image: &std::path::Path,
    destination: &std::path::Path,
    keys: &BundleFlags,
    control: &Control,
    json: bool,
) -> Result<()> {
    let report = ingot::bundle::bundle(image, destination, &keys.choice(), &terminal(json), control)?;
    let line = format!("{}  ({} parts, {} bytes)", report.manifest.display(), report.parts.len(), report.bundled_size);
    print(json, &report, &line)
}

/// `ingot unbundle`.
fn unbundle(
    manifest: &std::path::Path,
    key: &std::path::Path,
    destination: &std::path::Path,
    control: &Control,
    json: bool,
) -> Result<()> {
    let report = ingot::bundle::unbundle(manifest, key, destination, &terminal(json), control)?;
    let line = format!("{}  ({} bytes, {} parts checked)", report.image.display(), report.size, report.parts);
    print(json, &report, &line)
}

/// `ingot completions SHELL`.
fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ingot", &mut script);
    cli::out(String::from_utf8_lossy(&script).trim_end())
}

/// `ingot man DIR`.
fn man(dir: &std::path::Path) -> Result<()> {
    let pages = cli::manual::write(Cli::command(), dir)?;
    let lines: Vec<String> = pages.iter().map(|p| p.display().to_string()).collect();
    cli::out(&lines.join("\n"))
}

/// A `KEY=VALUE` tag.
fn parse_tag(text: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("{text:?}: the key is empty"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// What to say when `upload` reused a snapshot that already held the image, and which
/// AMIs (`shared_with`) already map it.
fn reused_snapshot(upload: &ingot_aws::UploadReport, shared_with: &[String]) -> Option<String> {
    if !upload.reused {
        return None;
    }
    let mut line = format!("{} already holds this image (same client token): nothing uploaded", upload.snapshot_id);
    if !shared_with.is_empty() {
        line.push_str(&format!("; the new AMI shares it with {}", shared_with.join(", ")));
    }
    Some(line)
}

/// `ingot publish`'s lines: the AMI, then each copy's region and AMI. Says on stderr when
/// an AMI of the same name was reused (nothing `skipped`).
fn published(json: bool, register: &ingot::publish::RegisterReport, skipped: &str) -> String {
    if register.reused && !json {
        eprintln!(
            "AMI {:?} already exists as {}: nothing {skipped} (--force registers again)",
            register.name, register.image_id
        );
    }
    let mut line = register.image_id.clone();
    for c in &register.copies {
        line.push_str(&format!("\n{} {}", c.region, c.image_id));
    }
    for p in &register.parameters {
        let how = if p.changed { "set" } else { "unchanged" };
        line.push_str(&format!("\n{} {} = {} (version {}, {how})", p.region, p.name, p.image_id, p.version));
    }
    line
}

/// `ingot build`'s summary: the digest and path, then a line per partition.
fn build_lines(report: &ingot::Report) -> String {
    let digest = report.digest.as_deref().or(report.sha256.as_deref()).unwrap_or("(no digest)");
    let mut out = format!("{digest}  {}", report.image.display());
    for p in &report.partitions {
        out += &format!(
            "\n  {:>2}  {:<12} {:>10} MiB at {:>8} KiB  {:<5} {}",
            p.number,
            p.label,
            p.size >> 20,
            p.offset >> 10,
            p.filesystem,
            p.guid
        );
    }
    out
}
