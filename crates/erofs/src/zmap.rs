//! Compressed files (`EROFS_INODE_COMPRESSED_FULL`; fs/erofs/erofs_fs.h: `struct
//! z_erofs_map_header`, `struct z_erofs_vle_decompressed_index` (`z_erofs_lcluster_index`
//! in later kernels), `Z_EROFS_VLE_LEGACY_INDEX_ALIGN`; Documentation/filesystems/
//! erofs.rst, "Compression"), in the form Linux 6.1 and erofs-utils 1.5 read with no
//! configuration: LZ4, 4 KiB logical clusters, physical clusters of one block, the
//! compressed bytes at the end of their block (`EROFS_FEATURE_INCOMPAT_ZERO_PADDING`).
//!
//! A file is cut into extents, each one block on disk: LZ4 filled to 4,096 bytes of
//! output (LZ4HC's "destSize" mode, as mkfs.erofs does), or when that would not hold more
//! than a block of input, the next 4,096 bytes as they are (a plain extent; the last
//! bytes of the file always are). After the inode and its xattrs, aligned to 8 bytes:
//! the 8-byte map header (all zeros: LZ4, 4 KiB clusters, no options), 8 bytes of
//! padding, then one 8-byte index per 4 KiB of the file: the logical cluster where an
//! extent starts holds its type, its offset in the cluster and its block; the others
//! (`NONHEAD`) the distance back to their extent's head and on to the next one's.

use crate::BLOCK_SIZE;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// `EROFS_INODE_COMPRESSED_FULL`: an index for every logical cluster.
pub(crate) const EROFS_INODE_COMPRESSED_FULL: u16 = 1;
/// `EROFS_FEATURE_INCOMPAT_ZERO_PADDING`: compressed data ends at its block's end.
pub(crate) const EROFS_FEATURE_INCOMPAT_ZERO_PADDING: u32 = 0x1;
/// The map header and its padding (`Z_EROFS_VLE_LEGACY_INDEX_ALIGN`).
const HEADER: u64 = 16;
/// `Z_EROFS_VLE_CLUSTER_TYPE_*`.
const PLAIN: u16 = 0;
const HEAD: u16 = 1;
const NONHEAD: u16 = 2;
/// The most input one extent takes: LZ4 fills 4 KiB of output from at most about 1 MiB
/// (its longest match run), and a head's distance (`delta[0]`) must stay under 2,048
/// clusters.
const WINDOW: usize = 1 << 20;
/// LZ4HC's level (its default, mkfs.erofs's `-zlz4hc` default).
const LEVEL: i32 = 9;

/// An extent: where it starts in the file, and whether it is stored as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    start: u64,
    plain: bool,
}

/// A compressed file: its extents and their blocks.
#[derive(Clone, Debug)]
pub(crate) struct Compressed {
    size: u64,
    extents: Vec<Extent>,
    /// One block per extent: in memory, until spooled.
    blocks: Vec<u8>,
    /// Where they were spooled: a file and the offset in it.
    spooled: Option<(Arc<std::fs::File>, u64)>,
    /// The first block (set by the layout).
    pub first_block: u32,
}

impl Compressed {
    /// `size` bytes from `content` compressed, or `None` when that saves no block.
    pub(crate) fn of(mut content: impl Read, size: u64) -> std::io::Result<Option<Compressed>> {
        let bs = BLOCK_SIZE as usize;
        let (mut extents, mut blocks) = (Vec::new(), Vec::new());
        let (mut buf, mut head, mut pos) = (Vec::with_capacity(2 * WINDOW), 0usize, 0u64);
        let mut out = vec![0u8; bs];
        while pos < size {
            if head > WINDOW {
                buf.drain(..head);
                head = 0;
            }
            let want = (WINDOW as u64).min(size - pos) as usize;
            while buf.len() - head < want {
                let at = buf.len();
                buf.resize(head + want, 0);
                let n = content.read(&mut buf[at..])?;
                buf.truncate(at + n);
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file shrank while read"));
                }
            }
            let input = &buf[head..head + want];
            let (read, wrote) = if want <= bs { (0, 0) } else { compress(input, &mut out)? };
            let block_start = blocks.len();
            blocks.resize(block_start + bs, 0);
            let taken = if read > bs {
                blocks[block_start + bs - wrote..block_start + bs].copy_from_slice(&out[..wrote]);
                read
            } else {
                let n = want.min(bs);
                blocks[block_start..block_start + n].copy_from_slice(&input[..n]);
                n
            };
            extents.push(Extent { start: pos, plain: read <= bs });
            (pos, head) = (pos + taken as u64, head + taken);
        }
        if extents.len() as u64 >= size.div_ceil(BLOCK_SIZE) {
            return Ok(None);
        }
        Ok(Some(Compressed { size, extents, blocks, spooled: None, first_block: 0 }))
    }

    /// Blocks on disk (`i_u.compressed_blocks`).
    pub(crate) fn block_count(&self) -> u64 {
        self.extents.len() as u64
    }

    /// Moves the blocks out of memory, to `at` in `file`; returns the offset after them.
    pub(crate) fn spool(&mut self, file: &Arc<std::fs::File>, at: u64) -> std::io::Result<u64> {
        file.write_all_at(&self.blocks, at)?;
        let end = at + self.blocks.len() as u64;
        self.blocks = Vec::new();
        self.spooled = Some((Arc::clone(file), at));
        Ok(end)
    }

    /// Writes the blocks at `to` in `image`.
    pub(crate) fn write_to(&self, image: &mut ingot_disk::Image, to: u64) -> Result<(), ingot_disk::DiskError> {
        match &self.spooled {
            Some((file, at)) => image.copy_from(file, *at, self.block_count() * BLOCK_SIZE, to),
            None => image.write_at(&self.blocks, to),
        }
    }

    /// Bytes of the header and indexes after the inode and its xattrs, which end at
    /// `inode_end` (from the inode's 32-byte-aligned start): with the 8-byte alignment.
    pub(crate) fn map_len(&self, inode_end: u64) -> u64 {
        inode_end.next_multiple_of(8) - inode_end + HEADER + 8 * self.size.div_ceil(BLOCK_SIZE)
    }

    /// The header and the index of every logical cluster.
    pub(crate) fn map(&self) -> Vec<u8> {
        let clusters = self.size.div_ceil(BLOCK_SIZE) as usize;
        let mut index = vec![[0u8; 8]; clusters];
        for (k, e) in self.extents.iter().enumerate() {
            let end = self.extents.get(k + 1).map_or(self.size, |next| next.start);
            let (head, ofs) = ((e.start / BLOCK_SIZE) as usize, (e.start % BLOCK_SIZE) as u16);
            let kind = if e.plain { PLAIN } else { HEAD };
            index[head] = entry(kind, ofs, self.first_block + k as u32);
            let next_head = (end / BLOCK_SIZE) as usize;
            for (lcn, i) in index.iter_mut().enumerate().take(next_head).skip(head + 1) {
                let deltas = ((lcn - head) as u32) | ((next_head - lcn) as u32) << 16;
                *i = entry(NONHEAD, ofs, deltas);
            }
        }
        // The cluster holding the end of the file, when no extent starts there: a plain
        // index at the end's offset, which nothing reads (mkfs.erofs writes it too).
        let last = (self.size / BLOCK_SIZE) as usize;
        let last_head = self.extents.last().map_or(0, |e| (e.start / BLOCK_SIZE) as usize);
        if self.size % BLOCK_SIZE != 0 && last != last_head {
            index[last] = entry(PLAIN, (self.size % BLOCK_SIZE) as u16, 0);
        }
        let mut map = vec![0u8; HEADER as usize];
        index.iter().for_each(|i| map.extend_from_slice(i));
        map
    }
}

/// One index: `di_advise` (the type), `di_clusterofs`, then the block (a head) or the
/// two distances (`delta[0]`, `delta[1]`) as one little-endian word.
fn entry(kind: u16, clusterofs: u16, word: u32) -> [u8; 8] {
    let mut e = [0u8; 8];
    e[0..2].copy_from_slice(&kind.to_le_bytes());
    e[2..4].copy_from_slice(&clusterofs.to_le_bytes());
    e[4..8].copy_from_slice(&word.to_le_bytes());
    e
}

/// LZ4HC of as much of `input` as fills `out`: (bytes read, bytes written).
fn compress(input: &[u8], out: &mut [u8]) -> std::io::Result<(usize, usize)> {
    lzzzz::lz4_hc::compress_fill(input, out, LEVEL).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_of_three_extents_is_what_mkfs_erofs_writes() {
        // Extents of 9,000, 7,000 and 1,500 bytes (a compressed, a compressed, a plain).
        let extents = vec![
            Extent { start: 0, plain: false },
            Extent { start: 9000, plain: false },
            Extent { start: 16000, plain: true },
        ];
        let z = Compressed { size: 17500, extents, blocks: vec![0; 3 * 4096], spooled: None, first_block: 100 };
        let map = z.map();
        assert_eq!(map.len(), 16 + 5 * 8);
        let at = |lcn: usize| &map[16 + 8 * lcn..24 + 8 * lcn];
        assert_eq!(at(0), entry(HEAD, 0, 100));
        assert_eq!(at(1), [2, 0, 0, 0, 1, 0, 1, 0]);
        assert_eq!(at(2), entry(HEAD, 808, 101));
        assert_eq!(at(3), entry(PLAIN, 3712, 102));
        assert_eq!(at(4), entry(PLAIN, 1116, 0));
        assert_eq!(z.map_len(32), 16 + 40);
        assert_eq!(z.map_len(44), 4 + 16 + 40);
    }

    /// Each extent decoded as the kernel decodes it: leading zeros skipped, LZ4 to
    /// exactly the extent's length (or the bytes as they are), equals the input.
    fn decoded(z: &Compressed) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, e) in z.extents.iter().enumerate() {
            let len = (z.extents.get(k + 1).map_or(z.size, |n| n.start) - e.start) as usize;
            let block = &z.blocks[k * 4096..(k + 1) * 4096];
            if e.plain {
                out.extend_from_slice(&block[..len]);
            } else {
                let from = block.iter().position(|&b| b != 0).unwrap();
                let mut buf = vec![0u8; len];
                assert_eq!(lzzzz::lz4::decompress(&block[from..], &mut buf).unwrap(), len);
                out.extend(buf);
            }
        }
        out
    }

    #[test]
    fn compressible_data_takes_fewer_blocks_and_decodes_back() {
        let text: Vec<u8> =
            (0..60_000u32).flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes()).collect();
        let z = Compressed::of(&text[..], text.len() as u64).unwrap().unwrap();
        assert!(z.block_count() < text.len().div_ceil(4096) as u64 / 2, "{}", z.block_count());
        assert!(decoded(&z) == text);
        let last = z.extents.last().unwrap();
        assert!(last.plain || text.len() as u64 - last.start > 4096, "a last extent within a cluster is plain");
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(Compressed::of(&random[..], random.len() as u64).unwrap().is_none(), "saves no block");
    }
}
