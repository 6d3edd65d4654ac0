//! The EC2 calls of a publish, as [`Session`] methods.

use crate::ec2::{api, tags};
use crate::images::SOURCE_TAG;
use crate::{AmiRoot, AmiSpec, Error, LaunchPermissions, PublishedImage, RegisterReport, Session};
use aws_sdk_ec2::types::{
    ArchitectureValues, BlockDeviceMapping, BootModeValues, EbsBlockDevice, Filter, ImageState, ImdsSupportValues,
    LaunchPermission, LaunchPermissionModifications, PermissionGroup, ResourceType, SnapshotState, Tag,
    TpmSupportValues, VolumeType,
};
use ingot_types::control::Control;
use ingot_types::{BootMode, Protection};
use std::time::{Duration, Instant};

/// Bounds of the waits of a registration, and what to do about existing AMIs.
#[derive(Clone, Debug)]
pub struct RegisterOptions {
    /// Replace an AMI of the same name instead of reusing it.
    pub force: bool,
    /// How long to wait for the snapshot to complete.
    pub snapshot_timeout: Duration,
    /// How long to wait for each AMI (a copy, or one an SSM parameter is to name) to
    /// become available.
    pub copy_timeout: Duration,
    /// Time between two polls.
    pub poll: Duration,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            force: false,
            snapshot_timeout: Duration::from_secs(3600),
            copy_timeout: Duration::from_secs(3600),
            poll: Duration::from_secs(5),
        }
    }
}

impl Session {
    /// The id of this account's AMI named `name` in the session's region, if any.
    pub fn find_image(&self, name: &str) -> Result<Option<String>, Error> {
        self.rt.block_on(find_image(&self.ec2, name))
    }

    /// The id of this account's AMI named `name` in `region`, if any.
    pub fn find_image_in(&self, region: &str, name: &str) -> Result<Option<String>, Error> {
        self.rt.block_on(find_image(&self.ec2_in(region), name))
    }

    /// Waits until `snapshot` is `completed`; `tick` gets its progress ("42%").
    pub fn wait_snapshot(&self, snapshot: &str, opts: &RegisterOptions, tick: &dyn Fn(&str)) -> Result<(), Error> {
        self.rt.block_on(async {
            let started = Instant::now();
            loop {
                let out = self
                    .ec2
                    .describe_snapshots()
                    .snapshot_ids(snapshot)
                    .send()
                    .await
                    .map_err(api("DescribeSnapshots"))?;
                let s = out.snapshots().first().ok_or_else(|| {
                    Error::Protocol(format!("DescribeSnapshots does not know {snapshot} in {}", self.region))
                })?;
                match s.state() {
                    Some(SnapshotState::Completed) => return Ok(()),
                    Some(SnapshotState::Error) => {
                        return Err(Error::Protocol(format!(
                            "snapshot {snapshot} failed: {}",
                            s.state_message().unwrap_or("no reason given")
                        )))
                    }
                    _ => tick(s.progress().unwrap_or("")),
                }
                self.control.check()?;
                if started.elapsed() > opts.snapshot_timeout {
                    return Err(Error::WaitTimeout {
                        what: format!("snapshot {snapshot}"),
                        seconds: opts.snapshot_timeout.as_secs(),
                        hint: "; run `ingot register` later with the snapshot id".into(),
                    });
                }
                tokio::time::sleep(opts.poll).await;
            }
        })
    }

    /// Registers `root` (a snapshot or a bundle's manifest) as an AMI described by `spec`
    /// (reusing one of the same name unless `opts.force`), then tags, shares, deprecates
    /// and copies it.
    pub fn register(&self, root: &AmiRoot, spec: &AmiSpec, opts: &RegisterOptions) -> Result<RegisterReport, Error> {
        spec.check()?;
        let mut report = self.register_and_copy(root, spec, opts)?;
        let image_id = report.image_id.clone();
        self.publish_parameters(spec, &mut report, opts).map_err(|e| {
            if report.reused {
                e
            } else {
                Error::Registered { image_id, cause: Box::new(e) }
            }
        })?;
        Ok(report)
    }

    fn register_and_copy(
        &self,
        root: &AmiRoot,
        spec: &AmiSpec,
        opts: &RegisterOptions,
    ) -> Result<RegisterReport, Error> {
        let snapshot = match root {
            AmiRoot::Snapshot(s) => Some(s.clone()),
            AmiRoot::Manifest(_) => None,
        };
        self.rt.block_on(async {
            let existing = find_image(&self.ec2, &spec.name).await?;
            let mut report = RegisterReport {
                image_id: String::new(),
                name: spec.name.clone(),
                region: self.region.clone(),
                snapshot_id: snapshot.clone(),
                image_location: match root {
                    AmiRoot::Manifest(m) => Some(m.clone()),
                    AmiRoot::Snapshot(_) => None,
                },
                reused: false,
                copies: Vec::new(),
                parameters: Vec::new(),
            };
            match existing {
                Some(id) if !opts.force => {
                    report.image_id = id;
                    report.reused = true;
                    return Ok(report);
                }
                Some(id) => {
                    self.ec2.deregister_image().image_id(&id).send().await.map_err(api("DeregisterImage"))?;
                }
                None => {}
            }
            report.image_id = register_image(&self.ec2, root, spec).await?;
            let left = |e: Error| Error::Registered { image_id: report.image_id.clone(), cause: Box::new(e) };
            if let (Some(snapshot), false) = (&snapshot, spec.tags.is_empty()) {
                let t: Vec<Tag> = spec.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
                self.ec2
                    .create_tags()
                    .resources(snapshot)
                    .set_tags(Some(t))
                    .send()
                    .await
                    .map_err(api("CreateTags"))
                    .map_err(left)?;
            }
            finish_image(&self.ec2, &report.image_id, spec).await.map_err(left)?;
            for region in &spec.regions {
                let copy = self.copy_image(&report.image_id, region, spec, opts).await.map_err(left)?;
                report.copies.push(copy);
            }
            Ok(report)
        })
    }

    async fn copy_image(
        &self,
        source: &str,
        region: &str,
        spec: &AmiSpec,
        opts: &RegisterOptions,
    ) -> Result<PublishedImage, Error> {
        let ec2 = self.ec2_in(region);
        let image_id = match find_image(&ec2, &spec.name).await? {
            Some(id) => id,
            None => ec2
                .copy_image()
                .source_image_id(source)
                .source_region(&self.region)
                .name(&spec.name)
                .description(&spec.description)
                .copy_image_tags(true)
                .set_snapshot_copy_completion_duration_minutes(spec.copy_completion_minutes.map(i64::from))
                .tag_specifications(tags(
                    ResourceType::Image,
                    &[(SOURCE_TAG.into(), format!("{}/{source}", self.region))],
                ))
                .client_token(format!("ingot-{source}-{region}"))
                .send()
                .await
                .map_err(api("CopyImage"))?
                .image_id()
                .ok_or_else(|| Error::Protocol("CopyImage returned no ImageId".into()))?
                .to_string(),
        };
        wait_available(&ec2, &image_id, region, opts, &self.control).await?;
        finish_image(&ec2, &image_id, spec).await?;
        Ok(PublishedImage { region: region.to_string(), image_id })
    }

    /// The tags of `snapshot` (through EC2 DescribeSnapshots).
    pub fn snapshot_tags(&self, snapshot: &str) -> Result<Vec<(String, String)>, Error> {
        self.rt.block_on(async {
            let out =
                self.ec2.describe_snapshots().snapshot_ids(snapshot).send().await.map_err(api("DescribeSnapshots"))?;
            let tags = out.snapshots().first().map(|s| s.tags()).unwrap_or_default();
            Ok(tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect())
        })
    }

    /// Deregisters `image` (if any) and deletes `snapshot` (if any): what
    /// `--cleanup-on-failure` does.
    pub fn cleanup(&self, image: Option<&str>, snapshot: Option<&str>) -> Result<(), Error> {
        self.rt.block_on(async {
            if let Some(id) = image {
                self.ec2.deregister_image().image_id(id).send().await.map_err(api("DeregisterImage"))?;
            }
            if let Some(snapshot) = snapshot {
                self.ec2.delete_snapshot().snapshot_id(snapshot).send().await.map_err(api("DeleteSnapshot"))?;
            }
            Ok(())
        })
    }
}

/// Waits until `image_id` in `region` is `available` (bounded by `opts.copy_timeout`).
pub(crate) async fn wait_available(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    region: &str,
    opts: &RegisterOptions,
    control: &Control,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let out = ec2.describe_images().image_ids(image_id).send().await.map_err(api("DescribeImages"))?;
        match out.images().first().and_then(|i| i.state()) {
            Some(ImageState::Available) => return Ok(()),
            Some(ImageState::Failed) | Some(ImageState::Error) => {
                return Err(Error::Protocol(format!("the AMI {image_id} in {region} failed")))
            }
            _ if started.elapsed() > opts.copy_timeout => {
                return Err(Error::WaitTimeout {
                    what: format!("AMI {image_id} in {region}"),
                    seconds: opts.copy_timeout.as_secs(),
                    hint: String::new(),
                })
            }
            _ => {
                control.check()?;
                tokio::time::sleep(opts.poll).await
            }
        }
    }
}

async fn find_image(ec2: &aws_sdk_ec2::Client, name: &str) -> Result<Option<String>, Error> {
    let out = ec2
        .describe_images()
        .owners("self")
        .filters(Filter::builder().name("name").values(name).build())
        .send()
        .await
        .map_err(api("DescribeImages"))?;
    Ok(out.images().iter().find(|i| i.name() == Some(name)).and_then(|i| i.image_id()).map(str::to_string))
}

/// RegisterImage: the root volume's mapping for a snapshot, ImageLocation for a bundle
/// (whose block device mappings come from its manifest).
async fn register_image(ec2: &aws_sdk_ec2::Client, root: &AmiRoot, spec: &AmiSpec) -> Result<String, Error> {
    let boot = match spec.machine.boot_mode {
        BootMode::LegacyBios => BootModeValues::LegacyBios,
        BootMode::Uefi => BootModeValues::Uefi,
        BootMode::UefiPreferred => BootModeValues::UefiPreferred,
    };
    let mut req = ec2
        .register_image()
        .name(&spec.name)
        .description(&spec.description)
        .architecture(ArchitectureValues::from(spec.machine.architecture.as_str()))
        .virtualization_type("hvm")
        .boot_mode(boot)
        .ena_support(spec.machine.ena)
        .set_uefi_data(spec.uefi_data.clone());
    match root {
        AmiRoot::Snapshot(snapshot) => {
            let ebs = EbsBlockDevice::builder()
                .snapshot_id(snapshot)
                .volume_type(VolumeType::from(spec.root.volume_type.as_str()))
                .set_volume_size(spec.root.volume_size_gib.map(|s| s as i32))
                .set_iops(spec.root.iops.map(|i| i as i32))
                .set_throughput(spec.root.throughput.map(|t| t as i32))
                .delete_on_termination(spec.root.delete_on_termination)
                .build();
            let mapping = BlockDeviceMapping::builder().device_name(&spec.root.root_device_name).ebs(ebs).build();
            req = req.root_device_name(&spec.root.root_device_name).block_device_mappings(mapping);
        }
        AmiRoot::Manifest(location) => req = req.image_location(location),
    }
    if spec.machine.sriov {
        req = req.sriov_net_support("simple");
    }
    if spec.machine.tpm {
        req = req.tpm_support(TpmSupportValues::V20);
    }
    if spec.machine.imds_v2 {
        req = req.imds_support(ImdsSupportValues::V20);
    }
    if !spec.tags.is_empty() {
        req = req.tag_specifications(tags(ResourceType::Image, &spec.tags));
    }
    let out = req.send().await.map_err(api("RegisterImage"))?;
    out.image_id().map(str::to_string).ok_or_else(|| Error::Protocol("RegisterImage returned no ImageId".into()))
}

/// Launch permissions, deprecation and deregistration protection of one AMI.
async fn finish_image(ec2: &aws_sdk_ec2::Client, image: &str, spec: &AmiSpec) -> Result<(), Error> {
    if !spec.launch.is_empty() {
        ec2.modify_image_attribute()
            .image_id(image)
            .launch_permission(launch_permissions(&spec.launch))
            .send()
            .await
            .map_err(api("ModifyImageAttribute"))?;
    }
    if let Some(at) = &spec.deprecate_at {
        let at = aws_smithy_types::DateTime::from_str(at, aws_smithy_types::date_time::Format::DateTime)
            .map_err(|e| Error::Invalid(format!("deprecate_at {at:?}: {e}")))?;
        ec2.enable_image_deprecation()
            .image_id(image)
            .deprecate_at(at)
            .send()
            .await
            .map_err(api("EnableImageDeprecation"))?;
    }
    if let Some(protection) = spec.deregistration_protection {
        ec2.enable_image_deregistration_protection()
            .image_id(image)
            .with_cooldown(protection == Protection::WithCooldown)
            .send()
            .await
            .map_err(api("EnableImageDeregistrationProtection"))?;
    }
    Ok(())
}

fn launch_permissions(l: &LaunchPermissions) -> LaunchPermissionModifications {
    let mut add: Vec<LaunchPermission> = Vec::new();
    add.extend(l.accounts.iter().map(|a| LaunchPermission::builder().user_id(a).build()));
    add.extend(l.organizations.iter().map(|a| LaunchPermission::builder().organization_arn(a).build()));
    add.extend(l.organizational_units.iter().map(|a| LaunchPermission::builder().organizational_unit_arn(a).build()));
    if l.public {
        add.push(LaunchPermission::builder().group(PermissionGroup::All).build());
    }
    LaunchPermissionModifications::builder().set_add(Some(add)).build()
}
