//! Directories: `struct erofs_dirent` (fs/erofs/erofs_fs.h; Documentation/filesystems/
//! erofs.rst, "Directories"). A directory's data is blocks of entries, each block the
//! 12-byte dirents (`nid`, `nameoff`, `file_type`, `reserved`) then their names, without
//! NULs; the first dirent's `nameoff` tells how many there are, and the last name runs to
//! the block's end (or the directory's). Every entry, `.` and `..` too, is sorted by name
//! bytes across the whole directory (the kernel looks names up by binary search), and
//! none spans two blocks.

use crate::BLOCK_SIZE;

/// `sizeof(struct erofs_dirent)`.
const DIRENT_SIZE: usize = 12;
/// `EROFS_NAME_LEN`.
pub(crate) const EROFS_NAME_LEN: usize = 255;

/// A directory entry: the name, the inode it names and its type (`EROFS_FT_*`, the
/// generic `FT_*` numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dirent<'a> {
    pub name: &'a [u8],
    pub nid: u64,
    pub file_type: u8,
}

/// How entries of these name lengths (sorted) split into blocks: each block's first
/// entry and its bytes used.
pub(crate) fn pack(name_lens: &[usize]) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let (mut first, mut used) = (0, 0);
    for (i, len) in name_lens.iter().enumerate() {
        if used + DIRENT_SIZE + len > BLOCK_SIZE as usize {
            blocks.push((first, used));
            (first, used) = (i, 0);
        }
        used += DIRENT_SIZE + len;
    }
    blocks.push((first, used));
    blocks
}

/// The directory's size in bytes: every block whole but the last, which ends at its last
/// name.
pub(crate) fn size(blocks: &[(usize, usize)]) -> u64 {
    let last = blocks.last().map_or(0, |&(_, used)| used as u64);
    (blocks.len() as u64).saturating_sub(1) * BLOCK_SIZE + last
}

/// The directory's data: `entries` (sorted) in the blocks [`pack`] made of them, every
/// block but the last padded with zeros to the block size.
pub(crate) fn encode(entries: &[Dirent], blocks: &[(usize, usize)]) -> Vec<u8> {
    let mut data = Vec::with_capacity(blocks.len() * BLOCK_SIZE as usize);
    for (b, &(first, used)) in blocks.iter().enumerate() {
        let end = blocks.get(b + 1).map_or(entries.len(), |&(next, _)| next);
        let start = data.len();
        let mut nameoff = (end - first) * DIRENT_SIZE;
        for e in &entries[first..end] {
            data.extend_from_slice(&e.nid.to_le_bytes());
            data.extend_from_slice(&(nameoff as u16).to_le_bytes());
            data.extend_from_slice(&[e.file_type, 0]);
            nameoff += e.name.len();
        }
        entries[first..end].iter().for_each(|e| data.extend_from_slice(e.name));
        debug_assert_eq!(data.len() - start, used);
        if b + 1 < blocks.len() {
            data.resize(start + BLOCK_SIZE as usize, 0);
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_fill_blocks_without_spanning_and_the_last_block_ends_at_its_last_name() {
        // 300 entries of 20-byte names: 128 fit in a block (128 * 32 = 4096).
        let lens = vec![20; 300];
        let blocks = pack(&lens);
        assert_eq!(blocks, vec![(0, 4096), (128, 4096), (256, 44 * 32)]);
        assert_eq!(size(&blocks), 2 * 4096 + 44 * 32);
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("{i:020}").into_bytes()).collect();
        let entries: Vec<Dirent> = names.iter().map(|n| Dirent { name: n, nid: 9, file_type: 1 }).collect();
        let data = encode(&entries, &blocks);
        assert_eq!(data.len() as u64, size(&blocks));
        // The second block's first dirent: nid 9, its name after 128 dirents.
        assert_eq!(&data[4096..4104], &9u64.to_le_bytes());
        assert_eq!(u16::from_le_bytes([data[4104], data[4105]]), 128 * 12);
        assert_eq!(&data[4096 + 128 * 12..4096 + 128 * 12 + 20], format!("{:020}", 128).as_bytes());
    }
}
