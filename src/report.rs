use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `ingot build` made: written next to the image as `OUT.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The image path.
    pub image: PathBuf,
    /// The recipe's name.
    pub name: String,
    /// Disk size in bytes.
    pub disk_size: u64,
    /// "gpt" or "mbr".
    pub table: String,
    /// GPT disk GUID (GPT) or MBR disk signature as 8 hex digits (MBR).
    pub disk_id: String,
    /// The SOURCE_DATE_EPOCH every timestamp was clamped to.
    pub source_date_epoch: i64,
    /// The image digest (docs/recipe.md, `ingot_disk::digest`), lowercase hex; `null`
    /// when built with `--no-digest`.
    #[serde(default)]
    pub digest: Option<String>,
    /// SHA-256 of the whole image (what `sha256sum` prints), lowercase hex; only when
    /// built with `--sha256`.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Bytes of the image that hold data (the rest are holes that read as zeros).
    pub data_bytes: u64,
    /// Byte ranges `[start, end)` the filesystems rely on reading as zeros and that the
    /// image stores as holes. An upload to an encrypted snapshot writes the blocks they
    /// touch, because unwritten blocks of an encrypted snapshot need not read as zeros.
    pub zeroed: Vec<(u64, u64)>,
    /// The partitions in table order.
    pub partitions: Vec<PartitionReport>,
    /// With `[secure_boot]`: the UEFI variable store (PK, KEK, db, dbx) in EC2's
    /// `UefiData` format (base64), which `ingot publish` sends to RegisterImage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uefi_data: Option<String>,
    /// SHA-256 of `uefi_data`'s text, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uefi_data_sha256: Option<String>,
    /// SHA-256 (lowercase hex) of each non-zero 512 KiB block by index: what the digest
    /// is computed from, and what an upload checks each block it reads against. Last, as
    /// it is the longest.
    #[serde(default)]
    pub blocks: BTreeMap<u64, String>,
}

impl Report {
    /// Where the report of the image at `image` is: `IMAGE.json` beside it.
    ///
    /// ```
    /// let json = ingot::Report::path_of("out/hello.raw".as_ref());
    /// assert_eq!(json, std::path::Path::new("out/hello.raw.json"));
    /// ```
    pub fn path_of(image: &std::path::Path) -> PathBuf {
        let mut name = image.as_os_str().to_owned();
        name.push(".json");
        PathBuf::from(name)
    }
}

/// One partition of a [`Report`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartitionReport {
    /// 1-based number.
    pub number: usize,
    /// GPT partition name.
    pub label: String,
    /// Type GUID (GPT) or type byte as `0xNN` (MBR).
    #[serde(rename = "type")]
    pub kind: String,
    /// Unique partition GUID (PARTUUID) on GPT; `SIGNATURE-NN` on MBR.
    pub guid: String,
    /// Byte offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// "ext4", "vfat" or "none".
    pub filesystem: String,
    /// Filesystem UUID as `blkid` prints it (`XXXX-XXXX` for FAT), if any.
    pub filesystem_uuid: Option<String>,
    /// 12, 16 or 32 for FAT.
    pub fat_type: Option<u8>,
    /// The partition's digest, computed as the image's with the partition as the image;
    /// `null` when built with `--no-digest`.
    #[serde(default)]
    pub digest: Option<String>,
    /// SHA-256 of the partition's bytes; only when built with `--sha256`.
    #[serde(default)]
    pub sha256: Option<String>,
}
