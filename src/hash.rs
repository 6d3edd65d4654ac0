use crate::error::{Error, Result, ResultExt};
use crate::Progress;
use ingot_disk::digest::{image_digest, range_blocks, BlockDigests};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const CHUNK: u64 = 1 << 20;

/// Which digests a build report carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportDigests {
    /// The image digest and the SHA-256 of each non-zero 512 KiB block, of the image and
    /// of each partition: cost in proportion to the data (`--no-digest` turns it off).
    pub blocks: bool,
    /// The SHA-256 of the whole image and of each partition, holes hashed as zeros: cost
    /// in proportion to the disk's size (`--sha256` turns it on).
    pub sha256: bool,
}

impl Default for ReportDigests {
    fn default() -> Self {
        ReportDigests { blocks: true, sha256: false }
    }
}

/// Digests of a finished image.
pub(crate) struct Hashed {
    /// The image digest (hex), with [`ReportDigests::blocks`].
    pub digest: Option<String>,
    /// The non-zero blocks' SHA-256 (hex) by index, with [`ReportDigests::blocks`].
    pub blocks: BTreeMap<u64, String>,
    /// SHA-256 of the whole image, with [`ReportDigests::sha256`].
    pub sha256: Option<String>,
    /// `(digest, sha256)` of each requested range, as asked for.
    pub ranges: Vec<(Option<String>, Option<String>)>,
    /// Bytes of the image that are data rather than holes.
    pub data_bytes: u64,
}

/// Hashing threads: every core, since hashing (the image's digests at the end of a
/// build, a dm-verity tree before the ESP) is the only work left at the time.
pub(crate) fn hash_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The digests `choice` asks for of the image and of each `(offset, len)` range. Block
/// digests read only the data (SEEK_DATA) and run on every core; the whole-file SHA-256
/// runs on a thread of its own, holes hashed as zeros without being read.
pub(crate) fn hash_image(
    path: &Path,
    file: &File,
    size: u64,
    ranges: &[(u64, u64)],
    choice: ReportDigests,
    progress: &Progress,
) -> Result<Hashed> {
    let data =
        ingot_disk::data_ranges(file, size).with_context(|| format!("{}: cannot find its data", path.display()))?;
    let data_bytes = data.iter().map(|(s, e)| e - s).sum();
    let mut hashed = Hashed {
        digest: None,
        blocks: BTreeMap::new(),
        sha256: None,
        ranges: vec![(None, None); ranges.len()],
        data_bytes,
    };
    if choice.blocks {
        progress.bytes("hashing the data blocks", data_bytes);
        let blocks = block_digests(file, 0, size, progress)
            .with_context(|| format!("{}: cannot read it back", path.display()))?;
        for (&(off, len), out) in ranges.iter().zip(&mut hashed.ranges) {
            let part = match range_blocks(&blocks, size, off, len) {
                Some(b) => b,
                None => block_digests(file, off, len, &Progress::hidden())
                    .with_context(|| format!("{}: cannot read it back", path.display()))?,
            };
            out.0 = Some(hex::encode(image_digest(len, &part)));
        }
        hashed.digest = Some(hex::encode(image_digest(size, &blocks)));
        hashed.blocks = blocks_hex(&blocks);
    }
    if choice.sha256 {
        let (image, parts) = sha256_image(file, &data, size, ranges, progress)
            .with_context(|| format!("{}: cannot read it back", path.display()))?;
        hashed.sha256 = Some(image);
        for (out, sha) in hashed.ranges.iter_mut().zip(parts) {
            out.1 = Some(sha);
        }
    }
    Ok(hashed)
}

/// The SHA-256 of every non-zero block of `[offset, offset + len)`, on every core.
pub(crate) fn block_digests(file: &File, offset: u64, len: u64, progress: &Progress) -> Result<BlockDigests> {
    Ok(ingot_disk::digest::block_digests(file, offset, len, hash_threads(), &|n| progress.inc(n))?)
}

/// Block digests as a report writes them: lowercase hex by index.
pub(crate) fn blocks_hex(blocks: &BlockDigests) -> BTreeMap<u64, String> {
    blocks.iter().map(|(&i, d)| (i, hex::encode(d))).collect()
}

/// Block digests from a report's hex; `what` names the report in the error.
pub(crate) fn blocks_from_hex(blocks: &BTreeMap<u64, String>, what: &Path) -> Result<BlockDigests> {
    blocks
        .iter()
        .map(|(&i, h)| {
            let mut d = [0u8; 32];
            if hex::decode_to_slice(h, &mut d).is_err() {
                return Err(Error::invalid(format!("{}: block {i}: {h:?} is not a SHA-256 in hex", what.display())));
            }
            Ok((i, d))
        })
        .collect()
}

/// SHA-256 of the whole image (on a thread of its own) and of each range.
fn sha256_image(
    file: &File,
    data: &[(u64, u64)],
    size: u64,
    ranges: &[(u64, u64)],
    progress: &Progress,
) -> Result<(String, Vec<String>)> {
    progress.bytes("hashing every byte (the whole-file SHA-256)", size + ranges.iter().map(|r| r.1).sum::<u64>());
    let (image, parts) = std::thread::scope(|s| {
        let whole = s.spawn(|| hash_range(file, data, 0, size, progress));
        let parts: Result<Vec<String>> =
            ranges.iter().map(|&(off, len)| hash_range(file, data, off, len, progress)).collect();
        (whole.join(), parts)
    });
    let image = image.map_err(|_| Error::invalid("the hashing thread panicked"))??;
    Ok((image, parts?))
}

/// SHA-256 of `len` bytes at `start`, reading only the `data` runs.
fn hash_range(file: &File, data: &[(u64, u64)], start: u64, len: u64, progress: &Progress) -> Result<String> {
    let zeros = vec![0u8; CHUNK as usize];
    let mut buf = vec![0u8; CHUNK as usize];
    let mut h = Sha256::new();
    let end = start + len;
    let mut pos = start;
    let mut next = data.partition_point(|&(_, e)| e <= start);
    while pos < end {
        while next < data.len() && data[next].1 <= pos {
            next += 1;
        }
        let (n, is_data) = match data.get(next) {
            Some(&(s, e)) if s <= pos => (CHUNK.min(e.min(end) - pos), true),
            Some(&(s, _)) => (CHUNK.min(s.min(end) - pos), false),
            None => (CHUNK.min(end - pos), false),
        };
        if is_data {
            file.read_exact_at(&mut buf[..n as usize], pos).with_context(|| format!("read at {pos}"))?;
            h.update(&buf[..n as usize]);
        } else {
            h.update(&zeros[..n as usize]);
        }
        pos += n;
        progress.inc(n);
    }
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 (lowercase hex) of the first `size` bytes of `file`, holes hashed without reading.
pub(crate) fn sha256_file(file: &File, size: u64) -> Result<String> {
    let data = ingot_disk::data_ranges(file, size)?;
    hash_range(file, &data, 0, size, &Progress::hidden())
}

/// The image digest (lowercase hex) of the image at `path`: its data blocks read and
/// hashed on every core.
pub(crate) fn image_digest_of(path: &Path, size: u64, progress: &Progress) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot read the image", path.display()))?;
    let blocks = block_digests(&file, 0, size, progress).with_context(|| format!("hashing {}", path.display()))?;
    Ok(hex::encode(image_digest(size, &blocks)))
}

/// SHA-256 (lowercase hex) of a text.
pub(crate) fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
