//! The recipe as TOML spells it, before validation. Every key is documented in
//! docs/recipe.md.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::{Spanned, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecipe {
    pub name: Spanned<String>,
    pub size: Option<Spanned<Value>>,
    pub table: Option<Spanned<String>>,
    pub alignment: Option<Spanned<Value>>,
    pub seed: Option<Spanned<String>>,
    pub source_date_epoch: Option<Spanned<i64>>,
    #[serde(default)]
    pub partition: Vec<Spanned<RawPartition>>,
    pub boot: Option<Spanned<RawBoot>>,
    pub ami: Option<Spanned<RawAmi>>,
    pub secure_boot: Option<Spanned<RawSecureBoot>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecureBoot {
    pub pk: Spanned<String>,
    pub kek: Spanned<String>,
    pub db: Spanned<OneOrMany>,
    pub db_key: Spanned<String>,
    pub dbx: Option<Spanned<String>>,
}

/// A path, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAmi {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub boot_mode: Option<Spanned<String>>,
    pub ena: Option<bool>,
    pub sriov: Option<bool>,
    pub tpm: Option<Spanned<bool>>,
    pub imds_v2: Option<bool>,
    pub root_device: Option<String>,
    pub volume_type: Option<Spanned<String>>,
    pub volume_size: Option<Spanned<Value>>,
    pub iops: Option<Spanned<u32>>,
    pub throughput: Option<Spanned<u32>>,
    pub delete_on_termination: Option<bool>,
    pub uefi_data: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub launch_permissions: Option<RawLaunch>,
    #[serde(default)]
    pub regions: Vec<String>,
    pub deprecate_at: Option<String>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<Spanned<String>>,
    pub snapshot_timeout: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLaunch {
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub organizations: Vec<String>,
    #[serde(default)]
    pub organizational_units: Vec<String>,
    pub public: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoot {
    pub uefi: Option<Spanned<String>>,
    pub bios: Option<Spanned<String>>,
    pub arch: Option<Spanned<String>>,
    pub kernel: Option<Spanned<String>>,
    pub initrd: Option<Spanned<String>>,
    pub cmdline: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartition {
    pub label: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub kind: Spanned<Value>,
    pub size: Spanned<Value>,
    pub start: Option<Spanned<Value>>,
    pub filesystem: Option<Spanned<String>>,
    pub bootable: Option<bool>,
    pub vfat: Option<RawVfat>,
    pub ext4: Option<RawExt4>,
    #[serde(default)]
    pub contents: Vec<Spanned<RawContent>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<Spanned<RawOverride>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVfat {
    pub label: Option<Spanned<String>>,
    pub fat: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExt4 {
    pub label: Option<Spanned<String>>,
    pub block_size: Option<Spanned<u32>>,
    pub inode_ratio: Option<Spanned<u64>>,
    pub inode_count: Option<Spanned<u64>>,
    pub reserved_percent: Option<Spanned<u8>>,
    pub journal: Option<bool>,
    #[serde(default)]
    pub features: Vec<Spanned<String>>,
    pub free_space: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContent {
    pub dir: Option<Spanned<String>>,
    pub tar: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub preserve_owner: Option<bool>,
    pub preserve_mode: Option<bool>,
    pub mode: Option<Spanned<Value>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverride {
    pub path: Spanned<String>,
    pub mode: Option<Spanned<Value>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    #[serde(default)]
    pub xattrs: BTreeMap<String, Spanned<String>>,
    pub capabilities: Option<Spanned<String>>,
}
