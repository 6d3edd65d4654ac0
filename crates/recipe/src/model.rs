//! The recipe's data model: every type a validated recipe holds, and nothing that makes
//! one. `validate.rs` (with a module per section: `filesystem.rs`, `boot.rs`, `ami.rs`,
//! `secure_boot.rs`) makes them from the TOML, `units.rs` reads its sizes, `layout.rs`
//! turns them into a plan; the arrows point at this module, never out of it but to the
//! leaves (`error`, `seed`, `partition_type`, `ingot-types`).

use crate::error::Locator;
use crate::{RecipeError, Seed};
use ingot_types::{Arch, CoreLocation, Machine, PartitionType, Protection, RootFs, RootVolume, TableKind, UefiLoader};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A parsed and validated recipe. Sizes marked `auto` are resolved by [`Recipe::layout`].
#[derive(Clone, Debug)]
pub struct Recipe {
    /// The image name (`name`): the default output is `out/NAME.raw`.
    pub name: String,
    /// The disk size (`size`): bytes or `auto`.
    pub size: SizeSpec,
    /// The partition table (`table`).
    pub table: TableKind,
    /// Partition alignment in bytes (`alignment`, default 1 MiB).
    pub alignment: u64,
    /// The seed every identifier derives from (`seed`, default the name).
    pub seed: Seed,
    /// Every timestamp is clamped to this (`source_date_epoch`, or $SOURCE_DATE_EPOCH).
    pub source_date_epoch: i64,
    /// The partitions (`[[partition]]`), in table order.
    pub partitions: Vec<PartitionSpec>,
    /// How the disk boots (`[boot]`), if the recipe says.
    pub boot: Option<Boot>,
    /// How `ingot publish` registers the image (`[ami]`), if the recipe says.
    pub ami: Option<Ami>,
    /// The Secure Boot keys (`[secure_boot]`), if the recipe says.
    pub secure_boot: Option<SecureBoot>,
    pub(crate) loc: Locator,
    pub(crate) size_span: Range<usize>,
}

/// A size as a recipe gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeSpec {
    /// A fixed number of bytes.
    Bytes(u64),
    /// `"fill"`: the space the other partitions leave (one partition at most).
    Fill,
    /// `"auto"`: the content's size plus slack.
    Auto,
}

/// One source of a partition's content (`[[partition.contents]]`), in layering order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `dir = "path"`: a host directory copied to `to`.
    Dir {
        /// Host path.
        path: PathBuf,
        /// Destination in the partition.
        to: String,
        /// Keep the host's owners instead of 0:0.
        preserve_owner: bool,
        /// Keep the host's permission bits exactly instead of making them
        /// umask-independent.
        preserve_mode: bool,
    },
    /// `tar = "path"`: a tar, tar.gz or tar.zst archive unpacked at `to`.
    Tar {
        /// Host path.
        path: PathBuf,
        /// Destination in the partition.
        to: String,
    },
    /// `file = "path"`: one host file placed at `to`.
    File {
        /// Host path.
        path: PathBuf,
        /// Destination path of the file.
        to: String,
        /// Permission bits (default 0644).
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
    /// `image = "path"`: a raw image copied byte for byte (filesystem `none`).
    Image {
        /// Host path.
        path: PathBuf,
    },
}

/// Per-path metadata set after all sources are layered (`[[partition.override]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Path in the partition.
    pub path: String,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Extended attributes to set, capabilities included as `security.capability`.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// One validated `[[partition]]`.
#[derive(Clone, Debug)]
pub struct PartitionSpec {
    /// GPT partition name (`label`).
    pub label: String,
    /// Partition type.
    pub kind: PartitionType,
    /// Size.
    pub size: SizeSpec,
    /// Fixed start offset in bytes (`start`), else placed after the previous one.
    pub start: Option<u64>,
    /// Filesystem.
    pub filesystem: Filesystem,
    /// MBR active flag (`bootable`).
    pub bootable: bool,
    /// Content sources, later ones layered over earlier ones.
    pub contents: Vec<Source>,
    /// Glob patterns of paths left out of the partition (`exclude`).
    pub exclude: Vec<String>,
    /// Metadata overrides.
    pub overrides: Vec<Override>,
    /// Its part in a dm-verity pair (`verity = true`, `verity_of`).
    pub verity: Verity,
    pub(crate) size_span: Range<usize>,
    pub(crate) start_span: Range<usize>,
}

/// A partition's part in a dm-verity pair: a read-only data partition and the partition
/// that holds its hash tree (docs/verity.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verity {
    /// Not part of a pair.
    #[default]
    None,
    /// `verity = true`: the data partition, whose hash tree partition `hash` holds.
    Data {
        /// The index of its hash partition.
        hash: usize,
    },
    /// A `*-verity` partition with `verity_of`: the hash tree of partition `data`.
    Hash {
        /// The index of its data partition.
        data: usize,
    },
}

impl Recipe {
    /// The dm-verity pairs as `(data, hash)` partition indexes, in table order of the data
    /// partitions.
    pub fn verity_pairs(&self) -> Vec<(usize, usize)> {
        let pair = |(i, p): (usize, &PartitionSpec)| match p.verity {
            Verity::Data { hash } => Some((i, hash)),
            _ => None,
        };
        self.partitions.iter().enumerate().filter_map(pair).collect()
    }

    /// The recipe file, as errors name it.
    pub fn path(&self) -> &Path {
        &self.loc.file
    }

    /// An error at the recipe file as a whole, for callers that validate against the
    /// filesystem (missing content, content too large).
    pub fn error(&self, message: impl Into<String>) -> RecipeError {
        self.loc.whole(message)
    }
}

/// The filesystem a partition gets (`filesystem`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filesystem {
    /// `"none"`: raw content (an `image` source) or nothing.
    None,
    /// `"vfat"`: FAT12/16/32.
    Vfat(Vfat),
    /// `"ext4"`: ext4 with mke2fs's default features.
    Ext4(Ext4),
    /// `"erofs"`: EROFS, read-only.
    Erofs(Erofs),
}

impl Filesystem {
    /// The name the recipe's `filesystem` and the reports give it.
    pub fn name(&self) -> &'static str {
        match self {
            Filesystem::None => "none",
            Filesystem::Vfat(_) => "vfat",
            Filesystem::Ext4(_) => "ext4",
            Filesystem::Erofs(_) => "erofs",
        }
    }
}

/// ext4 options (`[partition.ext4]`), as the recipe gives them: `None` leaves a setting to
/// the writer, whose defaults are mke2fs's (`ingot_ext4::Options::new` owns them; the
/// pipeline joins the two).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ext4 {
    /// Volume label, at most 16 bytes (`label`; default: the partition label if it fits).
    pub label: String,
    /// 1024, 2048 or 4096 (`block_size`; default as mke2fs: 1024 below 512 MiB).
    pub block_size: Option<u32>,
    /// Bytes per inode (`inode_ratio`).
    pub inode_ratio: Option<u64>,
    /// A fixed inode count (`inode_count`).
    pub inode_count: Option<u64>,
    /// Blocks reserved for root in percent (`reserved_percent`; the writer's default is 5).
    pub reserved_percent: Option<u8>,
    /// Write a journal (`journal`, or the `has_journal` feature; the writer's default is
    /// yes).
    pub journal: Option<bool>,
    /// dir_index (the writer's default is on).
    pub dir_index: Option<bool>,
    /// ext_attr (the writer's default is on).
    pub ext_attr: Option<bool>,
    /// metadata_csum_seed (the writer's default is off: GRUB 2.06 refuses it).
    pub metadata_csum_seed: Option<bool>,
    /// Free space the filesystem must keep after the content (`free_space`); added to
    /// the content's size for `size = "auto"`.
    pub free_space: u64,
}

/// EROFS options (`[partition.erofs]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Erofs {
    /// Volume name, at most 16 bytes (`label`; default: the partition label if it fits).
    pub label: String,
    /// How files are stored (`compression`, default none).
    pub compression: ingot_types::filesystem::Compression,
}

/// FAT options (`[partition.vfat]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vfat {
    /// Volume label, at most 11 characters (`label`; default: the partition label in
    /// capitals when it is one); `None`: no label (the writer's `NO NAME`).
    pub label: Option<String>,
    /// Force FAT12, 16 or 32 (`fat`; default: FAT32 where the size allows).
    pub fat: Option<u8>,
}

/// A validated `[boot]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The UEFI boot loader (`uefi`), if any.
    pub uefi: Option<UefiLoader>,
    /// BIOS boot with GRUB i386-pc (`bios = "grub"`): where core.img goes.
    pub bios: Option<CoreLocation>,
    /// The architecture.
    pub arch: Arch,
    /// Path of the kernel in the root partition's tree.
    pub kernel: String,
    /// Path of the initrd in the root partition's tree.
    pub initrd: Option<String>,
    /// Kernel command line; `root=PARTUUID=…` is appended.
    pub cmdline: String,
    /// Index of the EFI system partition (UEFI only).
    pub esp: Option<usize>,
    /// Index of the root partition.
    pub root: usize,
    /// Its filesystem's type.
    pub root_fs: RootFs,
}

/// A validated `[ami]` section. Names of EC2 fields are kept as EC2 spells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ami {
    /// The AMI name template (`name`, default `"{name}-{version}-{arch}"`): `{name}`,
    /// `{version}`, `{date}` (UTC, YYYYMMDD, at publication) and `{arch}` are replaced.
    pub name: String,
    /// `{version}` (`version`, default `"0"`).
    pub version: String,
    /// The description (`description`).
    pub description: String,
    /// The instances it launches (`boot_mode`, default `uefi` with `[secure_boot]` or on
    /// arm64, else `uefi-preferred`; `ena`, `sriov`, `imds_v2` default true, `tpm` false;
    /// the architecture from `[boot] arch`).
    pub machine: Machine,
    /// Its root volume (`root_device`, default `/dev/xvda`; `volume_type`, default `gp3`;
    /// `volume_size`, default the image's size rounded up; `iops`, `throughput`;
    /// `delete_on_termination`, default true).
    pub root: RootVolume,
    /// A file holding the UEFI variable store in base64 (`uefi_data`, relative to the recipe).
    pub uefi_data: Option<PathBuf>,
    /// Tags on the AMI and its snapshots (`[ami.tags]`).
    pub tags: BTreeMap<String, String>,
    /// Accounts allowed to launch it (`[ami.launch_permissions] accounts`).
    pub share_accounts: Vec<String>,
    /// Organization ARNs (`organizations`).
    pub share_organizations: Vec<String>,
    /// Organizational unit ARNs (`organizational_units`).
    pub share_organizational_units: Vec<String>,
    /// Public (`public`, default false).
    pub public: bool,
    /// More regions to copy to (`regions`).
    pub regions: Vec<String>,
    /// Deprecation time, RFC 3339 (`deprecate_at`).
    pub deprecate_at: Option<String>,
    /// Encrypt the snapshot (`encrypted`, default false).
    pub encrypted: bool,
    /// KMS key for encryption (`kms_key_id`).
    pub kms_key_id: Option<String>,
    /// Minutes EBS waits for the upload to complete (`snapshot_timeout`, default and range
    /// in [`ingot_types::ebs`]).
    pub snapshot_timeout: u32,
    /// Deregistration protection on the AMI and its copies (`deregistration_protection`).
    pub deregistration_protection: Option<Protection>,
    /// The SSM parameter that gets the AMI's id in every region (`ssm_parameter`): a
    /// template as [`Ami::name`] is, expanded by [`Ami::expand`].
    pub ssm_parameter: Option<String>,
    /// Time-based copies: minutes CopyImage has to complete each copy
    /// (`copy_completion_minutes`, [`crate::COPY_COMPLETION_MINUTES`] in steps of
    /// [`crate::COPY_COMPLETION_STEP`]).
    pub copy_completion_minutes: Option<u32>,
}

/// `[secure_boot]`, with every path resolved against the recipe's directory and checked
/// to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecureBoot {
    /// The platform key's certificate (`pk`, PEM).
    pub pk: PathBuf,
    /// The key-exchange key's certificate (`kek`, PEM).
    pub kek: PathBuf,
    /// The certificates `db` allows (`db`: one path or a list; PEM). The first is the
    /// certificate of `db_key`.
    pub db: Vec<PathBuf>,
    /// The private key that signs every EFI binary (`db_key`, PEM).
    pub db_key: PathBuf,
    /// EFI signature lists to forbid (`dbx`), if any.
    pub dbx: Option<PathBuf>,
}
