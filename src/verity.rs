//! dm-verity in the build: the hash tree of each data partition written into its hash
//! partition, from the image as written (holes neither read nor hashed), and what the
//! build report says of each pair. The format is `ingot_verity`'s; docs/verity.md.

use crate::error::{Result, ResultExt};
use ingot_disk::{Image, RangeSet};
use ingot_recipe::PlannedPartition;
use ingot_verity::BLOCK_SIZE;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use uuid::Uuid;

/// One dm-verity pair as the build report (`OUT.json`, `verity`) gives it: what
/// `veritysetup verify` and the kernel's dm-verity target take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerityReport {
    /// The data partition's number (1-based).
    pub data_partition: usize,
    /// The hash partition's number (1-based).
    pub hash_partition: usize,
    /// The root hash, lowercase hex.
    pub root_hash: String,
    /// The salt, lowercase hex (32 bytes, from the recipe's seed).
    pub salt: String,
    /// The hash algorithm (`sha256`).
    pub algorithm: String,
    /// Bytes per data block.
    pub data_block_size: u32,
    /// Bytes per hash block.
    pub hash_block_size: u32,
    /// Data blocks the tree covers: the whole data partition.
    pub data_blocks: u64,
    /// Blocks of the hash device: the superblock's and the tree's.
    pub hash_blocks: u64,
    /// The data partition's byte offset in the image.
    pub data_offset: u64,
    /// The hash device's byte offset in the image (its superblock): `veritysetup
    /// --hash-offset` when the image itself is the hash device.
    pub hash_offset: u64,
}

/// A written pair: its report and the root hash.
pub(crate) struct Written {
    pub report: VerityReport,
    pub root_hash: [u8; 32],
}

/// Hashes data partition `data` as it stands in `image` and writes its hash device at
/// the start of partition `hash`, with `salt` and the hash device's `uuid`; a stop asked
/// of `control` ends the hashing at the next chunk with [`Stopped`](crate::Stopped).
pub(crate) fn write_tree(
    image: &mut Image,
    data: &PlannedPartition,
    hash: &PlannedPartition,
    (salt, uuid): (&[u8; 32], Uuid),
    control: &crate::Control,
) -> Result<Written> {
    let blocks = data.size / BLOCK_SIZE as u64;
    let tree =
        read_tree(image.file(), image.written(), data.offset, blocks, (salt, uuid), &|| control.stop_requested());
    control.check()?;
    let tree = tree.with_context(|| format!("hashing partition {} for dm-verity", data.number))?;
    if tree.area.len() as u64 > hash.size {
        crate::error::bail!(
            "partition {}'s hash tree is {} bytes but partition {} holds {}",
            data.number,
            tree.area.len(),
            hash.number,
            hash.size
        );
    }
    image.write_at(&tree.area, hash.offset)?;
    let report = VerityReport {
        data_partition: data.number,
        hash_partition: hash.number,
        root_hash: hex::encode(tree.root),
        salt: hex::encode(salt),
        algorithm: "sha256".into(),
        data_block_size: BLOCK_SIZE as u32,
        hash_block_size: BLOCK_SIZE as u32,
        data_blocks: blocks,
        hash_blocks: tree.area.len() as u64 / BLOCK_SIZE as u64,
        data_offset: data.offset,
        hash_offset: hash.offset,
    };
    Ok(Written { report, root_hash: tree.root })
}

/// The hash device of the `blocks` data blocks at `offset` of `file`, read a chunk at a
/// time and hashed on every core: `written` holds the byte ranges that may hold data (a
/// chunk outside them is a hole, taken as zeros unread); `stop()` true ends it at the
/// next chunk with an error.
fn read_tree(
    file: &std::fs::File,
    written: &RangeSet,
    offset: u64,
    blocks: u64,
    (salt, uuid): (&[u8], Uuid),
    stop: &(dyn Fn() -> bool + Sync),
) -> std::io::Result<ingot_verity::HashTree> {
    let bs = BLOCK_SIZE as u64;
    ingot_verity::hash_tree_from(blocks, salt, uuid, crate::hash::hash_threads(), |first, buf| {
        if stop() {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "stopped"));
        }
        let at = offset + first * bs;
        if !written.overlaps(at, at + buf.len() as u64) {
            return Ok(false);
        }
        file.read_exact_at(buf, at)?;
        Ok(true)
    })
}

/// What `ingot inspect --verify` found for one hash partition.
#[derive(Clone, Debug, Serialize)]
pub struct VerityCheck {
    /// The hash partition's number.
    pub hash_partition: usize,
    /// The data partition's number: the one of the type the hash type protects, else the
    /// one as large as the tree's data; `None` when no partition is.
    pub data_partition: Option<usize>,
    /// The root hash of the data as it is now, lowercase hex.
    pub root_hash: Option<String>,
    /// Whether the two PARTUUIDs are the halves of that root hash (as ingot and
    /// systemd-repart name a pair).
    pub partuuids_match: bool,
    /// The first place the tree and the data disagree, as a sentence; `None` when they
    /// agree.
    pub first_bad: Option<String>,
}

impl VerityCheck {
    /// True when the tree matches the data.
    pub fn ok(&self) -> bool {
        self.data_partition.is_some() && self.first_bad.is_none()
    }
}

/// Checks every dm-verity hash partition `inspection` found in the image at `path`
/// against its data partition: the tree made again from the data (one pass, holes
/// unread) compared block by block with the one stored.
pub fn verify(path: &std::path::Path, inspection: &crate::Inspection) -> Result<Vec<VerityCheck>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let mut written = RangeSet::default();
    for (s, e) in ingot_disk::data_ranges(&file, len).with_context(|| format!("{}", path.display()))? {
        written.insert(s, e);
    }
    let mut out = Vec::new();
    for hash in &inspection.partitions {
        let Some(sb) = &hash.verity else { continue };
        let data = data_of(inspection, hash, sb);
        let mut check = VerityCheck {
            hash_partition: hash.number,
            data_partition: data.map(|d| d.number),
            root_hash: None,
            partuuids_match: false,
            first_bad: None,
        };
        if let Some(data) = data {
            check_pair(&file, &written, data, hash, sb, &mut check)
                .with_context(|| format!("{}: partition {}", path.display(), hash.number))?;
        }
        out.push(check);
    }
    Ok(out)
}

/// The data partition of hash partition `hash`: the one partition of the type its type
/// protects, else the one partition exactly as large as the superblock's data.
fn data_of<'a>(
    i: &'a crate::Inspection,
    hash: &crate::InspectedPartition,
    sb: &crate::VerityInfo,
) -> Option<&'a crate::InspectedPartition> {
    let protected = hash.kind.parse().ok().map(ingot_types::PartitionType::Gpt).and_then(|t| t.verity_data());
    let by_type: Vec<_> = i.partitions.iter().filter(|p| protected.is_some_and(|t| p.kind == t.to_string())).collect();
    if let [one] = by_type.as_slice() {
        return Some(one);
    }
    let bytes = sb.data_blocks.checked_mul(u64::from(sb.data_block_size))?;
    let by_size: Vec<_> = i.partitions.iter().filter(|p| p.verity.is_none() && p.size == bytes).collect();
    match by_size.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Fills `check` for the pair `data`/`hash`.
fn check_pair(
    file: &std::fs::File,
    written: &RangeSet,
    data: &crate::InspectedPartition,
    hash: &crate::InspectedPartition,
    sb: &crate::VerityInfo,
    check: &mut VerityCheck,
) -> Result<()> {
    let bs = BLOCK_SIZE as u32;
    if (sb.algorithm.as_str(), sb.hash_type, sb.data_block_size, sb.hash_block_size) != ("sha256", 1, bs, bs) {
        check.first_bad = Some(format!(
            "not checked: ingot checks sha256 trees of 4096-byte blocks (format 1); this one is {} of {}/{}-byte blocks (format {})",
            sb.algorithm, sb.data_block_size, sb.hash_block_size, sb.hash_type
        ));
        return Ok(());
    }
    let need = ingot_verity::hash_size(sb.data_blocks);
    if sb.data_blocks.saturating_mul(u64::from(bs)) > data.size || need > hash.size {
        check.first_bad = Some(format!(
            "the superblock's {} data blocks do not fit partition {} or their tree partition {}",
            sb.data_blocks, data.number, hash.number
        ));
        return Ok(());
    }
    let salt = hex::decode(&sb.salt).map_err(std::io::Error::other)?;
    let uuid: Uuid = sb.uuid.parse().map_err(std::io::Error::other)?;
    let computed = read_tree(file, written, data.offset, sb.data_blocks, (&salt, uuid), &|| false)?;
    let mut stored = vec![0u8; need as usize];
    file.read_exact_at(&mut stored, hash.offset)?;
    let (d, h) = ingot_verity::partition_uuids(&computed.root);
    check.partuuids_match = data.guid == Some(d.to_string()) && hash.guid == Some(h.to_string());
    check.root_hash = Some(hex::encode(computed.root));
    check.first_bad = ingot_verity::first_mismatch(&stored, &computed, sb.data_blocks).map(|m| match m {
        ingot_verity::Mismatch::DataBlock(n) => format!(
            "data block {n} (bytes {}..{} of partition {}) does not hash to what the tree holds",
            n * u64::from(bs),
            (n + 1) * u64::from(bs),
            data.number
        ),
        ingot_verity::Mismatch::HashBlock(n) => format!("hash block {n} of partition {} differs", hash.number),
    });
    Ok(())
}
