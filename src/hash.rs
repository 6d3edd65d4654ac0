use crate::error::{Error, Result, ResultExt};
use crate::Progress;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const CHUNK: u64 = 1 << 20;

/// Digests of a finished image.
pub(crate) struct Digests {
    /// SHA-256 of the whole image (if asked for).
    pub image: Option<String>,
    /// SHA-256 of each requested range (if asked for).
    pub ranges: Vec<Option<String>>,
    /// Bytes of the image that are data rather than holes.
    pub data_bytes: u64,
}

/// SHA-256 of the whole image and of each `(offset, len)` range. The whole-image digest
/// runs on a thread of its own beside the range digests; holes (found with SEEK_DATA)
/// are hashed as zeros without being read.
pub(crate) fn hash_image(
    path: &Path,
    file: &File,
    size: u64,
    ranges: &[(u64, u64)],
    digest: bool,
    progress: &Progress,
) -> Result<Digests> {
    let data =
        ingot_disk::data_ranges(file, size).with_context(|| format!("{}: cannot find its data", path.display()))?;
    let data_bytes = data.iter().map(|(s, e)| e - s).sum();
    if !digest {
        return Ok(Digests { image: None, ranges: vec![None; ranges.len()], data_bytes });
    }
    progress.bytes("hashing", size + ranges.iter().map(|r| r.1).sum::<u64>());
    let (image, parts) = std::thread::scope(|s| {
        let whole = s.spawn(|| hash_range(file, &data, 0, size, progress));
        let parts: Result<Vec<String>> =
            ranges.iter().map(|&(off, len)| hash_range(file, &data, off, len, progress)).collect();
        (whole.join(), parts)
    });
    let image = image.map_err(|_| Error::invalid("the hashing thread panicked"))?;
    let image = image.with_context(|| format!("{}: cannot read it back", path.display()))?;
    let ranges = parts.with_context(|| format!("{}: cannot read it back", path.display()))?;
    Ok(Digests { image: Some(image), ranges: ranges.into_iter().map(Some).collect(), data_bytes })
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

/// SHA-256 (lowercase hex) of `len` bytes of `file` at `start`, holes hashed without reading.
pub(crate) fn sha256_range(file: &File, start: u64, len: u64) -> Result<String> {
    let data = ingot_disk::data_ranges(file, start + len)?;
    hash_range(file, &data, start, len, &Progress::hidden())
}

/// SHA-256 (lowercase hex) of the first `size` bytes of `file`, holes hashed without reading.
pub(crate) fn sha256_file(file: &File, size: u64) -> Result<String> {
    let data = ingot_disk::data_ranges(file, size)?;
    hash_range(file, &data, 0, size, &Progress::hidden())
}

/// SHA-256 (lowercase hex) of the image at `path`, holes hashed without reading.
pub(crate) fn image_sha256(path: &Path, size: u64) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("{}: cannot read the image", path.display()))?;
    sha256_file(&file, size).with_context(|| format!("hashing {}", path.display()))
}

/// SHA-256 (lowercase hex) of a text.
pub(crate) fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
