use crate::Progress;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const CHUNK: u64 = 1 << 20;

/// SHA-256 of the whole image and of each `(offset, len)` range, in one pass over the
/// image. Holes are found with SEEK_DATA and hashed as zeros without being read.
pub(crate) fn hash_image(
    path: &Path,
    file: &File,
    size: u64,
    ranges: &[(u64, u64)],
    progress: &Progress,
) -> Result<(String, Vec<String>, u64)> {
    let extents =
        ingot_disk::data_ranges(file, size).with_context(|| format!("{}: cannot find its data", path.display()))?;
    let mut whole = Sha256::new();
    let mut parts: Vec<Sha256> = ranges.iter().map(|_| Sha256::new()).collect();
    let zeros = vec![0u8; CHUNK as usize];
    let mut buf = vec![0u8; CHUNK as usize];
    let mut data_bytes = 0;
    let mut pos = 0u64;
    progress.bytes("hashing", size);
    let mut next = 0;
    while pos < size {
        while next < extents.len() && extents[next].1 <= pos {
            next += 1;
        }
        let (chunk, is_data) = match extents.get(next) {
            Some(&(s, e)) if s <= pos => (CHUNK.min(e - pos), true),
            Some(&(s, _)) => (CHUNK.min(s - pos), false),
            None => (CHUNK.min(size - pos), false),
        };
        let bytes = if is_data {
            let b = &mut buf[..chunk as usize];
            file.read_exact_at(b, pos).with_context(|| format!("{}: read at {pos}", path.display()))?;
            data_bytes += chunk;
            &buf[..chunk as usize]
        } else {
            &zeros[..chunk as usize]
        };
        whole.update(bytes);
        for (i, &(off, len)) in ranges.iter().enumerate() {
            let (s, e) = (pos.max(off), (pos + chunk).min(off + len));
            if s < e {
                parts[i].update(&bytes[(s - pos) as usize..(e - pos) as usize]);
            }
        }
        pos += chunk;
        progress.inc(chunk);
    }
    Ok((hex(&whole.finalize()), parts.into_iter().map(|h| hex(&h.finalize())).collect(), data_bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
