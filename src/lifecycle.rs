//! The AMIs after publishing: `ingot images` lists the account's AMIs in the regions named,
//! `ingot deregister` retires AMIs (their snapshots or bundle, and with `--copies` the
//! copies ingot made of them) as `ingot_aws::Session::retire` does. docs/lifecycle.md.

use crate::error::{bail, Result, ResultExt};
use crate::AwsChoice;
use ingot_aws::{ImageQuery, OwnedImage, RetireOptions, Retired, Retirement, Session, Status, SOURCE_TAG};

/// `ingot images`: the AMIs `query` selects in every region of `aws`, newest first.
pub fn images(aws: &AwsChoice, query: &ImageQuery) -> Result<Vec<OwnedImage>> {
    let (session, regions) = aws.sessions()?;
    let mut all = Vec::new();
    for region in &regions {
        all.extend(session.images(region, query).with_context(|| format!("listing the AMIs in {region}"))?);
    }
    ingot_aws::newest_first(&mut all);
    Ok(all)
}

/// `ingot deregister`'s choices.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeregisterChoice {
    /// Also every copy ingot made of each AMI, in every region enabled for the account.
    pub copies: bool,
    /// The checks and the deletions (`force`: deregister referenced AMIs; `dry_run`).
    pub options: RetireOptions,
}

/// An AMI id as EC2 writes one: `ami-` and 8 or 17 hexadecimal digits.
pub fn check_image_id(id: &str) -> Result<()> {
    let hex = id.strip_prefix("ami-").unwrap_or("");
    if !(hex.len() == 8 || hex.len() == 17) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{id:?} is not an AMI id (ami- and 8 or 17 hexadecimal digits)");
    }
    Ok(())
}

/// `ingot deregister AMI…` in the session's region: each AMI, then (with `copies`) its
/// copies, unless the AMI is kept; then the snapshots they freed that no AMI of the
/// account maps any more. A failure is reported for its AMI and the rest goes on (its
/// copies are still looked for); an id EC2 does not know in that region is such a
/// failure; one it knew and no longer has is reported as gone (so a second run succeeds).
pub fn deregister(aws: &AwsChoice, ids: &[String], choice: DeregisterChoice) -> Result<Vec<Retired>> {
    for id in ids {
        check_image_id(id)?;
    }
    let session = aws.session()?;
    let account = session.account_id()?;
    let region = session.region().to_string();
    let all_regions = if choice.copies { session.regions().context("listing the account's regions")? } else { vec![] };
    let mut run = Retirement::new(&session, &account, choice.options, &bundle_parts);
    for id in ids {
        let kept = run.retire(&region, id).status == Status::Kept;
        if choice.copies && !kept {
            for (copy_region, copy) in copies(&session, &all_regions, &region, id, &mut run) {
                run.retire_copy(&copy_region, &copy, format!("{region}/{id}"));
            }
        }
    }
    Ok(run.finish())
}

/// The keys of an instance-store bundle's parts, read from its manifest (`xml`).
fn bundle_parts(xml: &[u8]) -> std::result::Result<Vec<String>, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "the manifest is not UTF-8".to_string())?;
    let (manifest, _) = ingot_bundle::Manifest::parse(text).map_err(|e| e.to_string())?;
    Ok(manifest.parts.into_iter().map(|(file, _)| file).collect())
}

/// The copies ingot made of `id` (tagged `ingot:source = REGION/ID`) in `regions` but its
/// own, as (region, AMI): those still registered, and those a failed run deregistered but
/// left snapshots of. A region that cannot be searched is reported in `failures`.
fn copies(
    session: &Session,
    regions: &[String],
    region: &str,
    id: &str,
    failures: &mut Retirement,
) -> Vec<(String, String)> {
    let source = format!("{region}/{id}");
    let query = ImageQuery { tags: vec![(SOURCE_TAG.to_string(), source.clone())], ..ImageQuery::default() };
    let mut found = Vec::new();
    for other in regions.iter().filter(|r| *r != region) {
        let search =
            session.images(other, &query).and_then(|images| Ok((images, session.leftover_copies(other, &source)?)));
        let (images, leftovers) = match search {
            Ok(found) => found,
            Err(e) => {
                failures.report(Retired::failed(other, id, format!("looking for copies of {id} in {other}: {e}")));
                continue;
            }
        };
        found.extend(images.into_iter().map(|i| (other.clone(), i.image_id)));
        for left in leftovers {
            if !found.contains(&(other.clone(), left.clone())) {
                found.push((other.clone(), left));
            }
        }
    }
    found
}

/// The largest `--older-than`: a century, older than any AMI (EC2 dates from 2006), and
/// small enough that its seconds never overflow.
pub const OLDER_THAN_DAYS_MAX: u64 = 36_500;

/// `ingot prune`'s choices.
#[derive(Clone, Debug)]
pub struct PruneChoice {
    /// The AMI name pattern.
    pub name: String,
    /// How many of the newest matching AMIs to keep in each region.
    pub keep: usize,
    /// Only AMIs made more than this many days ago go.
    pub older_than_days: Option<u64>,
    /// Deregister referenced AMIs too; needed for `keep = 0`.
    pub force: bool,
}

/// An AMI prune keeps because it is among the newest (or too young).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Spared {
    /// Its region.
    pub region: String,
    /// The AMI.
    pub image_id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    pub creation_date: Option<String>,
    /// `newest` (one of the N newest available), `pending` (being made) or `younger`
    /// (made less than `--older-than` days ago).
    pub why: &'static str,
}

/// What `ingot prune` plans or did: the AMIs it spares, and each one it retires (or
/// would: the statuses of a plan are `would-deregister` or `kept` with the reason).
#[derive(Clone, Debug, serde::Serialize)]
pub struct PruneReport {
    /// The regions searched.
    pub regions: Vec<String>,
    /// How many AMIs matched the name, in all those regions.
    pub matched: usize,
    /// True once the plan was carried out.
    pub applied: bool,
    /// The AMIs spared.
    pub spared: Vec<Spared>,
    /// The AMIs to retire (copies in regions not named included), and what became of each.
    pub retired: Vec<Retired>,
}

/// `ingot prune`'s plan: in each region, the matching AMIs but the `keep` newest available
/// ones, those being made (`pending`) and those younger than `older_than_days`, and the
/// copies ingot made of them in regions not named, each checked as `ingot deregister
/// --dry-run` checks it (the copies of an AMI that is kept stay too); and the AMIs of that
/// name an earlier run deregistered but whose snapshots it could not delete.
pub fn prune_plan(aws: &AwsChoice, choice: &PruneChoice) -> Result<PruneReport> {
    if choice.keep == 0 && !choice.force {
        bail!("`keep` 0 deregisters every AMI named {:?}: pass `force` too if that is meant", choice.name);
    }
    let (session, regions) = aws.sessions()?;
    let account = session.account_id()?;
    let query = ImageQuery { name: Some(choice.name.clone()), ..ImageQuery::default() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let options = RetireOptions { force: choice.force, dry_run: true, disable_only: false };
    let mut run = Retirement::new(&session, &account, options, &bundle_parts);
    let mut report =
        PruneReport { regions: regions.clone(), matched: 0, applied: false, spared: vec![], retired: vec![] };
    let all_regions = session.regions().context("listing the account's regions")?;
    for region in &regions {
        let found = session.images(region, &query).with_context(|| format!("listing the AMIs in {region}"))?;
        report.matched += found.len();
        let leftovers = session.leftover_images(region, &choice.name).with_context(|| format!("listing {region}"))?;
        let mut newest = 0;
        for image in &found {
            let why = if image.state == "pending" {
                Some("pending")
            } else if image.state == "available" && newest < choice.keep {
                newest += 1;
                Some("newest")
            } else if choice.older_than_days.is_some_and(|days| !older_than(image, days, now)) {
                Some("younger")
            } else {
                None
            };
            if let Some(why) = why {
                report.spared.push(spared(image, why));
                continue;
            }
            if run.retire(region, &image.image_id).status != Status::Kept {
                for (copy_region, copy) in copies(&session, &all_regions, region, &image.image_id, &mut run) {
                    if !regions.contains(&copy_region) {
                        run.retire_copy(&copy_region, &copy, format!("{region}/{}", image.image_id));
                    }
                }
            }
        }
        for gone in leftovers.iter().filter(|id| !found.iter().any(|i| i.image_id == **id)) {
            run.retire(region, gone);
        }
    }
    // What an earlier prune left of copies in regions it was not told to search.
    for other in all_regions.iter().filter(|r| !regions.contains(r)) {
        for region in &regions {
            let left = session.leftover_copy_images(other, &choice.name, region);
            for gone in left.with_context(|| format!("listing {other}"))? {
                run.retire(other, &gone);
            }
        }
    }
    report.retired = run.finish();
    Ok(report)
}

/// Whether `planned` is work for [`prune_apply`]: an AMI to deregister, or the leftovers
/// of one deregistered earlier.
pub fn to_apply(planned: &Retired) -> bool {
    match planned.status {
        Status::WouldDeregister => true,
        // Snapshots to delete, or still used ones whose leftover tags are to go.
        Status::AlreadyGone => !planned.snapshots_deleted.is_empty() || !planned.snapshots_kept.is_empty(),
        _ => false,
    }
}

/// Carries out `plan`: retires each AMI it would deregister (and finishes each it found
/// half done), and no other; then deletes the snapshots no AMI maps any more.
pub fn prune_apply(aws: &AwsChoice, plan: PruneReport, force: bool) -> Result<PruneReport> {
    let session = aws.sessions()?.0;
    let account = session.account_id()?;
    let options = RetireOptions { force, dry_run: false, disable_only: false };
    let mut run = Retirement::new(&session, &account, options, &bundle_parts);
    // Sources that came out kept now (something references them since the plan): their
    // copies stay, as they would have in the plan.
    let mut kept = std::collections::BTreeSet::new();
    for planned in &plan.retired {
        if let Some(source) = planned.copy_of.clone().filter(|s| kept.contains(s)) {
            run.report(Retired::kept(&planned.region, &planned.image_id, ingot_aws::Kept::SourceKept { source }));
        } else if to_apply(planned) {
            let done = match &planned.copy_of {
                Some(source) => run.retire_copy(&planned.region, &planned.image_id, source.clone()),
                None => run.retire(&planned.region, &planned.image_id),
            };
            if matches!(done.status, Status::Kept | Status::Failed) {
                kept.insert(format!("{}/{}", planned.region, planned.image_id));
            }
        } else {
            run.report(planned.clone());
        }
    }
    Ok(PruneReport { applied: true, retired: run.finish(), ..plan })
}

fn spared(image: &OwnedImage, why: &'static str) -> Spared {
    Spared {
        region: image.region.clone(),
        image_id: image.image_id.clone(),
        name: image.name.clone(),
        creation_date: image.creation_date.clone(),
        why,
    }
}

/// Whether `image` was made more than `days` days before `now` (Unix seconds); an image
/// whose date EC2 did not give counts as young, so it is kept.
fn older_than(image: &OwnedImage, days: u64, now: i64) -> bool {
    let Some(date) = image.creation_date.as_deref() else { return false };
    let field = |r: std::ops::Range<usize>| date.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(m), Some(d)) = (field(0..4), field(5..7), field(8..10)) else { return false };
    let (h, min, s) = (field(11..13).unwrap_or(0), field(14..16).unwrap_or(0), field(17..19).unwrap_or(0));
    let made = ingot_types::calendar::days_from_civil(y, m as u8, d as u8) * 86_400 + h * 3600 + min * 60 + s;
    now - made > days as i64 * 86_400
}
