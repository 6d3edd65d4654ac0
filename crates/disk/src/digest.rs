//! The image digest: what identifies an image by its content at a cost in proportion to
//! its data, not its size.
//!
//! An image is cut into blocks of [`BLOCK_SIZE`] bytes (512 KiB, the block of the EBS
//! direct API, so the digests a build reports are the ones an upload sends); the last
//! block is padded with zeros. A block is *non-zero* when any of its bytes is. The
//! image digest is the SHA-256 of
//!
//! ```text
//! size as 8 bytes little-endian
//! then, for each non-zero block in ascending index order:
//!     its index as 8 bytes little-endian, then the 32-byte SHA-256 of its 512 KiB
//! ```
//!
//! so two images have the same digest exactly when they have the same size and the same
//! bytes. Only the blocks that hold data (found with SEEK_DATA) are read: holes are zero
//! blocks by definition. A partition's digest is the same with the partition as the
//! image. docs/recipe.md gives a short script that recomputes it.
//!
//! ```
//! use ingot_disk::digest::{block_digests, image_digest, BLOCK_SIZE};
//! use std::os::unix::fs::FileExt;
//!
//! let file = tempfile::tempfile().unwrap();
//! file.set_len(4 * BLOCK_SIZE).unwrap();
//! file.write_all_at(b"data", 2 * BLOCK_SIZE + 7).unwrap();
//! let blocks = block_digests(&file, 0, 4 * BLOCK_SIZE, 2, &|_| {}).unwrap();
//! assert_eq!(blocks.keys().copied().collect::<Vec<_>>(), vec![2]);
//! let digest = image_digest(4 * BLOCK_SIZE, &blocks);
//! assert_eq!(digest.len(), 32);
//! ```

use crate::image::is_zero;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The unit of the digest: the EBS direct API's snapshot block, 512 KiB.
pub const BLOCK_SIZE: u64 = 524_288;

/// Blocks a hashing thread takes at a time: 8 MiB, large enough that taking work costs
/// nothing beside hashing it, small enough that two threads finish together.
const BLOCKS_PER_TAKE: usize = 16;

/// SHA-256 of each non-zero block, by block index.
pub type BlockDigests = BTreeMap<u64, [u8; 32]>;

/// One block's index and digest, as a hashing thread finds it.
type Digested = (u64, [u8; 32]);

/// SHA-256 of one block's bytes (a short last block is padded with zeros to
/// [`BLOCK_SIZE`]); `None` for an all-zero block.
pub fn block_digest(data: &[u8]) -> Option<[u8; 32]> {
    if is_zero(data) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(data);
    if (data.len() as u64) < BLOCK_SIZE {
        h.update(vec![0u8; BLOCK_SIZE as usize - data.len()]);
    }
    Some(h.finalize().into())
}

/// The digest of an image of `size` bytes whose non-zero blocks are `blocks`.
pub fn image_digest(size: u64, blocks: &BlockDigests) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(size.to_le_bytes());
    for (index, digest) in blocks {
        h.update(index.to_le_bytes());
        h.update(digest);
    }
    h.finalize().into()
}

/// The indexes `[first, end)` of the blocks of `[offset, offset + len)` (relative to
/// `offset`) that hold data, found with SEEK_DATA / SEEK_HOLE.
pub fn data_blocks(file: &File, offset: u64, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, end) in crate::data_ranges(file, offset + len)? {
        let (start, end) = (start.max(offset) - offset, end.saturating_sub(offset));
        if start >= end {
            continue;
        }
        let (first, last) = (start / BLOCK_SIZE, end.div_ceil(BLOCK_SIZE));
        match out.last_mut() {
            Some(prev) if first <= prev.1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    Ok(out)
}

/// The SHA-256 of every non-zero block of `[offset, offset + len)` of `file`, reading
/// only the blocks that hold data, on up to `threads` threads. `done` is told the bytes
/// of each block as it is hashed.
pub fn block_digests(
    file: &File,
    offset: u64,
    len: u64,
    threads: usize,
    done: &(dyn Fn(u64) + Sync),
) -> io::Result<BlockDigests> {
    let indexes: Vec<u64> = data_blocks(file, offset, len)?.into_iter().flat_map(|(s, e)| s..e).collect();
    let next = AtomicUsize::new(0);
    let work = || -> io::Result<Vec<Digested>> {
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        let mut out = Vec::new();
        loop {
            let first = next.fetch_add(BLOCKS_PER_TAKE, Ordering::Relaxed);
            let Some(take) = indexes.get(first..(first + BLOCKS_PER_TAKE).min(indexes.len())) else {
                return Ok(out);
            };
            if take.is_empty() {
                return Ok(out);
            }
            for &index in take {
                let n = (len - index * BLOCK_SIZE).min(BLOCK_SIZE) as usize;
                file.read_exact_at(&mut buf[..n], offset + index * BLOCK_SIZE)?;
                if let Some(d) = block_digest(&buf[..n]) {
                    out.push((index, d));
                }
                done(n as u64);
            }
        }
    };
    let threads = threads.clamp(1, indexes.len().div_ceil(BLOCKS_PER_TAKE).max(1));
    let parts: Vec<io::Result<Vec<Digested>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut parts = vec![work()];
        parts.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("panicked")))));
        parts
    });
    let mut blocks = BlockDigests::new();
    for part in parts {
        blocks.extend(part?);
    }
    Ok(blocks)
}

/// The digests of the blocks of `[offset, offset + len)` of an image whose blocks are
/// `blocks`, renumbered from that range's start; `None` unless the range starts and ends
/// on block boundaries (or at the image's end), where its blocks are the image's.
pub fn range_blocks(blocks: &BlockDigests, size: u64, offset: u64, len: u64) -> Option<BlockDigests> {
    let end = offset + len;
    if offset % BLOCK_SIZE != 0 || (end % BLOCK_SIZE != 0 && end != size) {
        return None;
    }
    let first = offset / BLOCK_SIZE;
    Some(blocks.range(first..end.div_ceil(BLOCK_SIZE)).map(|(i, d)| (i - first, *d)).collect())
}

/// The lowest block index at which two block lists differ (a block in one and not the
/// other, or with another digest); `None` when they are equal.
pub fn first_difference(a: &BlockDigests, b: &BlockDigests) -> Option<u64> {
    let mut a = a.iter().peekable();
    let mut b = b.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some((i, _)), None) | (None, Some((i, _))) => return Some(**i),
            (Some((i, x)), Some((j, y))) if i == j => {
                if x != y {
                    return Some(**i);
                }
                a.next();
                b.next();
            }
            (Some((i, _)), Some((j, _))) => return Some(**i.min(j)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(blocks: &[(u64, u8)], size: u64) -> File {
        let f = tempfile::tempfile().unwrap();
        f.set_len(size).unwrap();
        for &(i, byte) in blocks {
            let n = (size - i * BLOCK_SIZE).min(BLOCK_SIZE) as usize;
            f.write_all_at(&vec![byte; n], i * BLOCK_SIZE).unwrap();
        }
        f
    }

    #[test]
    fn only_non_zero_blocks_are_listed_and_written_zeros_count_as_holes() {
        let size = 6 * BLOCK_SIZE + 100;
        let f = image(&[(1, 7), (3, 0), (6, 9)], size);
        for threads in [1, 2, 5] {
            let b = block_digests(&f, 0, size, threads, &|_| {}).unwrap();
            assert_eq!(b.keys().copied().collect::<Vec<_>>(), vec![1, 6]);
            let mut padded = vec![9u8; 100];
            padded.resize(BLOCK_SIZE as usize, 0);
            assert_eq!(b[&6], <[u8; 32]>::from(Sha256::digest(&padded)));
        }
        let holes = image(&[(1, 7), (6, 9)], size);
        let b = block_digests(&holes, 0, size, 2, &|_| {}).unwrap();
        assert_eq!(image_digest(size, &b), image_digest(size, &block_digests(&f, 0, size, 1, &|_| {}).unwrap()));
        assert_ne!(image_digest(size, &b), image_digest(size + 1, &b), "the size is part of the digest");
    }

    #[test]
    fn the_digest_is_sha256_of_size_then_index_and_digest_pairs() {
        let blocks: BlockDigests = [(2, [1u8; 32]), (9, [2u8; 32])].into_iter().collect();
        let mut text = 100u64.to_le_bytes().to_vec();
        text.extend(2u64.to_le_bytes());
        text.extend([1u8; 32]);
        text.extend(9u64.to_le_bytes());
        text.extend([2u8; 32]);
        assert_eq!(image_digest(100, &blocks), <[u8; 32]>::from(Sha256::digest(&text)));
    }

    #[test]
    fn a_range_is_hashed_relative_to_its_start_and_aligned_ranges_reuse_the_image_blocks() {
        let size = 8 * BLOCK_SIZE;
        let f = image(&[(1, 7), (4, 8), (5, 9)], size);
        let whole = block_digests(&f, 0, size, 2, &|_| {}).unwrap();
        let part = block_digests(&f, 4 * BLOCK_SIZE, 2 * BLOCK_SIZE, 2, &|_| {}).unwrap();
        assert_eq!(part.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(range_blocks(&whole, size, 4 * BLOCK_SIZE, 2 * BLOCK_SIZE), Some(part));
        assert_eq!(range_blocks(&whole, size, 4096, BLOCK_SIZE), None);
    }

    #[test]
    fn the_first_difference_is_the_lowest_index_that_differs() {
        let a: BlockDigests = [(1, [1; 32]), (3, [3; 32]), (5, [5; 32])].into_iter().collect();
        assert_eq!(first_difference(&a, &a), None);
        let mut b = a.clone();
        b.insert(5, [0; 32]);
        assert_eq!(first_difference(&a, &b), Some(5));
        b.remove(&3);
        assert_eq!(first_difference(&a, &b), Some(3));
        b.insert(2, [2; 32]);
        assert_eq!(first_difference(&b, &a), Some(2));
        assert_eq!(first_difference(&a, &BlockDigests::new()), Some(1));
    }
}
