//! Finding the AMIs an account owns, as `ingot images`, `deregister` and `prune` see them:
//! DescribeImages (`Owners=self`, name and tag filters, disabled ones included), the
//! sizes of their snapshots (DescribeSnapshots), and what references them
//! (DescribeImageReferences).

use crate::ec2::api;
use crate::{Error, Session};
use aws_sdk_ec2::types::{Filter, Image};
use serde::Serialize;
use std::collections::BTreeMap;

/// The tag ingot puts on each copy it makes: `REGION/AMI` of the AMI it copied, so
/// `deregister --copies` finds the copies of an AMI in other regions.
pub const SOURCE_TAG: &str = "ingot:source";
/// The tag ingot puts on an AMI's snapshots just before deregistering it: the AMI's id.
/// A snapshot is only deletable once its AMI is gone; if deleting it then fails, a later
/// `ingot deregister AMI` finds it by this tag and finishes the job. A snapshot that
/// another AMI still maps loses the tag again: it is that AMI's, not a leftover.
pub const DEREGISTERED_TAG: &str = "ingot:deregistered-image";
/// The tag beside [`DEREGISTERED_TAG`]: the deregistered AMI's name, so that a later
/// `ingot prune --name GLOB` finds what an earlier run of it left (EC2's tag filters take
/// the same wildcards as its name filter).
pub const DEREGISTERED_NAME_TAG: &str = "ingot:deregistered-name";
/// Images DescribeImageReferences takes per call: its documented maximum for ImageIds.
const REFERENCE_BATCH: usize = 10;
/// Values one EC2 filter takes per call (DescribeSnapshots by `snapshot-id`): EC2's limit
/// on filter values.
const FILTER_VALUES: usize = 200;

/// Which AMIs to list.
#[derive(Clone, Debug, Default)]
pub struct ImageQuery {
    /// A name pattern as EC2 filters take it (`*` any run of characters, `?` one).
    pub name: Option<String>,
    /// Tags every AMI must carry.
    pub tags: Vec<(String, String)>,
    /// Particular AMIs (any owner: the caller checks `owner_id`).
    pub ids: Vec<String>,
}

/// A snapshot of an AMI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSnapshot {
    /// The snapshot id.
    pub snapshot_id: String,
    /// Its device in the AMI's block device mapping.
    pub device: String,
    /// Its size in GiB, when DescribeSnapshots knows it.
    pub size_gib: Option<i32>,
    /// The account's other AMIs in the region that map it too (`ingot publish` reuses the
    /// snapshot of an unchanged image): it is deleted with the last of them.
    pub shared_with: Vec<String>,
}

/// A resource that references an AMI (DescribeImageReferences).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageReference {
    /// `ec2:Instance`, `ec2:LaunchTemplate`, `ssm:Parameter`, …
    pub resource_type: String,
    /// The resource's ARN.
    pub arn: String,
}

/// An AMI and what belongs to it.
#[derive(Clone, Debug, Serialize)]
pub struct OwnedImage {
    /// Its region.
    pub region: String,
    /// The AMI id.
    pub image_id: String,
    /// Its name.
    pub name: String,
    /// The account that owns it.
    pub owner_id: String,
    /// When it was made (ISO 8601, UTC).
    pub creation_date: Option<String>,
    /// `available`, `pending`, `disabled`, …
    pub state: String,
    /// `x86_64`, `arm64`.
    pub architecture: Option<String>,
    /// `uefi`, `legacy-bios`, `uefi-preferred`, or none given.
    pub boot_mode: Option<String>,
    /// When it is (or was) deprecated.
    pub deprecation_time: Option<String>,
    /// `disabled`, or EC2's description of the protection (`enabled-with-cooldown`, …).
    pub deregistration_protection: Option<String>,
    /// When an instance was last launched from it, if EC2 says.
    pub last_launched_time: Option<String>,
    /// `ebs` or `instance-store`.
    pub root_device_type: Option<String>,
    /// An instance-store AMI's manifest (`BUCKET/KEY`).
    pub image_location: Option<String>,
    /// The account's other AMIs in the region that register the same manifest.
    pub bundle_shared_with: Vec<String>,
    /// Its EBS snapshots.
    pub snapshots: Vec<ImageSnapshot>,
    /// What references it; `None` when DescribeImageReferences could not say.
    pub references: Option<Vec<ImageReference>>,
    /// Why DescribeImageReferences could not say, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_unknown: Option<String>,
    /// For a copy ingot made: `REGION/AMI` of its source ([`SOURCE_TAG`]).
    pub source: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl Session {
    /// The AMIs in `region` that `query` selects, owned by this account unless `query.ids`
    /// names them, newest first, with their snapshots' sizes and references.
    pub fn images(&self, region: &str, query: &ImageQuery) -> Result<Vec<OwnedImage>, Error> {
        let ec2 = self.ec2_in(region);
        self.rt.block_on(async {
            let mut images = describe(&ec2, region, query).await?;
            sizes(&ec2, &mut images).await?;
            sharing(&ec2, &mut images).await?;
            references(&ec2, &mut images).await;
            newest_first(&mut images);
            Ok(images)
        })
    }

    /// For each of `values` (snapshot ids, or manifests as `BUCKET/KEY`), the account's AMIs
    /// in `region` that map it, whatever their name, tags, maker or state (disabled and
    /// deprecated ones included; deregistered ones are not AMIs any more).
    pub fn image_users(
        &self,
        region: &str,
        mapping: Mapping,
        values: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, Error> {
        let ec2 = self.ec2_in(region);
        self.rt.block_on(users(&ec2, mapping, values))
    }
}

/// What of an AMI another AMI can share: the key of [`Session::image_users`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// An EBS snapshot in its block device mapping.
    Snapshot,
    /// An instance-store bundle's manifest, its image location.
    Manifest,
}

impl Mapping {
    /// DescribeImages' filter for it (EC2 API Reference, DescribeImages, Filter.N).
    fn filter(self) -> &'static str {
        match self {
            Mapping::Snapshot => "block-device-mapping.snapshot-id",
            Mapping::Manifest => "manifest-location",
        }
    }

    /// What of it `image` maps.
    fn of(self, image: &Image) -> Vec<&str> {
        match self {
            Mapping::Snapshot => image.block_device_mappings().iter().filter_map(|m| m.ebs()?.snapshot_id()).collect(),
            Mapping::Manifest => image.image_location().into_iter().collect(),
        }
    }
}

/// [`Session::image_users`], in [`FILTER_VALUES`] values a call.
async fn users(
    ec2: &aws_sdk_ec2::Client,
    mapping: Mapping,
    values: &[String],
) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for chunk in values.chunks(FILTER_VALUES) {
        let filter = Filter::builder().name(mapping.filter()).set_values(Some(chunk.to_vec())).build();
        let req = ec2.describe_images().owners("self").include_disabled(true).include_deprecated(true).filters(filter);
        let mut pages = req.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(api("DescribeImages"))?;
            let live = page.images().iter().filter(|i| i.state().is_none_or(|s| s.as_str() != "deregistered"));
            for image in live {
                let id = image.image_id().unwrap_or("").to_string();
                for value in mapping.of(image).into_iter().filter(|v| chunk.iter().any(|c| c == v)) {
                    let ids = out.entry(value.to_string()).or_default();
                    if !ids.contains(&id) {
                        ids.push(id.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Fills in which other AMIs share each image's snapshots and bundle.
async fn sharing(ec2: &aws_sdk_ec2::Client, images: &mut [OwnedImage]) -> Result<(), Error> {
    let snapshots: Vec<String> =
        images.iter().flat_map(|i| i.snapshots.iter().map(|s| s.snapshot_id.clone())).collect();
    let manifests: Vec<String> = images.iter().filter_map(|i| i.image_location.clone()).collect();
    let by_snapshot =
        if snapshots.is_empty() { BTreeMap::new() } else { users(ec2, Mapping::Snapshot, &snapshots).await? };
    let by_manifest =
        if manifests.is_empty() { BTreeMap::new() } else { users(ec2, Mapping::Manifest, &manifests).await? };
    for image in images {
        let me = std::slice::from_ref(&image.image_id);
        for s in &mut image.snapshots {
            s.shared_with = others(by_snapshot.get(&s.snapshot_id), me);
        }
        if let Some(location) = &image.image_location {
            image.bundle_shared_with = others(by_manifest.get(location), me);
        }
    }
    Ok(())
}

/// The AMIs of `users` (what [`Session::image_users`] found for one value) but those in
/// `but`: the image itself, or the AMIs a run retires.
pub(crate) fn others(users: Option<&Vec<String>>, but: &[String]) -> Vec<String> {
    users.into_iter().flatten().filter(|id| !but.contains(id)).cloned().collect()
}

/// Sorts `images` newest first (by creation date, then id): the order every listing of
/// AMIs takes, and the one `ingot prune --keep` counts in.
pub fn newest_first(images: &mut [OwnedImage]) {
    images.sort_by(|a, b| b.creation_date.cmp(&a.creation_date).then(a.image_id.cmp(&b.image_id)));
}

/// DescribeImages, every page, disabled AMIs included.
async fn describe(ec2: &aws_sdk_ec2::Client, region: &str, query: &ImageQuery) -> Result<Vec<OwnedImage>, Error> {
    let mut req = ec2.describe_images().include_disabled(true).include_deprecated(true);
    if query.ids.is_empty() {
        req = req.owners("self");
    } else {
        req = req.set_image_ids(Some(query.ids.clone()));
    }
    if let Some(name) = &query.name {
        req = req.filters(Filter::builder().name("name").values(name).build());
    }
    for (k, v) in &query.tags {
        req = req.filters(Filter::builder().name(format!("tag:{k}")).values(v).build());
    }
    let mut pages = req.into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(api("DescribeImages"))?;
        out.extend(page.images().iter().map(|i| owned(region, i)));
    }
    Ok(out)
}

/// An [`OwnedImage`] of DescribeImages' `image`, without sizes or references yet.
fn owned(region: &str, i: &Image) -> OwnedImage {
    let text = |s: Option<&str>| s.map(str::to_string);
    let tags: BTreeMap<String, String> =
        i.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
    let snapshots = i
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            let snapshot_id = m.ebs()?.snapshot_id()?.to_string();
            let device = m.device_name().unwrap_or("").to_string();
            Some(ImageSnapshot { snapshot_id, device, size_gib: None, shared_with: Vec::new() })
        })
        .collect();
    OwnedImage {
        region: region.to_string(),
        image_id: i.image_id().unwrap_or("").to_string(),
        name: i.name().unwrap_or("").to_string(),
        owner_id: i.owner_id().unwrap_or("").to_string(),
        creation_date: text(i.creation_date()),
        state: i.state().map_or("unknown", |s| s.as_str()).to_string(),
        architecture: i.architecture().map(|a| a.as_str().to_string()),
        boot_mode: i.boot_mode().map(|b| b.as_str().to_string()),
        deprecation_time: text(i.deprecation_time()),
        deregistration_protection: text(i.deregistration_protection()),
        last_launched_time: text(i.last_launched_time()),
        root_device_type: i.root_device_type().map(|t| t.as_str().to_string()),
        image_location: text(i.image_location())
            .filter(|_| i.root_device_type().is_some_and(|t| t.as_str() == "instance-store")),
        bundle_shared_with: Vec::new(),
        snapshots,
        references: None,
        references_unknown: None,
        source: tags.get(SOURCE_TAG).cloned(),
        tags,
    }
}

/// Fills in the snapshots' sizes (DescribeSnapshots of the account's own snapshots).
async fn sizes(ec2: &aws_sdk_ec2::Client, images: &mut [OwnedImage]) -> Result<(), Error> {
    let ids: Vec<String> = images.iter().flat_map(|i| i.snapshots.iter().map(|s| s.snapshot_id.clone())).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut found = BTreeMap::new();
    for chunk in ids.chunks(FILTER_VALUES) {
        let filter = Filter::builder().name("snapshot-id").set_values(Some(chunk.to_vec())).build();
        let mut pages = ec2.describe_snapshots().owner_ids("self").filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            for s in page.map_err(api("DescribeSnapshots"))?.snapshots() {
                if let (Some(id), Some(size)) = (s.snapshot_id(), s.volume_size()) {
                    found.insert(id.to_string(), size);
                }
            }
        }
    }
    for s in images.iter_mut().flat_map(|i| i.snapshots.iter_mut()) {
        s.size_gib = found.get(&s.snapshot_id).copied();
    }
    Ok(())
}

/// Fills in what references each image, when DescribeImageReferences answers; when it
/// does not (no permission, a partition without the API), `references` stays `None`
/// (unknown, not "none") and `references_unknown` says why.
async fn references(ec2: &aws_sdk_ec2::Client, images: &mut [OwnedImage]) {
    let ids: Vec<String> = images.iter().map(|i| i.image_id.clone()).collect();
    let mut found: BTreeMap<String, Vec<ImageReference>> = BTreeMap::new();
    for chunk in ids.chunks(REFERENCE_BATCH) {
        let mut pages = ec2
            .describe_image_references()
            .set_image_ids(Some(chunk.to_vec()))
            .include_all_resource_types(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page.map_err(api("DescribeImageReferences")) {
                Ok(page) => page,
                Err(e) => {
                    images.iter_mut().for_each(|i| i.references_unknown = Some(e.to_string()));
                    return;
                }
            };
            for r in page.image_references() {
                let reference = ImageReference {
                    resource_type: r.resource_type().map_or("", |t| t.as_str()).to_string(),
                    arn: r.arn().unwrap_or("").to_string(),
                };
                found.entry(r.image_id().unwrap_or("").to_string()).or_default().push(reference);
            }
        }
    }
    for i in images {
        i.references = Some(found.remove(&i.image_id).unwrap_or_default());
    }
}
