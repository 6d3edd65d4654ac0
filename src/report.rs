use crate::error::{Result, ResultExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// With `[boot] uefi = "uki"` or `"systemd-boot"`: the TPM measurements of the boot
    /// (PCRs 4, 7, 11 and 12, SHA-384 and SHA-256, with the events behind them), under
    /// Secure Boot with the store below when the recipe has `[secure_boot]`
    /// (docs/attestation.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<crate::Measurements>,
    /// The dm-verity pairs, in table order of their data partitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verity: Vec<crate::VerityReport>,
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

    /// The build report of the image at `image` (`IMAGE.json`, [`Report::path_of`]):
    /// `None` when there is none, an error naming the file when it cannot be read or is
    /// not a build report.
    pub fn read(image: &Path) -> Result<Option<Report>> {
        let json = Report::path_of(image);
        match std::fs::read(&json) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{}: not an ingot build report", json.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}", json.display())),
        }
    }
}

/// A report that names the blocks of a snapshot's image, as `--parent-report` takes it:
/// a build report, a publish report (its `upload`), or an upload report.
#[derive(Debug)]
pub(crate) enum BlocksReport {
    /// `ingot build`'s report of the image the parent was made from.
    Build(Box<Report>),
    /// `ingot publish`'s report of the parent's upload, or `ingot upload`'s.
    Upload(Box<ingot_aws::UploadReport>),
}

/// The part of `ingot publish`'s report that [`BlocksReport`] reads.
#[derive(Deserialize)]
struct PublishedUpload {
    upload: Box<ingot_aws::UploadReport>,
}

impl BlocksReport {
    /// The report at `path`, read as each kind in turn (each has fields the others lack);
    /// an error naming it, and what each reading found, when it is none of the three.
    pub(crate) fn read(path: &Path) -> Result<BlocksReport> {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let build = match serde_json::from_slice::<Report>(&bytes) {
            Ok(r) => return Ok(BlocksReport::Build(Box::new(r))),
            Err(e) => e,
        };
        let publish = match serde_json::from_slice::<PublishedUpload>(&bytes) {
            Ok(p) => return Ok(BlocksReport::Upload(p.upload)),
            Err(e) => e,
        };
        let upload = match serde_json::from_slice(&bytes) {
            Ok(u) => return Ok(BlocksReport::Upload(u)),
            Err(e) => e,
        };
        Err(crate::Error::invalid(format!(
            "{}: not an ingot upload, publish or build report (as a build report: {build}; as a publish report: {publish}; as an upload report: {upload})",
            path.display()
        )))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocks_report_is_read_as_the_kind_it_is() {
        let upload = serde_json::json!({
            "snapshot_id": "snap-1", "region": "r", "reused": false, "volume_size_gib": 1,
            "block_size": 524288, "blocks_written": 1, "blocks_zero_skipped": 0, "blocks_unchanged": 0,
            "bytes_written": 524288, "retries": 0, "checksum": "c", "parent_snapshot_id": null,
            "seconds": 1.0, "blocks": { "0": "AA==" }
        });
        let build = serde_json::json!({
            "image": "x.raw", "name": "x", "disk_size": 1048576, "table": "gpt", "disk_id": "d",
            "source_date_epoch": 0, "digest": null, "data_bytes": 0, "zeroed": [], "partitions": []
        });
        let publish = serde_json::json!({ "image": "x.raw", "upload": upload, "register": {} });
        let dir = tempfile::tempdir().unwrap();
        let read = |v: &serde_json::Value| {
            let p = dir.path().join("r.json");
            std::fs::write(&p, v.to_string()).unwrap();
            BlocksReport::read(&p)
        };
        let u = read(&upload);
        assert!(matches!(&u, Ok(BlocksReport::Upload(u)) if u.snapshot_id == "snap-1"), "{u:?}");
        assert!(matches!(read(&publish), Ok(BlocksReport::Upload(upload)) if upload.blocks.len() == 1));
        assert!(matches!(read(&build), Ok(BlocksReport::Build(r)) if r.digest.is_none()), "{:?}", read(&build));
        let err = read(&serde_json::json!({ "x": 1 })).unwrap_err().to_string();
        assert!(err.contains("not an ingot upload, publish or build report"), "{err}");
    }
}
