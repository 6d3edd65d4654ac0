//! `ingot check RECIPE`: the recipe validated and its plan resolved, without reading the
//! sources' contents or writing anything: the disk, every partition's place and
//! identifiers, the sources in layering order, the boot chain and the AMI.

use crate::error::Result;
use crate::RegisterChoice;
use ingot_recipe::{Filesystem, Recipe, SizeSpec, Source, Verity};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A recipe's resolved plan.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// The recipe file.
    pub recipe: PathBuf,
    /// The image name.
    pub name: String,
    /// "gpt" or "mbr".
    pub table: String,
    /// The disk size in bytes; `None` when it depends on the content (`size = "auto"`).
    pub disk_size: Option<u64>,
    /// GPT disk GUID or MBR disk signature (8 hex digits), as `ingot inspect` prints it.
    pub disk_id: String,
    /// Every timestamp is clamped to this.
    pub source_date_epoch: i64,
    /// The partitions in table order.
    pub partitions: Vec<CheckedPartition>,
    /// The boot chain, with `[boot]`.
    pub boot: Option<BootPlan>,
    /// The AMI `ingot publish` would register, with `[ami]` (its `UefiData` left out:
    /// see `uefi_data_sha256`).
    pub ami: Option<ingot_aws::AmiSpec>,
    /// SHA-256 of the UEFI variable store, with `[secure_boot]`.
    pub uefi_data_sha256: Option<String>,
}

/// One partition of a [`Check`].
#[derive(Clone, Debug, Serialize)]
pub struct CheckedPartition {
    /// 1-based number.
    pub number: usize,
    /// GPT partition name.
    pub label: String,
    /// Type GUID or `0xNN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The type's name, if it has one.
    pub type_name: Option<String>,
    /// Byte offset; `None` when an earlier size depends on the content.
    pub offset: Option<u64>,
    /// Size in bytes; `None` when it depends on the content.
    pub size: Option<u64>,
    /// The recipe's size: bytes, `fill` or `auto`.
    pub size_spec: String,
    /// The PARTUUID the kernel finds it by; `None` for a dm-verity pair's, which are
    /// halves of the root hash the build computes.
    pub partuuid: Option<String>,
    /// Its part in a dm-verity pair, as a sentence: "data, hash tree in partition 3",
    /// "hash tree of partition 2".
    pub verity: Option<String>,
    /// `ext4`, `vfat` or `none`.
    pub filesystem: String,
    /// The filesystem's label.
    pub filesystem_label: Option<String>,
    /// ext4: its UUID; vfat: its volume serial as `XXXX-XXXX`.
    pub filesystem_uuid: Option<String>,
    /// The content sources in layering order, as `KIND PATH -> DESTINATION`.
    pub sources: Vec<String>,
}

/// The boot chain of a [`Check`].
#[derive(Clone, Debug, Serialize)]
pub struct BootPlan {
    /// The UEFI loader, if any.
    pub uefi: Option<String>,
    /// `grub` for BIOS boot, if any.
    pub bios: Option<String>,
    /// x86_64 or arm64.
    pub arch: String,
    /// The kernel's path in the root tree.
    pub kernel: String,
    /// The initrd's path in the root tree.
    pub initrd: Option<String>,
    /// The kernel command line, with the root appended as the build appends it; for a
    /// root under dm-verity, `ROOT_HASH`, `ROOT_HASH[0..16]` and `ROOT_HASH[16..32]` stand
    /// for the root hash and the PARTUUIDs the build computes.
    pub cmdline: String,
    /// With `[secure_boot]`: the subject of the db certificate that signs.
    pub signed_by: Option<String>,
}

/// Validates the recipe at `path` and resolves its plan.
pub fn check(path: &Path) -> Result<Check> {
    let recipe = Recipe::load(path)?;
    let (plan, known) = layout(&recipe)?;
    let partitions = partitions(&recipe, &plan, known);
    let boot = match &recipe.boot {
        Some(b) => Some(boot_plan(&recipe, b)?),
        None => None,
    };
    let uefi_data = crate::secure_boot::uefi_data(&recipe)?;
    let ami = match &recipe.ami {
        Some(_) => {
            let mut spec = crate::publish::ami_spec(&recipe, &RegisterChoice::default(), None)?;
            spec.uefi_data = None;
            Some(spec)
        }
        None => None,
    };
    Ok(Check {
        recipe: path.to_path_buf(),
        name: recipe.name.clone(),
        table: recipe.table.as_str().into(),
        disk_size: matches!(recipe.size, SizeSpec::Bytes(_)).then_some(plan.disk_size),
        disk_id: recipe.disk_id(),
        source_date_epoch: recipe.source_date_epoch,
        partitions,
        boot,
        ami,
        uefi_data_sha256: uefi_data.as_deref().map(crate::secure_boot::store_sha256),
    })
}

/// The layout with every content-dependent size at its least (one sector), so that the
/// placement rules the build applies (fixed starts, overlaps, the disk's size) are
/// checked; and how many partitions, from the first, have a place that does not depend
/// on the content (all of them when no size does).
fn layout(recipe: &Recipe) -> Result<(ingot_recipe::Plan, usize)> {
    let depends = |p: &ingot_recipe::PartitionSpec| {
        p.size == SizeSpec::Auto || (p.size == SizeSpec::Fill && recipe.size == SizeSpec::Auto)
    };
    let least: Vec<Option<u64>> = recipe.partitions.iter().map(|p| depends(p).then_some(ingot_disk::SECTOR)).collect();
    let plan = recipe.layout(&least)?;
    let known = recipe.partitions.iter().position(depends).map_or(recipe.partitions.len(), |i| i + 1);
    Ok((plan, known))
}

/// The partitions of `plan`: offsets and sizes where they do not depend on the content
/// (the first `known` partitions are placed for good; later ones only by a fixed `start`).
fn partitions(recipe: &Recipe, plan: &ingot_recipe::Plan, known: usize) -> Vec<CheckedPartition> {
    recipe
        .partitions
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (n, placed) = (i + 1, &plan.partitions[i]);
            let (label, uuid) = match &spec.filesystem {
                Filesystem::Ext4(e) => (Some(e.label.clone()), Some(recipe.ext4_uuid(n).to_string())),
                Filesystem::Vfat(v) => {
                    let label = v.label.clone().unwrap_or_default();
                    (Some(label), Some(ingot_fat::volume_serial(recipe.vfat_serial(n))))
                }
                Filesystem::Erofs(e) => (Some(e.label.clone()), Some(recipe.erofs_uuid(n).to_string())),
                Filesystem::None => (None, None),
            };
            CheckedPartition {
                number: n,
                label: spec.label.clone(),
                kind: spec.kind.to_string(),
                type_name: spec.kind.name().map(String::from),
                offset: (i < known || spec.start.is_some()).then_some(placed.offset),
                size: match spec.size {
                    SizeSpec::Bytes(_) => Some(placed.size),
                    SizeSpec::Fill if known == recipe.partitions.len() => Some(placed.size),
                    _ => None,
                },
                size_spec: match spec.size {
                    SizeSpec::Bytes(b) => b.to_string(),
                    SizeSpec::Fill => "fill".into(),
                    SizeSpec::Auto => "auto".into(),
                },
                partuuid: (spec.verity == Verity::None).then(|| recipe.partuuid(n)),
                verity: match spec.verity {
                    Verity::None => None,
                    Verity::Data { hash } => Some(format!("data, hash tree in partition {}", hash + 1)),
                    Verity::Hash { data } => Some(format!("hash tree of partition {}", data + 1)),
                },
                filesystem: spec.filesystem.name().into(),
                filesystem_label: label,
                filesystem_uuid: uuid,
                sources: spec.contents.iter().map(source_text).collect(),
            }
        })
        .collect()
}

fn source_text(s: &Source) -> String {
    match s {
        Source::Dir { path, to, .. } => format!("dir {} -> {to}", path.display()),
        Source::Tar { path, to } => format!("tar {} -> {to}", path.display()),
        Source::File { path, to, mode, uid, gid } => {
            format!("file {} -> {to} ({mode:04o} {uid}:{gid})", path.display())
        }
        Source::Image { path } => format!("image {}", path.display()),
    }
}

fn boot_plan(recipe: &Recipe, boot: &ingot_recipe::Boot) -> Result<BootPlan> {
    let verity = match recipe.partitions[boot.root].verity {
        Verity::Data { .. } => Some(ingot_boot::VerityRoot::placeholder()),
        _ => None,
    };
    let config = crate::build::boot_config(recipe, boot, verity)?;
    let nil = uuid::Uuid::nil().to_string();
    let cmdline = config
        .kernel_cmdline()
        .replace(&"0".repeat(64), "ROOT_HASH")
        .replacen(&nil, "ROOT_HASH[0..16]", 1)
        .replacen(&nil, "ROOT_HASH[16..32]", 1);
    Ok(BootPlan {
        uefi: boot.uefi.map(|l| l.as_str().to_string()),
        bios: boot.bios.map(|_| "grub".to_string()),
        arch: boot.arch.as_str().into(),
        kernel: boot.kernel.clone(),
        initrd: boot.initrd.clone(),
        cmdline,
        signed_by: config.signer.as_ref().map(|s| s.certificate.tbs_certificate.subject.to_string()),
    })
}
