//! What retiring AMIs reports: why an AMI is kept, what became of it, what it left and
//! what it kept because another AMI still uses it. The work itself is in `retire.rs`.

use crate::images::ImageReference;
use serde::Serialize;

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
    /// It is a copy, and the AMI it was copied from is kept: copies go with their source.
    SourceKept {
        /// The source, `REGION/AMI`.
        source: String,
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
                write!(f, "referenced by {} (`force` deregisters it anyway)", what.join(", "))
            }
            Kept::ReferencesUnknown { why } => {
                write!(f, "cannot tell what references it ({why}); `force` deregisters it anyway")
            }
            Kept::SourceKept { source } => write!(f, "its source {source} is kept"),
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

/// A snapshot or bundle an AMI no longer needs that is kept because other AMIs of the
/// account still map it: it goes with the last of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StillUsed {
    /// The snapshot id, or the bundle's manifest as `BUCKET/KEY`.
    pub id: String,
    /// The AMIs that map it.
    pub by: Vec<String>,
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
    /// Its snapshots kept because other AMIs still map them.
    pub snapshots_kept: Vec<StillUsed>,
    /// Its bundle, kept because other AMIs still register it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_kept: Option<StillUsed>,
    /// What is left that should have gone: run the same command again to finish.
    pub left: Vec<Left>,
    /// Why it failed ([`Status::Failed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True in a dry run: the deletions listed are the ones that would be done.
    pub dry_run: bool,
    /// For a copy retired with its source: the source, `REGION/AMI`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
    /// Snapshots this AMI no longer maps, deleted at the end of the run unless another
    /// AMI still maps them.
    #[serde(skip)]
    pub(crate) freed: Vec<String>,
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
            snapshots_kept: Vec::new(),
            bundle_kept: None,
            left: Vec::new(),
            error: None,
            dry_run: false,
            copy_of: None,
            freed: Vec::new(),
        }
    }

    /// `image_id` in `region` kept for `why`, nothing done to it.
    pub fn kept(region: &str, image_id: &str, why: Kept) -> Retired {
        Retired { status: Status::Kept, kept: Some(why), ..Retired::new(region, image_id) }
    }

    /// A failure to retire `image_id` in `region` (or to look for its copies there).
    pub fn failed(region: &str, image_id: &str, error: String) -> Retired {
        Retired { status: Status::Failed, error: Some(error), ..Retired::new(region, image_id) }
    }

    /// Whether it calls for a non-zero exit: kept, failed, or something left (a snapshot
    /// or bundle kept because another AMI uses it is not).
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
