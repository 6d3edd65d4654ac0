//! Retiring AMIs: the checks that keep one (another owner, deregistration protection,
//! something that references it), then DeregisterImage, then the deletion of what it
//! leaves that no AMI of the account uses any more: its EBS snapshots, or its bundle in S3.
//!
//! Retiring an AMI and deleting a snapshot are two decisions. `ingot publish` gives an
//! unchanged image the snapshot it already has, so several AMIs (versions that differ
//! only in name, tags or description) can map one snapshot or register one bundle. A
//! [`Retirement`] deregisters every AMI it is asked to first, then deletes each snapshot
//! they freed that no other AMI of the account in that region maps (DescribeImages by
//! `block-device-mapping.snapshot-id`, any name, disabled and deprecated ones included):
//! the last AMI of a shared snapshot takes it along, and one still used is reported as
//! kept, with its users.
//!
//! Order makes a failure halfway recoverable. A snapshot cannot be deleted while an AMI
//! maps it, so an EBS AMI's snapshots are first tagged [`DEREGISTERED_TAG`] = the AMI (and
//! [`DEREGISTERED_NAME_TAG`] = its name), then the AMI is deregistered, then each snapshot
//! deleted; a snapshot left by a failed delete is found by its tags when the same AMI is
//! retired again, or by `prune` with the same name. A bundle is deleted before its AMI
//! (parts, then the manifest) when no other AMI registers it, so while anything of it is
//! left the AMI still names it; one that others register stays.

use crate::deregister::{Kept, Left, RetireOptions, Retired, Status, StillUsed};
use crate::ec2::api;
use crate::images::{others, Mapping, OwnedImage, DEREGISTERED_NAME_TAG, DEREGISTERED_TAG, SOURCE_TAG};
use crate::{Error, ImageQuery, Session};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, Tag};

/// Reads an instance-store AMI's manifest (its bytes) into the file names of its parts,
/// or says why it cannot (the manifest format lives in `ingot-bundle`, which this crate
/// does not link).
pub type BundleKeys = dyn Fn(&[u8]) -> Result<Vec<String>, String>;

/// One run of `deregister` or `prune`: AMIs retired one by one with [`Retirement::retire`],
/// then [`Retirement::finish`] deletes the snapshots they freed that no AMI maps any more.
///
/// ```no_run
/// # fn main() -> Result<(), ingot_aws::Error> {
/// let session = ingot_aws::Session::connect(&ingot_aws::Connect::default())?;
/// let account = session.account_id()?;
/// let no_bundles = |_: &[u8]| -> Result<Vec<String>, String> { Err("no bundles here".into()) };
/// let mut run = ingot_aws::Retirement::new(&session, &account, Default::default(), &no_bundles);
/// run.retire("us-east-1", "ami-0123456789abcdef0");
/// for r in run.finish() {
///     println!("{} {:?} deleted {:?} kept {:?}", r.image_id, r.status, r.snapshots_deleted, r.snapshots_kept);
/// }
/// # Ok(()) }
/// ```
pub struct Retirement<'a> {
    session: &'a Session,
    account: &'a str,
    opts: RetireOptions,
    bundle_keys: &'a BundleKeys,
    done: Vec<Retired>,
}

impl<'a> Retirement<'a> {
    /// A run in `account` (its AMIs only are retired) with `opts`; `bundle_keys` reads an
    /// instance-store AMI's manifest into the keys of its parts.
    pub fn new(session: &'a Session, account: &'a str, opts: RetireOptions, bundle_keys: &'a BundleKeys) -> Self {
        Retirement { session, account, opts, bundle_keys, done: Vec::new() }
    }

    /// Retires the AMI `image_id` in `region` unless a [`Kept`] reason keeps it; its
    /// snapshots are deleted by [`Retirement::finish`]. An AMI that is gone already has
    /// its leftover snapshots (found by [`DEREGISTERED_TAG`]) deleted then; an id EC2
    /// never knew, or any failed call, is reported as [`Status::Failed`].
    pub fn retire(&mut self, region: &str, image_id: &str) -> &Retired {
        let retired =
            self.retire_one(region, image_id).unwrap_or_else(|e| Retired::failed(region, image_id, e.to_string()));
        self.report(retired)
    }

    /// [`Retirement::retire`] of a copy of `source` (`REGION/AMI`), noted in `copy_of`.
    pub fn retire_copy(&mut self, region: &str, image_id: &str, source: String) -> &Retired {
        self.retire(region, image_id);
        let last = self.done.len() - 1;
        self.done[last].copy_of = Some(source);
        &self.done[last]
    }

    /// Adds `retired` to the run's report as it is (a plan's kept AMI, or a failure found
    /// elsewhere), so that the report keeps the order AMIs were met in.
    pub fn report(&mut self, mut retired: Retired) -> &Retired {
        retired.dry_run = self.opts.dry_run;
        self.done.push(retired);
        &self.done[self.done.len() - 1]
    }

    /// Deletes (or, dry, lists) the snapshots the run's AMIs freed that no other AMI of the
    /// account maps; one that another AMI maps is reported in `snapshots_kept` and loses
    /// the run's deregistration tags (it is that AMI's, not a leftover). Returns what
    /// became of each AMI, in the order met.
    pub fn finish(mut self) -> Vec<Retired> {
        let (session, dry_run) = (self.session, self.opts.dry_run);
        let mut regions: Vec<String> =
            self.done.iter().filter(|r| !r.freed.is_empty()).map(|r| r.region.clone()).collect();
        regions.sort();
        regions.dedup();
        for region in regions {
            let mut freed: Vec<String> =
                self.done.iter().filter(|r| r.region == region).flat_map(|r| r.freed.iter().cloned()).collect();
            freed.sort();
            freed.dedup();
            // A snapshot two of the run's AMIs freed is deleted (or untagged) once, by the
            // first; each reports it kept when it is.
            let mut handled = std::collections::BTreeSet::new();
            let users = session.image_users(&region, Mapping::Snapshot, &freed);
            let retiring = self.retiring(&region);
            for r in self.done.iter_mut().filter(|r| r.region == region) {
                for snapshot in std::mem::take(&mut r.freed) {
                    let first = handled.insert(snapshot.clone());
                    let by = match &users {
                        Ok(users) => others(users.get(&snapshot), &retiring),
                        Err(e) if first => {
                            r.left.push(Left { id: snapshot, error: e.to_string() });
                            continue;
                        }
                        Err(_) => continue,
                    };
                    if !by.is_empty() {
                        if first && !dry_run {
                            session.untag_leftover(&region, &snapshot);
                        }
                        r.snapshots_kept.push(StillUsed { id: snapshot, by });
                    } else if first {
                        session.delete_snapshot(&region, &snapshot, dry_run, r);
                    }
                }
            }
        }
        self.done
    }

    /// The AMIs in `region` this run deregisters (or, dry, would): they do not count as
    /// users of what they share.
    fn retiring(&self, region: &str) -> Vec<String> {
        let gone = |s: Status| matches!(s, Status::Deregistered | Status::WouldDeregister | Status::AlreadyGone);
        self.done.iter().filter(|r| r.region == region && gone(r.status)).map(|r| r.image_id.clone()).collect()
    }

    fn retire_one(&self, region: &str, image_id: &str) -> Result<Retired, Error> {
        let session = self.session;
        let query = ImageQuery { ids: vec![image_id.to_string()], ..ImageQuery::default() };
        let mut retired = Retired::new(region, image_id);
        // EC2 lists a deregistered AMI for a while (state `deregistered`), then lists
        // nothing for it, then answers InvalidAMIID.NotFound: each means gone, and what is
        // left of it is found by tag. NotFound with nothing left is an unknown id.
        let found = match session.images(region, &query) {
            Ok(images) => images.into_iter().find(|i| i.state != "deregistered").ok_or(None),
            Err(e) if e.code() == Some("InvalidAMIID.NotFound") => Err(Some(e)),
            Err(e) => return Err(e),
        };
        let image = match found {
            Ok(image) => image,
            Err(not_found) => {
                let leftovers = session.tagged_leftovers(region, image_id)?;
                if let (Some(_), true) = (not_found, leftovers.is_empty()) {
                    return Err(Error::Invalid(format!(
                        "EC2 does not know {image_id} in {region} (InvalidAMIID.NotFound: never registered there, or deregistered long ago) and no snapshot tagged as its leftover remains"
                    )));
                }
                retired.freed = leftovers;
                return Ok(retired);
            }
        };
        retired.name = Some(image.name.clone());
        if self.opts.disable_only {
            session.disable(&image, self.account, self.opts.dry_run, &mut retired)?;
            return Ok(retired);
        }
        if let Some(kept) = keep_reason(&image, self.account, self.opts.force) {
            retired.status = Status::Kept;
            retired.kept = Some(kept);
            return Ok(retired);
        }
        retired.status = if self.opts.dry_run { Status::WouldDeregister } else { Status::Deregistered };
        if let Some(location) = &image.image_location {
            let users = session.image_users(region, Mapping::Manifest, std::slice::from_ref(location))?;
            let mut retiring = self.retiring(region);
            retiring.push(image_id.to_string());
            let by = others(users.get(location), &retiring);
            if !by.is_empty() {
                retired.bundle_kept = Some(StillUsed { id: location.clone(), by });
            } else {
                session.delete_bundle(region, location, self.opts.dry_run, self.bundle_keys, &mut retired)?;
                if !retired.left.is_empty() {
                    retired.status = Status::Kept;
                    return Ok(retired);
                }
            }
        }
        retired.freed = image.snapshots.iter().map(|s| s.snapshot_id.clone()).collect();
        if !self.opts.dry_run {
            session.deregister(&image, &retired.freed)?;
        }
        Ok(retired)
    }
}

/// Whether `image` must be kept, and why: the first reason found. What it shares with
/// other AMIs keeps no AMI: the shared part stays with them.
fn keep_reason(image: &OwnedImage, account: &str, force: bool) -> Option<Kept> {
    if image.owner_id != account {
        return Some(Kept::NotOwned { owner_id: image.owner_id.clone() });
    }
    if let Some(p) = image.deregistration_protection.as_deref().filter(|p| *p != "disabled") {
        return Some(Kept::Protected { protection: p.to_string() });
    }
    if force {
        return None;
    }
    match (&image.references, &image.references_unknown) {
        (Some(r), _) if !r.is_empty() => Some(Kept::Referenced { references: r.clone() }),
        (None, why) => Some(Kept::ReferencesUnknown { why: why.clone().unwrap_or_else(|| "no answer".into()) }),
        _ => None,
    }
}

impl Session {
    /// Tags `snapshots` as left by `image`, then DeregisterImage.
    fn deregister(&self, image: &OwnedImage, snapshots: &[String]) -> Result<(), Error> {
        let ec2 = self.ec2_in(&image.region);
        if !snapshots.is_empty() {
            // A copy's snapshots also carry its source, so that `--copies` finds what a
            // failed run left of a copy once the copy itself is gone.
            let mut tags = vec![
                Tag::builder().key(DEREGISTERED_TAG).value(&image.image_id).build(),
                Tag::builder().key(DEREGISTERED_NAME_TAG).value(&image.name).build(),
            ];
            tags.extend(image.source.iter().map(|s| Tag::builder().key(SOURCE_TAG).value(s).build()));
            let tagging = ec2.create_tags().set_resources(Some(snapshots.to_vec())).set_tags(Some(tags)).send();
            self.rt.block_on(tagging).map_err(api("CreateTags"))?;
        }
        let deregistered = self.rt.block_on(ec2.deregister_image().image_id(&image.image_id).send());
        if let Err(e) = deregistered {
            // The AMI stays: its snapshots are not leftovers (best effort, as above).
            for snapshot in snapshots {
                self.untag_leftover(&image.region, snapshot);
            }
            return Err(api("DeregisterImage")(e));
        }
        Ok(())
    }

    /// DisableImage of `image`, unless another account owns it or it is disabled already.
    fn disable(&self, image: &OwnedImage, account: &str, dry_run: bool, retired: &mut Retired) -> Result<(), Error> {
        if image.owner_id != account {
            retired.status = Status::Kept;
            retired.kept = Some(Kept::NotOwned { owner_id: image.owner_id.clone() });
            return Ok(());
        }
        retired.status = match (image.state.as_str(), dry_run) {
            ("disabled", _) => Status::Disabled,
            (_, true) => Status::WouldDisable,
            (_, false) => {
                let ec2 = self.ec2_in(&image.region);
                self.rt.block_on(ec2.disable_image().image_id(&image.image_id).send()).map_err(api("DisableImage"))?;
                Status::Disabled
            }
        };
        Ok(())
    }

    /// The account's snapshots tagged as left by the deregistration of `image_id`.
    fn tagged_leftovers(&self, region: &str, image_id: &str) -> Result<Vec<String>, Error> {
        let filter = Filter::builder().name(format!("tag:{DEREGISTERED_TAG}")).values(image_id).build();
        let snapshots = self.own_snapshots(region, vec![filter])?;
        Ok(snapshots.iter().filter_map(|s| s.snapshot_id()).map(str::to_string).collect())
    }

    /// The AMIs whose deregistration left snapshots in `region` and whose name matched
    /// `pattern` (EC2's wildcards), read from the snapshots' tags: what an interrupted or
    /// failed `prune --name PATTERN` left to finish.
    pub fn leftover_images(&self, region: &str, pattern: &str) -> Result<Vec<String>, Error> {
        let named = Filter::builder().name(format!("tag:{DEREGISTERED_NAME_TAG}")).values(pattern).build();
        let deregistered = Filter::builder().name("tag-key").values(DEREGISTERED_TAG).build();
        self.deregistered_ids(region, vec![named, deregistered])
    }

    /// [`Session::leftover_images`] of the copies in `region` of AMIs made in
    /// `source_region` (their snapshots carry [`SOURCE_TAG`] `source_region/…`): what a
    /// prune of `source_region` left in a region it was not told to search.
    pub fn leftover_copy_images(&self, region: &str, pattern: &str, source_region: &str) -> Result<Vec<String>, Error> {
        let named = Filter::builder().name(format!("tag:{DEREGISTERED_NAME_TAG}")).values(pattern).build();
        let copied = Filter::builder().name(format!("tag:{SOURCE_TAG}")).values(format!("{source_region}/*")).build();
        let deregistered = Filter::builder().name("tag-key").values(DEREGISTERED_TAG).build();
        self.deregistered_ids(region, vec![named, copied, deregistered])
    }

    /// The copies of `source` (`REGION/AMI`) in `region` that were deregistered with
    /// snapshots left behind: their ids, read from the snapshots' [`DEREGISTERED_TAG`].
    pub fn leftover_copies(&self, region: &str, source: &str) -> Result<Vec<String>, Error> {
        let of_source = Filter::builder().name(format!("tag:{SOURCE_TAG}")).values(source).build();
        let deregistered = Filter::builder().name("tag-key").values(DEREGISTERED_TAG).build();
        self.deregistered_ids(region, vec![of_source, deregistered])
    }

    /// The [`DEREGISTERED_TAG`] values of the account's snapshots that `filters` select.
    fn deregistered_ids(&self, region: &str, filters: Vec<Filter>) -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = self
            .own_snapshots(region, filters)?
            .iter()
            .flat_map(|s| s.tags().iter())
            .filter(|t| t.key() == Some(DEREGISTERED_TAG))
            .filter_map(|t| t.value().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The account's snapshots in `region` that `filters` select, every page.
    fn own_snapshots(&self, region: &str, filters: Vec<Filter>) -> Result<Vec<aws_sdk_ec2::types::Snapshot>, Error> {
        let ec2 = self.ec2_in(region);
        let mut pages = ec2.describe_snapshots().owner_ids("self").set_filters(Some(filters)).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = self.rt.block_on(pages.next()) {
            out.extend(page.map_err(api("DescribeSnapshots"))?.snapshots().iter().cloned());
        }
        Ok(out)
    }

    /// Deletes `snapshot`, noting it deleted, gone already, or left with its error.
    fn delete_snapshot(&self, region: &str, snapshot: &str, dry_run: bool, retired: &mut Retired) {
        if dry_run {
            retired.snapshots_deleted.push(snapshot.to_string());
            return;
        }
        let ec2 = self.ec2_in(region);
        match self.rt.block_on(ec2.delete_snapshot().snapshot_id(snapshot).send()) {
            Ok(_) => retired.snapshots_deleted.push(snapshot.to_string()),
            Err(e) if e.code() == Some("InvalidSnapshot.NotFound") => {}
            Err(e) => retired.left.push(Left { id: snapshot.to_string(), error: api("DeleteSnapshot")(e).to_string() }),
        }
    }

    /// Removes the deregistration tags from `snapshot`, which another AMI still maps, best
    /// effort: a tag left (no `ec2:DeleteTags`) is harmless, as every deletion asks first
    /// whether an AMI maps the snapshot; a later run tries again.
    fn untag_leftover(&self, region: &str, snapshot: &str) {
        let ec2 = self.ec2_in(region);
        let tags = [DEREGISTERED_TAG, DEREGISTERED_NAME_TAG].map(|k| Tag::builder().key(k).build());
        let untag = ec2.delete_tags().resources(snapshot).set_tags(Some(tags.to_vec())).send();
        let _ = self.rt.block_on(untag);
    }

    /// Deletes an instance-store AMI's bundle: its parts, then its manifest `location`.
    fn delete_bundle(
        &self,
        region: &str,
        location: &str,
        dry_run: bool,
        bundle_keys: &BundleKeys,
        retired: &mut Retired,
    ) -> Result<(), Error> {
        let (bucket, manifest) = location.split_once('/').unwrap_or((location, ""));
        let Some(xml) = self.get_object(region, bucket, manifest)? else {
            return Ok(()); // deleted by an earlier run: only the AMI is left
        };
        let dir = manifest.rsplit_once('/').map_or("", |(d, _)| d);
        let parts = bundle_keys(&xml).map_err(|e| Error::Protocol(format!("{location}: {e}")))?;
        let keys = parts.iter().map(|p| if dir.is_empty() { p.clone() } else { format!("{dir}/{p}") });
        for key in keys.chain([manifest.to_string()]) {
            if !dry_run {
                if let Err(e) = self.delete_objects(region, bucket, std::slice::from_ref(&key)) {
                    retired.left.push(Left { id: format!("{bucket}/{key}"), error: e.to_string() });
                    return Ok(());
                }
            }
            retired.objects_deleted.push(format!("{bucket}/{key}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_s_own_amis_are_not_users() {
        let users = vec!["ami-1".to_string(), "ami-2".to_string(), "ami-3".to_string()];
        assert_eq!(others(Some(&users), &["ami-1".into(), "ami-3".into()]), ["ami-2"]);
        assert_eq!(others(None, &[]), Vec::<String>::new());
    }
}
