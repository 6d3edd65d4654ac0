//! Extent trees: `struct ext4_extent_header` (12 bytes), `ext4_extent` leaves and
//! `ext4_extent_idx` index entries (12 bytes each), with `ext4_extent_tail` checksums in
//! tree blocks. Up to 4 entries fit in the inode's `i_block`; more need tree blocks.

use crate::crc::{crc32c, inode_seed};

/// The largest initialised extent.
pub(crate) const MAX_EXTENT_LEN: u64 = 32768;
const EH_MAGIC: u16 = 0xF30A;

/// A mapped run: `len` blocks at logical block `logical`, stored at physical `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub logical: u64,
    pub start: u64,
    pub len: u64,
}

/// Splits runs into extents of at most 32,768 blocks.
pub(crate) fn extents(runs: &[Run]) -> Vec<Run> {
    let mut out = Vec::new();
    for r in runs {
        let mut done = 0;
        while done < r.len {
            let len = (r.len - done).min(MAX_EXTENT_LEN);
            out.push(Run { logical: r.logical + done, start: r.start + done, len });
            done += len;
        }
    }
    out
}

/// Entries that fit in one tree block.
pub(crate) fn per_block(block_size: u64) -> u64 {
    (block_size - 12) / 12
}

/// The number of tree blocks (leaves and index blocks) `n` extents need.
pub(crate) fn tree_blocks(n: u64, block_size: u64) -> u64 {
    let per = per_block(block_size);
    let mut level = n;
    let mut total = 0;
    while level > 4 {
        level = level.div_ceil(per);
        total += level;
    }
    total
}

fn header(entries: u16, max: u16, depth: u16) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0..2].copy_from_slice(&EH_MAGIC.to_le_bytes());
    h[2..4].copy_from_slice(&entries.to_le_bytes());
    h[4..6].copy_from_slice(&max.to_le_bytes());
    h[6..8].copy_from_slice(&depth.to_le_bytes());
    h
}

fn leaf_entry(r: &Run) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[0..4].copy_from_slice(&(r.logical as u32).to_le_bytes());
    e[4..6].copy_from_slice(&(r.len as u16).to_le_bytes());
    e[6..8].copy_from_slice(&((r.start >> 32) as u16).to_le_bytes());
    e[8..12].copy_from_slice(&(r.start as u32).to_le_bytes());
    e
}

fn index_entry(logical: u64, block: u64) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[0..4].copy_from_slice(&(logical as u32).to_le_bytes());
    e[4..8].copy_from_slice(&(block as u32).to_le_bytes());
    e[8..10].copy_from_slice(&((block >> 32) as u16).to_le_bytes());
    e
}

/// A built tree: the 60 bytes for `i_block` and the tree blocks to write.
pub(crate) struct Tree {
    pub i_block: [u8; 60],
    pub blocks: Vec<(u64, Vec<u8>)>,
}

/// Builds the extent tree of inode `ino` over `extents`, putting tree blocks at the
/// physical blocks `tree_blocks` (as many as [`tree_blocks`] said).
pub(crate) fn build(extents: &[Run], tree_blocks: &[u64], block_size: u64, csum_seed: u32, ino: u32) -> Tree {
    let per = per_block(block_size) as usize;
    let seed = inode_seed(csum_seed, ino, 0);
    // Each level: (first logical block, 12-byte entry) pairs.
    let mut level: Vec<(u64, [u8; 12])> = extents.iter().map(|r| (r.logical, leaf_entry(r))).collect();
    let mut depth = 0u16;
    let mut spare = tree_blocks.iter().copied();
    let mut blocks = Vec::new();
    while level.len() > 4 {
        let mut up = Vec::new();
        for chunk in level.chunks(per) {
            let at = spare.next().unwrap_or(0);
            let mut b = vec![0u8; block_size as usize];
            b[..12].copy_from_slice(&header(chunk.len() as u16, per as u16, depth));
            for (i, (_, e)) in chunk.iter().enumerate() {
                b[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
            }
            let tail = 12 + 12 * per;
            let c = crc32c(seed, &b[..tail]);
            b[tail..tail + 4].copy_from_slice(&c.to_le_bytes());
            up.push((chunk[0].0, index_entry(chunk[0].0, at)));
            blocks.push((at, b));
        }
        level = up;
        depth += 1;
    }
    let mut i_block = [0u8; 60];
    i_block[..12].copy_from_slice(&header(level.len() as u16, 4, depth));
    for (i, (_, e)) in level.iter().enumerate() {
        i_block[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
    }
    Tree { i_block, blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sizes() {
        assert_eq!(tree_blocks(4, 4096), 0);
        assert_eq!(tree_blocks(5, 4096), 1);
        assert_eq!(tree_blocks(340 * 4, 4096), 4);
        assert_eq!(tree_blocks(340 * 4 + 1, 4096), 5 + 1);
        let runs: Vec<Run> = (0..2000).map(|i| Run { logical: i * 2, start: 1000 + i * 2, len: 1 }).collect();
        let n = tree_blocks(runs.len() as u64, 4096);
        let blocks: Vec<u64> = (0..n).map(|i| 50 + i).collect();
        let t = build(&runs, &blocks, 4096, 0, 12);
        assert_eq!(t.blocks.len() as u64, n);
        assert_eq!(u16::from_le_bytes([t.i_block[6], t.i_block[7]]), 2, "2000 extents need depth 2");
        assert_eq!(extents(&[Run { logical: 0, start: 0, len: 70_000 }]).len(), 3);
    }
}
