//! Chunk-based files (`EROFS_INODE_CHUNK_BASED`; fs/erofs/erofs_fs.h: `struct
//! erofs_inode_chunk_info`, `EROFS_BLOCK_MAP_ENTRY_SIZE`; Documentation/filesystems/
//! erofs.rst, "Chunk-based files"): a sparse file's data in chunks of
//! `blocksize << format` bytes, each mapped by a 4-byte block address in an array right
//! after the inode and its xattrs. Only chunks holding data take blocks of their own;
//! every chunk that is all hole maps to one shared chunk of zeros, as mkfs.erofs 1.5 maps
//! them, rather than to `EROFS_NULL_ADDR`, which the kernel reads as zeros but Debian
//! 12's fsck.erofs (1.5) extracts wrongly (it skips the hole and writes what follows in
//! its place).

use crate::BLOCK_SIZE;
use ingot_tree::Data;

/// Files under this size are written flat even with holes: a map is not worth it.
pub(crate) const SPARSE_MIN: u64 = 1 << 20;
/// The most chunks a map has: 64 KiB of map. The chunk size grows (in powers of two)
/// with the file: 256 KiB chunks for 4 GiB; the shared chunk of zeros is as large as the
/// largest.
const MAX_CHUNKS: u64 = 16384;
/// `EROFS_FEATURE_INCOMPAT_CHUNKED_FILE`: the superblock says chunk-based files exist.
pub(crate) const EROFS_FEATURE_INCOMPAT_CHUNKED_FILE: u32 = 0x4;
/// `log2` of the block size.
const BLKBITS: u32 = BLOCK_SIZE.trailing_zeros();

/// A sparse file's chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunks {
    /// `log2` of the chunk size.
    pub bits: u32,
    /// The file's size.
    pub size: u64,
    /// Whether each chunk holds data.
    pub data: Vec<bool>,
    /// Each chunk's first block (set by [`Chunks::place`]).
    pub addrs: Vec<u32>,
}

impl Chunks {
    /// The chunks of a file whose `data` has holes, `None` for one without (or a small
    /// one, [`SPARSE_MIN`]).
    pub(crate) fn of(data: &Data) -> Option<Chunks> {
        let stored: u64 = data.extents.iter().map(|e| e.len).sum();
        if data.size < SPARSE_MIN || stored >= data.size {
            return None;
        }
        let mut bits = BLKBITS;
        while data.size.div_ceil(1 << bits) > MAX_CHUNKS {
            bits += 1;
        }
        let n = data.size.div_ceil(1 << bits) as usize;
        let mut with_data = vec![false; n];
        for e in data.extents.iter().filter(|e| e.len > 0) {
            let (first, last) = (e.offset >> bits, (e.offset + e.len - 1) >> bits);
            with_data[first as usize..=last as usize].fill(true);
        }
        Some(Chunks { bits, size: data.size, data: with_data, addrs: vec![0; n] })
    }

    /// `i_u.c.format`: the chunk size's `log2` above the block size's, with the plain
    /// 4-byte block map (no `EROFS_CHUNK_FORMAT_INDEXES`).
    pub(crate) fn format(&self) -> u32 {
        self.bits - BLKBITS
    }

    /// Chunk `i`'s bytes in the file: its offset and length (the last may be short).
    pub(crate) fn range(&self, i: usize) -> (u64, u64) {
        let start = (i as u64) << self.bits;
        (start, (self.size - start).min(1 << self.bits))
    }

    /// Whether chunk `i` holds data (takes blocks).
    pub(crate) fn has_data(&self, i: usize) -> bool {
        self.data[i]
    }

    /// Whether it has a chunk that is all hole (mapped to the chunk of zeros).
    pub(crate) fn has_hole(&self) -> bool {
        self.data.contains(&false)
    }

    /// The chunk size in bytes.
    pub(crate) fn chunk_size(&self) -> u64 {
        1 << self.bits
    }

    /// Blocks the data chunks take.
    pub(crate) fn blocks(&self) -> u64 {
        (0..self.addrs.len()).filter(|&i| self.has_data(i)).map(|i| self.range(i).1.div_ceil(BLOCK_SIZE)).sum()
    }

    /// Gives the data chunks blocks from `next` on, and maps the holes to the chunk of
    /// zeros at block `zeros`; returns the block after the data, `None` past 2^32 blocks.
    pub(crate) fn place(&mut self, mut next: u64, zeros: u32) -> Option<u64> {
        for i in 0..self.addrs.len() {
            self.addrs[i] = if self.has_data(i) { u32::try_from(next).ok()? } else { zeros };
            if self.has_data(i) {
                next += self.range(i).1.div_ceil(BLOCK_SIZE);
            }
        }
        Some(next)
    }

    /// The block map's bytes.
    pub(crate) fn map(&self) -> Vec<u8> {
        self.addrs.iter().flat_map(|a| a.to_le_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_tree::Extent;

    fn data(size: u64, extents: &[(u64, u64)]) -> Data {
        let extents = extents.iter().map(|&(offset, len)| Extent { offset, len, at: offset }).collect();
        Data { file: std::sync::Arc::new(std::fs::File::open("/dev/null").unwrap()), extents, size }
    }

    #[test]
    fn a_sparse_file_maps_only_the_chunks_with_data() {
        // 64 MiB with 3 bytes at its end: 16,384 chunks of 4 KiB, the last one mapped.
        let mut c = Chunks::of(&data(64 << 20, &[((64 << 20) - 3, 3)])).unwrap();
        assert_eq!((c.bits, c.format(), c.addrs.len()), (12, 0, 16384));
        assert_eq!(c.blocks(), 1);
        assert_eq!(c.place(100, 7), Some(101));
        assert_eq!((c.addrs[16383], c.addrs[0]), (100, 7));
        assert_eq!(&c.map()[16383 * 4..], &100u32.to_le_bytes());
        // 4 GiB + 1 byte: chunks of 512 KiB, the last one a byte long.
        let c = Chunks::of(&data((4 << 30) + 1, &[(0, 4096), (4 << 30, 1)])).unwrap();
        assert_eq!((c.bits, c.addrs.len()), (19, 8193));
        assert_eq!(c.range(8192), (4 << 30, 1));
        assert_eq!(c.blocks(), 128 + 1);
        assert!(c.has_hole());
        assert_eq!(Chunks::of(&data(2 << 20, &[(0, 2 << 20)])), None, "no hole");
        assert_eq!(Chunks::of(&data(4096, &[])), None, "small");
    }
}
