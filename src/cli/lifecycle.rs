//! `ingot images`, `deregister` and `prune` for a person: one block per AMI; prune's
//! question on a terminal.

use super::flags::AwsFlags;
use ingot::lifecycle::{DeregisterChoice, PruneChoice, PruneReport};
use ingot::Control;
use ingot_aws::{OwnedImage, Retired, Status};
use std::io::IsTerminal;
use std::process::ExitCode;

/// `ingot images`' lines: per AMI, its id, region, creation date, state and name, then
/// what else is known of it.
pub fn image_lines(images: &[OwnedImage]) -> String {
    if images.is_empty() {
        return "no AMI matches".into();
    }
    let mut out = Vec::new();
    for i in images {
        out.push(format!(
            "{}  {}  {}  {}  {}",
            i.image_id,
            i.region,
            i.creation_date.as_deref().unwrap_or("-"),
            i.state,
            i.name
        ));
        let mut facts = vec![
            i.architecture.clone().unwrap_or_else(|| "-".into()),
            i.boot_mode.clone().map_or("boot mode not set".into(), |b| format!("boot mode {b}")),
        ];
        if let Some(p) = i.deregistration_protection.as_deref().filter(|p| *p != "disabled") {
            facts.push(format!("deregistration protection {p}"));
        }
        if let Some(d) = &i.deprecation_time {
            facts.push(format!("deprecated from {d}"));
        }
        if let Some(l) = &i.last_launched_time {
            facts.push(format!("last launched {l}"));
        }
        if let Some(s) = &i.source {
            facts.push(format!("copy of {s}"));
        }
        out.push(format!("    {}", facts.join(", ")));
        for s in &i.snapshots {
            let size = s.size_gib.map_or("size unknown".into(), |g| format!("{g} GiB"));
            out.push(format!("    {} {} ({size}){}", s.device, s.snapshot_id, shared(&s.shared_with)));
        }
        if let Some(location) = &i.image_location {
            out.push(format!("    bundle {location}{}", shared(&i.bundle_shared_with)));
        }
        match (&i.references, &i.references_unknown) {
            (Some(r), _) if r.is_empty() => out.push("    referenced by nothing".into()),
            (Some(r), _) => {
                for r in r {
                    out.push(format!("    referenced by {} {}", r.resource_type, r.arn));
                }
            }
            (None, why) => out.push(format!("    references unknown: {}", why.as_deref().unwrap_or("no answer"))),
        }
    }
    out.join("\n")
}

/// ", shared with ami-…" when other AMIs map a snapshot or bundle too.
fn shared(with: &[String]) -> String {
    if with.is_empty() {
        String::new()
    } else {
        format!(", shared with {}", with.join(", "))
    }
}

/// `ingot deregister`'s lines: what became of each AMI, and what it left.
pub fn retired_lines(retired: &[Retired]) -> String {
    let mut out = Vec::new();
    for r in retired {
        let name = r.name.as_deref().map_or(String::new(), |n| format!(" ({n})"));
        let head = format!("{}{name} in {}", r.image_id, r.region);
        out.push(match (&r.status, &r.kept) {
            (Status::Kept, Some(why)) => format!("{head}: kept: {}", super::flags::flag_names(&why.to_string())),
            (Status::Kept, None) => format!("{head}: kept: its bundle could not all be deleted"),
            (Status::Deregistered, _) => format!("{head}: deregistered"),
            (Status::WouldDeregister, _) => format!("{head}: would be deregistered"),
            (Status::AlreadyGone, _) => format!("{head}: already deregistered"),
            (Status::Disabled, _) => format!("{head}: disabled (snapshots kept)"),
            (Status::WouldDisable, _) => format!("{head}: would be disabled"),
            (Status::Failed, _) => format!("{head}: failed: {}", r.error.as_deref().unwrap_or("no reason given")),
        });
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        for s in &r.snapshots_deleted {
            out.push(format!("    {verb} {s}"));
        }
        for o in &r.objects_deleted {
            out.push(format!("    {verb} s3://{o}"));
        }
        for k in &r.snapshots_kept {
            out.push(format!("    snapshot {} kept: still used by {}", k.id, k.by.join(", ")));
        }
        if let Some(k) = &r.bundle_kept {
            out.push(format!("    bundle s3://{} kept: still used by {}", k.id, k.by.join(", ")));
        }
        for l in &r.left {
            out.push(format!("    left {}: {}", l.id, l.error));
        }
    }
    out.join("\n")
}

/// `ingot prune`'s lines: what it spares, then what it retires (or would).
pub fn prune_lines(report: &PruneReport) -> String {
    if report.matched == 0 && report.retired.is_empty() {
        return format!("no AMI matches in {}", report.regions.join(", "));
    }
    let mut out = Vec::new();
    for s in &report.spared {
        let why = match s.why {
            "newest" => "one of the newest",
            "pending" => "still being made (pending)",
            _ => "younger than --older-than",
        };
        out.push(format!("{} ({}) in {}: kept: {why}", s.image_id, s.name, s.region));
    }
    if report.retired.is_empty() {
        out.push("nothing to deregister".into());
    } else {
        out.push(retired_lines(&report.retired));
    }
    out.join("\n")
}

/// Whether to carry out `plan`: with `yes`, when there is something to do; on a terminal,
/// when the person answers `y` after reading the plan; otherwise not (the plan is printed).
pub fn confirm(plan: &PruneReport, yes: bool, json: bool) -> anyhow::Result<bool> {
    let count = plan.retired.iter().filter(|r| r.status == Status::WouldDeregister).count();
    let leftovers = plan.retired.iter().filter(|r| r.status == Status::AlreadyGone).count();
    if !plan.retired.iter().any(ingot::lifecycle::to_apply) {
        return Ok(false);
    }
    if yes {
        return Ok(true);
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        if !json {
            eprintln!("ingot: not on a terminal, so only the plan is printed: pass --yes to carry it out");
        }
        return Ok(false);
    }
    eprintln!("{}", prune_lines(plan));
    let finish = if leftovers > 0 { format!(", and finish {leftovers} deregistered earlier,") } else { String::new() };
    eprint!("Deregister {count} AMI(s){finish} and delete the snapshots no other AMI uses? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `ingot deregister`'s arguments.
#[derive(clap::Args)]
pub struct DeregisterFlags {
    /// The AMI ids.
    #[arg(required = true)]
    images: Vec<String>,
    /// Also deregister the copies ingot made of each AMI in the account's other regions.
    #[arg(long)]
    copies: bool,
    /// Deregister even when something references the AMI.
    #[arg(long)]
    force: bool,
    /// Check and print what would be deleted; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Disable the AMIs instead (DisableImage: hidden, no new launches, launch
    /// permissions dropped); nothing is deleted. `aws ec2 enable-image` undoes it.
    #[arg(long, conflicts_with = "force")]
    disable_only: bool,
    #[command(flatten)]
    aws: AwsFlags,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// `ingot prune`'s arguments.
#[derive(clap::Args)]
pub struct PruneFlags {
    /// AMI name pattern (`*` any characters, `?` one).
    #[arg(long)]
    name: String,
    /// How many of the newest matching AMIs to keep in each region.
    #[arg(long)]
    keep: usize,
    /// Only AMIs made more than DAYS days ago go.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(0..=ingot::lifecycle::OLDER_THAN_DAYS_MAX))]
    older_than: Option<u64>,
    /// Deregister referenced AMIs too; needed with --keep 0.
    #[arg(long)]
    force: bool,
    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Carry out the plan without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    aws: AwsFlags,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// `ingot deregister`: prints what became of each AMI; fails when one is kept or failed or
/// something is left.
pub fn deregister(flags: &DeregisterFlags, control: &Control) -> anyhow::Result<ExitCode> {
    let f = flags;
    let options = ingot_aws::RetireOptions { force: f.force, dry_run: f.dry_run, disable_only: f.disable_only };
    let choice = DeregisterChoice { copies: f.copies, options };
    let retired = ingot::lifecycle::deregister(&f.aws.one_region(control)?, &f.images, choice)?;
    let json = f.json;
    super::print(json, &retired, &retired_lines(&retired))?;
    Ok(if retired.iter().any(Retired::unfinished) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `ingot prune`: the plan, carried out when [`confirm`] says so; fails when an AMI failed
/// or something is left (a kept AMI is reported, not a failure).
pub fn prune(flags: &PruneFlags, control: &Control) -> anyhow::Result<ExitCode> {
    let f = flags;
    let choice = PruneChoice { name: f.name.clone(), keep: f.keep, older_than_days: f.older_than, force: f.force };
    let (aws, json) = (f.aws.choice(control)?, f.json);
    let mut report = ingot::lifecycle::prune_plan(&aws, &choice)?;
    if !f.dry_run && confirm(&report, f.yes, json)? {
        report = ingot::lifecycle::prune_apply(&aws, report, choice.force)?;
    }
    super::print(json, &report, &prune_lines(&report))?;
    let failed = report.retired.iter().any(|r| r.status == Status::Failed || !r.left.is_empty());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
