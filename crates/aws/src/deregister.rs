//! Retiring an AMI: the checks that keep one (another owner, deregistration protection,
//! something that references it, a snapshot another AMI maps), then DeregisterImage and
//! the deletion of what it leaves behind: its EBS snapshots, or its bundle in S3.
//!
//! Order makes a failure halfway recoverable. A snapshot cannot be deleted while an AMI
//! maps it, so an EBS AMI's snapshots are first tagged [`DEREGISTERED_TAG`] = the AMI,
//! then the AMI is deregistered, then each snapshot deleted; a snapshot left by a failed
//! delete is found by its tag when the same AMI is retired again. A bundle is deleted
//! before its AMI (parts, then the manifest), so while anything of it is left the AMI
//! still names it.

use crate::ec2::api;
use crate::images::{ImageReference, OwnedImage, DEREGISTERED_TAG, SOURCE_TAG};
use crate::{Error, ImageQuery, Session};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, Tag};
use serde::Serialize;

/// Reads an instance-store AMI's manifest (its bytes) into the file names of its parts,
/// or says why it cannot (the manifest format lives in `ingot-bundle`, which this crate
/// does not link).
pub type BundleKeys = dyn Fn(&[u8]) -> Result<Vec<String>, String>;

/// Why an AMI is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Kept {
    /// Another account owns it.
    NotOwned {
        /// The owner.
        owner_id: String,
    },
    /// Deregistration protection is on, or in its cooldown (EC2's description of it).
    Protected {
        /// `enabled-with-cooldown`, `disabled-until …`, …
        protection: String,
    },
    /// Something references it (DescribeImageReferences); `--force` deregisters anyway.
    Referenced {
        /// What.
        references: Vec<ImageReference>,
    },
    /// DescribeImageReferences could not say whether anything references it.
    ReferencesUnknown {
        /// Why.
        why: String,
    },
    /// Its bundle (the manifest in S3) is another AMI's too: `ingot publish
    /// --instance-store` reuses a bundle whose image has not changed.
    BundleShared {
        /// The manifest, `BUCKET/KEY`.
        location: String,
        /// The other AMI.
        image_id: String,
    },
    /// One of its snapshots is another AMI's too.
    SnapshotShared {
        /// The snapshot.
        snapshot_id: String,
        /// The other AMI.
        image_id: String,
    },
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kept::NotOwned { owner_id } => write!(f, "owned by account {owner_id}, not this one"),
            Kept::Protected { protection } => {
                write!(f, "deregistration protection is on ({protection}): disable it first")
            }
            Kept::Referenced { references } => {
                let what: Vec<String> = references.iter().map(|r| format!("{} {}", r.resource_type, r.arn)).collect();
                write!(f, "referenced by {} (--force deregisters it anyway)", what.join(", "))
            }
            Kept::ReferencesUnknown { why } => {
                write!(f, "cannot tell what references it ({why}); --force deregisters it anyway")
            }
            Kept::BundleShared { location, image_id } => {
                write!(f, "its bundle s3://{location} is also {image_id}'s")
            }
            Kept::SnapshotShared { snapshot_id, image_id } => {
                write!(f, "its snapshot {snapshot_id} is also {image_id}'s")
            }
        }
    }
}

/// What became of an AMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Deregistered now (what it left may still be listed in `left`).
    Deregistered,
    /// A dry run: it would be deregistered.
    WouldDeregister,
    /// Kept, for the reason given.
    Kept,
    /// It was gone already (deregistered earlier); leftovers found by tag are deleted.
    AlreadyGone,
    /// Disabled now (`disable_only`): hidden, kept with its snapshots.
    Disabled,
    /// A dry run of `disable_only`: it would be disabled.
    WouldDisable,
    /// An API call failed (in `error`); what was done before it is listed.
    Failed,
}

/// Something that could not be deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Left {
    /// The snapshot id, or the bundle object as `BUCKET/KEY`.
    pub id: String,
    /// Why.
    pub error: String,
}

/// What retiring one AMI did.
#[derive(Clone, Debug, Serialize)]
pub struct Retired {
    /// Its region.
    pub region: String,
    /// The AMI.
    pub image_id: String,
    /// Its name, when it still existed.
    pub name: Option<String>,
    /// What became of it.
    pub status: Status,
    /// Why it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<Kept>,
    /// Snapshots deleted (or, dry, to delete).
    pub snapshots_deleted: Vec<String>,
    /// Bundle objects deleted (or, dry, to delete), as `BUCKET/KEY`.
    pub objects_deleted: Vec<String>,
    /// What is left that should have gone: run the same command again to finish.
    pub left: Vec<Left>,
    /// Why it failed ([`Status::Failed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Retired {
    /// Nothing done yet to `image_id` in `region` (status `already-gone` until found).
    pub fn new(region: &str, image_id: &str) -> Retired {
        Retired {
            region: region.to_string(),
            image_id: image_id.to_string(),
            name: None,
            status: Status::AlreadyGone,
            kept: None,
            snapshots_deleted: Vec::new(),
            objects_deleted: Vec::new(),
            left: Vec::new(),
            error: None,
        }
    }

    /// A failure to retire `image_id` in `region` (or to look for its copies there).
    pub fn failed(region: &str, image_id: &str, error: String) -> Retired {
        Retired { status: Status::Failed, error: Some(error), ..Retired::new(region, image_id) }
    }

    /// Whether it calls for a non-zero exit: kept, failed, or something left.
    pub fn unfinished(&self) -> bool {
        matches!(self.status, Status::Kept | Status::Failed) || !self.left.is_empty()
    }
}

/// How to retire.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetireOptions {
    /// Deregister even when something references the AMI (or it cannot be told).
    pub force: bool,
    /// Check and report only; change nothing.
    pub dry_run: bool,
    /// Disable the AMI (DisableImage: hidden from DescribeImages, no new launches, its
    /// launch permissions dropped) instead of deregistering it; nothing is deleted.
    pub disable_only: bool,
}

impl Session {
    /// Whether `image` must be kept, and why: the first reason found.
    pub fn keep_reason(&self, image: &OwnedImage, account: &str, force: bool) -> Result<Option<Kept>, Error> {
        if image.owner_id != account {
            return Ok(Some(Kept::NotOwned { owner_id: image.owner_id.clone() }));
        }
        if let Some(p) = image.deregistration_protection.as_deref().filter(|p| *p != "disabled") {
            return Ok(Some(Kept::Protected { protection: p.to_string() }));
        }
        if !force {
            match (&image.references, &image.references_unknown) {
                (Some(r), _) if !r.is_empty() => return Ok(Some(Kept::Referenced { references: r.clone() })),
                (None, why) => {
                    let why = why.clone().unwrap_or_else(|| "no answer".into());
                    return Ok(Some(Kept::ReferencesUnknown { why }));
                }
                _ => {}
            }
        }
        let shared = image
            .snapshots
            .iter()
            .map(|s| ("block-device-mapping.snapshot-id", s.snapshot_id.as_str()))
            .chain(image.image_location.as_deref().map(|l| ("manifest-location", l)));
        for (filter, value) in shared {
            let Some(other) = self.other_image(image, filter, value)? else { continue };
            return Ok(Some(match filter {
                "manifest-location" => Kept::BundleShared { location: value.into(), image_id: other },
                _ => Kept::SnapshotShared { snapshot_id: value.into(), image_id: other },
            }));
        }
        Ok(None)
    }

    /// Another of the account's AMIs in `image`'s region whose `filter` matches `value`.
    fn other_image(&self, image: &OwnedImage, filter: &str, value: &str) -> Result<Option<String>, Error> {
        let ec2 = self.ec2_in(&image.region);
        let filter = Filter::builder().name(filter).values(value).build();
        let mut pages =
            ec2.describe_images().owners("self").include_disabled(true).filters(filter).into_paginator().send();
        while let Some(page) = self.rt.block_on(pages.next()) {
            let page = page.map_err(api("DescribeImages"))?;
            if let Some(other) = page.images().iter().filter_map(|i| i.image_id()).find(|id| *id != image.image_id) {
                return Ok(Some(other.to_string()));
            }
        }
        Ok(None)
    }

    /// Retires the AMI `image_id` in `region` unless [`Session::keep_reason`] keeps it.
    /// `bundle_keys` reads an instance-store AMI's manifest (its bytes) into the keys of
    /// its parts. An AMI that is gone already has its leftover snapshots (found by
    /// [`DEREGISTERED_TAG`]) deleted; an id EC2 never knew is an error.
    pub fn retire(
        &self,
        region: &str,
        image_id: &str,
        account: &str,
        opts: RetireOptions,
        bundle_keys: &BundleKeys,
    ) -> Result<Retired, Error> {
        let query = ImageQuery { ids: vec![image_id.to_string()], ..ImageQuery::default() };
        let mut retired = Retired::new(region, image_id);
        // EC2 lists a deregistered AMI for a while (state `deregistered`), then lists
        // nothing for it, then answers InvalidAMIID.NotFound: each means gone, and what is
        // left of it is found by tag. NotFound with nothing left is an unknown id.
        let found = match self.images(region, &query) {
            Ok(images) => images.into_iter().find(|i| i.state != "deregistered").ok_or(None),
            Err(e) if e.code() == Some("InvalidAMIID.NotFound") => Err(Some(e)),
            Err(e) => return Err(e),
        };
        let image = match found {
            Ok(image) => image,
            Err(not_found) => {
                let leftovers = self.tagged_leftovers(region, image_id)?;
                if let (Some(_), true) = (not_found, leftovers.is_empty()) {
                    return Err(Error::Invalid(format!(
                        "EC2 does not know {image_id} in {region} (InvalidAMIID.NotFound: never registered there, or deregistered long ago) and no snapshot tagged as its leftover remains"
                    )));
                }
                self.delete_snapshots(region, &leftovers, opts.dry_run, &mut retired);
                return Ok(retired);
            }
        };
        retired.name = Some(image.name.clone());
        if opts.disable_only {
            self.disable(&image, account, opts.dry_run, &mut retired)?;
            return Ok(retired);
        }
        if let Some(kept) = self.keep_reason(&image, account, opts.force)? {
            retired.status = Status::Kept;
            retired.kept = Some(kept);
            return Ok(retired);
        }
        retired.status = if opts.dry_run { Status::WouldDeregister } else { Status::Deregistered };
        if let Some(location) = &image.image_location {
            self.delete_bundle(region, location, opts.dry_run, bundle_keys, &mut retired)?;
            if !retired.left.is_empty() {
                retired.status = Status::Kept;
                return Ok(retired);
            }
        }
        let snapshots: Vec<String> = image.snapshots.iter().map(|s| s.snapshot_id.clone()).collect();
        if !opts.dry_run {
            let ec2 = self.ec2_in(region);
            if !snapshots.is_empty() {
                // A copy's snapshots also carry its source, so that `--copies` finds what a
                // failed run left of a copy once the copy itself is gone.
                let mut tags = vec![Tag::builder().key(DEREGISTERED_TAG).value(image_id).build()];
                tags.extend(image.source.iter().map(|s| Tag::builder().key(SOURCE_TAG).value(s).build()));
                let tagging = ec2.create_tags().set_resources(Some(snapshots.clone())).set_tags(Some(tags)).send();
                self.rt.block_on(tagging).map_err(api("CreateTags"))?;
            }
            self.rt.block_on(ec2.deregister_image().image_id(image_id).send()).map_err(api("DeregisterImage"))?;
        }
        self.delete_snapshots(region, &snapshots, opts.dry_run, &mut retired);
        Ok(retired)
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

    /// The copies of `source` (`REGION/AMI`) in `region` that were deregistered with
    /// snapshots left behind: their ids, read from the snapshots' [`DEREGISTERED_TAG`].
    pub fn leftover_copies(&self, region: &str, source: &str) -> Result<Vec<String>, Error> {
        let of_source = Filter::builder().name(format!("tag:{SOURCE_TAG}")).values(source).build();
        let deregistered = Filter::builder().name("tag-key").values(DEREGISTERED_TAG).build();
        let mut ids: Vec<String> = self
            .own_snapshots(region, vec![of_source, deregistered])?
            .iter()
            .flat_map(|s| s.tags().iter())
            .filter(|t| t.key() == Some(DEREGISTERED_TAG))
            .filter_map(|t| t.value().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Deletes `snapshots`, noting each deleted, gone already, or left with its error.
    fn delete_snapshots(&self, region: &str, snapshots: &[String], dry_run: bool, retired: &mut Retired) {
        let ec2 = self.ec2_in(region);
        for id in snapshots {
            if dry_run {
                retired.snapshots_deleted.push(id.clone());
                continue;
            }
            match self.rt.block_on(ec2.delete_snapshot().snapshot_id(id).send()) {
                Ok(_) => retired.snapshots_deleted.push(id.clone()),
                Err(e) if e.code() == Some("InvalidSnapshot.NotFound") => {}
                Err(e) => retired.left.push(Left { id: id.clone(), error: api("DeleteSnapshot")(e).to_string() }),
            }
        }
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
