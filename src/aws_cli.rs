//! The AWS subcommands' flags and their dispatch.

use anyhow::{Context, Result};
use clap::Args;
use ingot::publish::{ImageInput, PublishOptions, RegisterFlags, UploadFlags};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach AWS (shared by every AWS subcommand).
#[derive(Args, Clone, Debug)]
pub struct AwsArgs {
    /// Shared-config profile (default: AWS_PROFILE, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Region (default: AWS_REGION, else the profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// Seconds to establish a connection.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Seconds to wait for a response to start (and between reads).
    #[arg(long, default_value_t = 60.0)]
    pub read_timeout: f64,
    /// Seconds for one attempt of one request.
    #[arg(long, default_value_t = 120.0)]
    pub attempt_timeout: f64,
    /// Attempts of one request before giving up (transient failures only).
    #[arg(long, default_value_t = 10)]
    pub max_attempts: u32,
}

impl AwsArgs {
    /// Connects with these settings.
    pub fn session(&self) -> Result<ingot_aws::Session> {
        let secs = |name: &str, s: f64| -> Result<Duration> {
            Duration::try_from_secs_f64(s)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("--{name} {s}: expected a positive number of seconds"))
        };
        let retry = ingot_aws::RetryPolicy { max_attempts: self.max_attempts.max(1), ..Default::default() };
        let connect = ingot_aws::Connect {
            profile: self.profile.clone(),
            region: self.region.clone(),
            connect_timeout: secs("connect-timeout", self.connect_timeout)?,
            read_timeout: secs("read-timeout", self.read_timeout)?,
            attempt_timeout: secs("attempt-timeout", self.attempt_timeout)?,
            retry,
        };
        Ok(ingot_aws::Session::connect(&connect)?)
    }
}

/// `ingot upload`'s and `ingot publish`'s upload flags.
#[derive(Args, Clone, Debug)]
pub struct UploadArgs {
    /// Snapshot description.
    #[arg(long)]
    pub description: Option<String>,
    /// Volume size in GiB (default: the recipe's, else the image size rounded up).
    #[arg(long)]
    pub volume_size: Option<u64>,
    /// Encrypt the snapshot (then the zero blocks the filesystems rely on are written too).
    #[arg(long)]
    pub encrypted: bool,
    /// KMS key ARN for --encrypted (default: the account's EBS key).
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Parent snapshot: upload only the blocks that differ from it.
    #[arg(long)]
    pub parent: Option<String>,
    /// JSON report of the upload that made --parent (has its block digests; without it
    /// the parent's blocks are read back from EBS).
    #[arg(long, requires = "parent")]
    pub parent_report: Option<PathBuf>,
    /// PutSnapshotBlock requests in flight (memory: workers × 512 KiB).
    #[arg(long, default_value_t = 64)]
    pub workers: usize,
    /// Minutes EBS waits for the upload to complete (10–4320).
    #[arg(long)]
    pub snapshot_timeout: Option<u32>,
}

impl UploadArgs {
    /// As the library takes them.
    pub fn flags(&self) -> UploadFlags {
        UploadFlags {
            description: self.description.clone(),
            volume_size_gib: self.volume_size,
            encrypted: self.encrypted,
            kms_key_arn: self.kms_key_id.clone(),
            parent: self.parent.clone(),
            parent_report: self.parent_report.clone(),
            workers: self.workers,
            timeout_minutes: self.snapshot_timeout,
        }
    }
}

/// `ingot register`'s and `ingot publish`'s registration flags.
#[derive(Args, Clone, Debug)]
pub struct RegisterArgs {
    /// AMI name (default: the recipe's `[ami] name` template).
    #[arg(long)]
    pub name: Option<String>,
    /// Register again even if an AMI of that name exists (the old one is deregistered).
    #[arg(long)]
    pub force: bool,
    /// Seconds between polls while waiting for the snapshot and copies.
    #[arg(long)]
    pub poll: Option<u64>,
}

impl RegisterArgs {
    /// As the library takes them.
    pub fn flags(&self) -> RegisterFlags {
        RegisterFlags { name: self.name.clone(), force: self.force, poll_seconds: self.poll }
    }
}

/// What `ingot publish` works on: `input` built when it is a recipe (then `out` is where
/// the image goes), or `input` as an image built earlier with `recipe`.
pub fn publish_input(
    input: PathBuf,
    recipe: Option<PathBuf>,
    out: Option<PathBuf>,
    progress: &ingot::Progress,
) -> Result<(ImageInput, ingot_recipe::Recipe)> {
    let (image, recipe_path) = match recipe {
        Some(r) => (input, r),
        None => {
            let opts = ingot::BuildOptions { recipe: input.clone(), out, progress: progress.clone(), digest: true };
            (ingot::build(&opts)?.image, input)
        }
    };
    let recipe = ingot_recipe::Recipe::load(&recipe_path)?;
    Ok((ImageInput::open(&image)?, recipe))
}

/// Progress on stderr, or none with `--json`.
pub fn progress(json: bool) -> ingot::Progress {
    if json {
        ingot::Progress::hidden()
    } else {
        ingot::Progress::stderr()
    }
}

fn print<T: serde::Serialize>(json: bool, value: &T, line: String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{line}");
    }
    Ok(())
}

/// `ingot upload IMAGE`.
pub fn upload(image: PathBuf, recipe: Option<PathBuf>, up: &UploadArgs, aws: &AwsArgs, json: bool) -> Result<()> {
    let input = ImageInput::open(&image)?;
    let recipe = recipe.map(|r| ingot_recipe::Recipe::load(&r)).transpose()?;
    let session = aws.session()?;
    let report = ingot::publish::upload(
        &session,
        &input,
        recipe.as_ref().and_then(|r| r.ami.as_ref()),
        &up.flags(),
        &progress(json),
    )?;
    if !json && report.reused {
        eprintln!("{} already holds this image (same client token): nothing uploaded", report.snapshot_id);
    }
    print(json, &report, report.snapshot_id.clone())
}

/// `ingot register SNAPSHOT --recipe R`.
pub fn register(snapshot: String, recipe: PathBuf, reg: &RegisterArgs, aws: &AwsArgs, json: bool) -> Result<()> {
    let recipe = ingot_recipe::Recipe::load(&recipe)?;
    let spec = ingot::publish::ami_spec(&recipe, &reg.flags(), None)?;
    let session = aws.session()?;
    let report = ingot::publish::register_snapshot(&session, &snapshot, &spec, &reg.flags(), &progress(json))?;
    print(json, &report, report.image_id.clone())
}

/// `ingot publish RECIPE` or `ingot publish IMAGE --recipe R`.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    input: PathBuf,
    recipe: Option<PathBuf>,
    out: Option<PathBuf>,
    up: &UploadArgs,
    reg: &RegisterArgs,
    cleanup_on_failure: bool,
    aws: &AwsArgs,
    json: bool,
) -> Result<()> {
    let progress = progress(json);
    let (image, recipe) = publish_input(input, recipe, out, &progress)?;
    let session = aws.session()?;
    let opts = PublishOptions {
        image: &image,
        recipe: &recipe,
        upload: up.flags(),
        register: reg.flags(),
        cleanup_on_failure,
    };
    let report = ingot::publish::publish(&session, &opts, &progress)?;
    let mut line = report.register.image_id.clone();
    if report.register.reused && !json {
        eprintln!(
            "AMI {:?} already exists as {}: nothing uploaded (--force registers again)",
            report.register.name, line
        );
    }
    for c in &report.register.copies {
        line.push_str(&format!("\n{} {}", c.region, c.image_id));
    }
    print(json, &report, line)
}

/// `ingot download SNAPSHOT OUT`.
pub fn download(snapshot: String, out: PathBuf, workers: usize, aws: &AwsArgs, json: bool) -> Result<()> {
    let session = aws.session()?;
    let report = ingot::publish::download(&session, &snapshot, &out, workers, &progress(json))?;
    print(
        json,
        &report,
        format!(
            "{}  {}",
            report.sha256.as_deref().unwrap_or("(no ingot:image-sha256 tag: digest not checked)"),
            out.display()
        ),
    )
}
