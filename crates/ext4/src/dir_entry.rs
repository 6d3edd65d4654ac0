//! `struct ext4_dir_entry_2` in linear directory blocks, each ending in a
//! `struct ext4_dir_entry_tail` (a 12-byte fake entry holding the block's checksum).

use crate::crc::crc32c;

/// ext4_dir_entry_2.file_type values.
pub(crate) mod file_type {
    pub const REG: u8 = 1;
    pub const DIR: u8 = 2;
    pub const CHRDEV: u8 = 3;
    pub const BLKDEV: u8 = 4;
    pub const FIFO: u8 = 5;
    pub const SOCK: u8 = 6;
    pub const SYMLINK: u8 = 7;
}

const TAIL: usize = 12;

/// One directory entry to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub inode: u32,
    pub name: &'a [u8],
    pub file_type: u8,
}

fn rec_len(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

/// Packs entries into blocks: the index of the first entry of each block.
fn pack(names: impl Iterator<Item = usize>, block_size: usize) -> Vec<usize> {
    let cap = block_size - TAIL;
    let mut starts = vec![0];
    let mut used = 0;
    for (i, len) in names.enumerate() {
        let r = rec_len(len);
        if used + r > cap {
            starts.push(i);
            used = 0;
        }
        used += r;
    }
    starts
}

/// The entry index ranges of each block when `lens` (name lengths) are packed.
pub(crate) fn pack_ranges(lens: &[usize], block_size: usize) -> Vec<std::ops::Range<usize>> {
    let starts = pack(lens.iter().copied(), block_size);
    starts.iter().enumerate().map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(lens.len())).collect()
}

/// Blocks a directory with entries of these name lengths needs ("." and ".." included).
pub(crate) fn block_count(name_lens: impl Iterator<Item = usize>, block_size: usize) -> u64 {
    pack(name_lens, block_size).len() as u64
}

/// The directory's blocks, each checksummed with the inode seed `seed`, padded with
/// empty blocks to `min_blocks`.
pub(crate) fn blocks(entries: &[Entry<'_>], block_size: usize, seed: u32, min_blocks: usize) -> Vec<Vec<u8>> {
    let starts = pack(entries.iter().map(|e| e.name.len()), block_size);
    let cap = block_size - TAIL;
    let mut out = Vec::new();
    for (k, &first) in starts.iter().enumerate() {
        let last = starts.get(k + 1).copied().unwrap_or(entries.len());
        let mut b = vec![0u8; block_size];
        let mut at = 0;
        for (i, e) in entries[first..last].iter().enumerate() {
            let r = if first + i + 1 == last { cap - at } else { rec_len(e.name.len()) };
            put_entry(&mut b[at..], e, r);
            at += r;
        }
        finish(&mut b, seed);
        out.push(b);
    }
    while out.len() < min_blocks {
        let mut b = vec![0u8; block_size];
        put_entry(&mut b, &Entry { inode: 0, name: b"", file_type: 0 }, cap);
        finish(&mut b, seed);
        out.push(b);
    }
    out
}

fn put_entry(b: &mut [u8], e: &Entry<'_>, rec_len: usize) {
    b[0..4].copy_from_slice(&e.inode.to_le_bytes());
    b[4..6].copy_from_slice(&(rec_len as u16).to_le_bytes());
    b[6] = e.name.len() as u8;
    b[7] = e.file_type;
    b[8..8 + e.name.len()].copy_from_slice(e.name);
}

/// Writes the tail entry and its checksum.
fn finish(b: &mut [u8], seed: u32) {
    let n = b.len();
    let t = &mut b[n - TAIL..];
    t[0..4].copy_from_slice(&0u32.to_le_bytes());
    t[4..6].copy_from_slice(&(TAIL as u16).to_le_bytes());
    t[6] = 0;
    t[7] = 0xDE;
    let c = crc32c(seed, &b[..n - TAIL]);
    b[n - 4..].copy_from_slice(&c.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fill_blocks_and_the_last_one_reaches_the_tail() {
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("file-{i:04}").into_bytes()).collect();
        let entries: Vec<Entry<'_>> = names.iter().map(|n| Entry { inode: 12, name: n, file_type: 1 }).collect();
        let bs = blocks(&entries, 1024, 0, 0);
        assert_eq!(bs.len() as u64, block_count(names.iter().map(|n| n.len()), 1024));
        for b in &bs {
            let mut at = 0;
            while at < 1024 - TAIL {
                at += u16::from_le_bytes([b[at + 4], b[at + 5]]) as usize;
            }
            assert_eq!(at, 1024 - TAIL);
            assert_eq!(b[1024 - 5], 0xDE);
        }
    }
}
