//! The recipe as TOML spells it, before validation. Every key is documented in
//! docs/recipe.md. The same types give the recipe's JSON Schema ([`crate::json_schema`]),
//! so the schema editors check recipes with cannot drift from what ingot reads.

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::{Spanned, Value};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecipe {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub size: Option<Spanned<Value>>,
    #[schemars(with = "Option<String>")]
    pub table: Option<Spanned<String>>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub alignment: Option<Spanned<Value>>,
    #[schemars(with = "Option<String>")]
    pub seed: Option<Spanned<String>>,
    #[schemars(with = "Option<i64>")]
    pub source_date_epoch: Option<Spanned<i64>>,
    #[serde(default)]
    #[schemars(with = "Vec<RawPartition>")]
    pub partition: Vec<Spanned<RawPartition>>,
    #[schemars(with = "Option<RawBoot>")]
    pub boot: Option<Spanned<RawBoot>>,
    #[schemars(with = "Option<RawAmi>")]
    pub ami: Option<Spanned<RawAmi>>,
    #[schemars(with = "Option<RawSecureBoot>")]
    pub secure_boot: Option<Spanned<RawSecureBoot>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecureBoot {
    #[schemars(with = "String")]
    pub pk: Spanned<String>,
    #[schemars(with = "String")]
    pub kek: Spanned<String>,
    #[schemars(with = "OneOrMany")]
    pub db: Spanned<OneOrMany>,
    #[schemars(with = "String")]
    pub db_key: Spanned<String>,
    #[schemars(with = "Option<String>")]
    pub dbx: Option<Spanned<String>>,
}

// The list's items carry no span of their own: serde's untagged enums buffer their input,
// which loses the spans `toml::Spanned` needs (a list of `Spanned` never matched), so
// errors about an item point at the key.
/// A path, or a list of them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAmi {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    #[schemars(with = "Option<String>")]
    pub boot_mode: Option<Spanned<String>>,
    pub ena: Option<bool>,
    pub sriov: Option<bool>,
    #[schemars(with = "Option<bool>")]
    pub tpm: Option<Spanned<bool>>,
    pub imds_v2: Option<bool>,
    pub root_device: Option<String>,
    #[schemars(with = "Option<String>")]
    pub volume_type: Option<Spanned<String>>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub volume_size: Option<Spanned<Value>>,
    #[schemars(with = "Option<u32>")]
    pub iops: Option<Spanned<u32>>,
    #[schemars(with = "Option<u32>")]
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
    #[schemars(with = "Option<String>")]
    pub kms_key_id: Option<Spanned<String>>,
    #[schemars(with = "Option<u32>")]
    pub snapshot_timeout: Option<Spanned<u32>>,
    #[schemars(with = "Option<String>")]
    pub deregistration_protection: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub ssm_parameter: Option<Spanned<String>>,
    #[schemars(with = "Option<u32>")]
    pub copy_completion_minutes: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoot {
    #[schemars(with = "Option<String>")]
    pub uefi: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub bios: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub arch: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub kernel: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub initrd: Option<Spanned<String>>,
    pub cmdline: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartition {
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    #[serde(rename = "type")]
    #[schemars(with = "StringOrInteger")]
    pub kind: Spanned<Value>,
    #[schemars(with = "StringOrInteger")]
    pub size: Spanned<Value>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub start: Option<Spanned<Value>>,
    #[schemars(with = "Option<String>")]
    pub filesystem: Option<Spanned<String>>,
    pub bootable: Option<bool>,
    #[schemars(with = "Option<bool>")]
    pub verity: Option<Spanned<bool>>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub verity_of: Option<Spanned<Value>>,
    pub vfat: Option<RawVfat>,
    pub ext4: Option<RawExt4>,
    pub erofs: Option<RawErofs>,
    #[serde(default)]
    #[schemars(with = "Vec<RawContent>")]
    pub contents: Vec<Spanned<RawContent>>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude: Vec<Spanned<String>>,
    #[serde(default, rename = "override")]
    #[schemars(with = "Vec<RawOverride>")]
    pub overrides: Vec<Spanned<RawOverride>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawErofs {
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub compression: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVfat {
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    #[schemars(with = "Option<u8>")]
    pub fat: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExt4 {
    #[schemars(with = "Option<String>")]
    pub label: Option<Spanned<String>>,
    #[schemars(with = "Option<u32>")]
    pub block_size: Option<Spanned<u32>>,
    #[schemars(with = "Option<u64>")]
    pub inode_ratio: Option<Spanned<u64>>,
    #[schemars(with = "Option<u64>")]
    pub inode_count: Option<Spanned<u64>>,
    #[schemars(with = "Option<u8>")]
    pub reserved_percent: Option<Spanned<u8>>,
    pub journal: Option<bool>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub features: Vec<Spanned<String>>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub free_space: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContent {
    #[schemars(with = "Option<String>")]
    pub dir: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub tar: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub file: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub image: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub to: Option<Spanned<String>>,
    pub preserve_owner: Option<bool>,
    pub preserve_mode: Option<bool>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub mode: Option<Spanned<Value>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverride {
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    #[schemars(with = "Option<StringOrInteger>")]
    pub mode: Option<Spanned<Value>>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub xattrs: BTreeMap<String, Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub capabilities: Option<Spanned<String>>,
}

/// A size, mode, type or other value a recipe gives as text or as a number (`"64 MiB"`
/// or `67108864`, `"0755"` or `493`); only for the schema, validation reads the TOML value.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum StringOrInteger {
    Text(String),
    Integer(i64),
}

/// The recipe's JSON Schema (draft 2020-12), from the types the recipe is read into.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawRecipe);
    schema.insert("title".into(), "ingot recipe".into());
    schema.insert("description".into(), "An ingot disk image recipe (docs/recipe.md).".into());
    schema.to_value()
}
