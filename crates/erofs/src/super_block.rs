//! `struct erofs_super_block` (fs/erofs/erofs_fs.h; Documentation/filesystems/erofs.rst,
//! "On-disk details"): 128 bytes at byte 1024 of block 0, little-endian, and its
//! checksum, the kernel's `erofs_superblock_csum_verify`: CRC32C (the raw register,
//! seeded with ~0, no final inversion) of block 0 from byte 1024 to its end, with the
//! `checksum` field zeroed.

use crate::BLOCK_SIZE;

/// Where the superblock starts in block 0 (`EROFS_SUPER_OFFSET`).
pub(crate) const EROFS_SUPER_OFFSET: usize = 1024;
/// Where it ends: the metadata area may go on from here in block 0.
pub(crate) const EROFS_SUPER_END: u64 = EROFS_SUPER_OFFSET as u64 + 128;
/// `EROFS_SUPER_MAGIC_V1`.
const EROFS_SUPER_MAGIC_V1: u32 = 0xE0F5_E1E2;
/// `EROFS_FEATURE_COMPAT_SB_CHKSUM`: the superblock carries its checksum.
const EROFS_FEATURE_COMPAT_SB_CHKSUM: u32 = 0x1;
/// `blkszbits` of 4 KiB blocks, the only size Linux 6.1 mounts on 4 KiB pages.
const BLKSZBITS: u8 = 12;

/// The fields ingot sets; every other one is zero (no compression, no extra devices, no
/// long xattr prefixes, no packed inode, directory blocks of the block size).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SuperBlock {
    /// `root_nid`: the root directory's inode number.
    pub root_nid: u16,
    /// `inos`: inodes in use.
    pub inos: u64,
    /// `build_time`, `build_time_nsec`: every compact inode's time.
    pub build_time: u64,
    pub build_time_nsec: u32,
    /// `blocks`: the filesystem's size in blocks.
    pub blocks: u32,
    /// `meta_blkaddr`: the block inode numbers count from (32 bytes a unit).
    pub meta_blkaddr: u32,
    /// `xattr_blkaddr`: the block shared xattr ids count from (4 bytes a unit).
    pub xattr_blkaddr: u32,
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `volume_name`: the label, NUL-padded.
    pub volume_name: [u8; 16],
    /// `feature_incompat`.
    pub feature_incompat: u32,
}

impl SuperBlock {
    /// Puts the superblock at byte 1024 of block 0 `b` (whose other bytes, the inodes the
    /// metadata area starts with, are in place), its checksum over the rest of the block.
    pub(crate) fn write_into(&self, b: &mut [u8]) {
        let s = &mut b[EROFS_SUPER_OFFSET..EROFS_SUPER_OFFSET + 128];
        s[0..4].copy_from_slice(&EROFS_SUPER_MAGIC_V1.to_le_bytes());
        s[8..12].copy_from_slice(&EROFS_FEATURE_COMPAT_SB_CHKSUM.to_le_bytes());
        s[12] = BLKSZBITS;
        s[14..16].copy_from_slice(&self.root_nid.to_le_bytes());
        s[16..24].copy_from_slice(&self.inos.to_le_bytes());
        s[24..32].copy_from_slice(&self.build_time.to_le_bytes());
        s[32..36].copy_from_slice(&self.build_time_nsec.to_le_bytes());
        s[36..40].copy_from_slice(&self.blocks.to_le_bytes());
        s[40..44].copy_from_slice(&self.meta_blkaddr.to_le_bytes());
        s[44..48].copy_from_slice(&self.xattr_blkaddr.to_le_bytes());
        s[48..64].copy_from_slice(&self.uuid);
        s[64..80].copy_from_slice(&self.volume_name);
        s[80..84].copy_from_slice(&self.feature_incompat.to_le_bytes());
        let checksum = !crc32c::crc32c(&b[EROFS_SUPER_OFFSET..BLOCK_SIZE as usize]);
        b[EROFS_SUPER_OFFSET + 4..EROFS_SUPER_OFFSET + 8].copy_from_slice(&checksum.to_le_bytes());
    }
}

/// What a superblock says of its filesystem, as `dump.erofs -s` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `volume_name`, without its NULs.
    pub volume_name: String,
    /// `uuid`.
    pub uuid: [u8; 16],
    /// `blocks`.
    pub blocks: u64,
    /// The block size (`1 << blkszbits`).
    pub block_size: u64,
    /// Whether it holds LZ4-compressed files (`EROFS_FEATURE_INCOMPAT_ZERO_PADDING`,
    /// which ingot and mkfs.erofs set for them).
    pub lz4: bool,
}

/// The [`Summary`] of block 0 of an EROFS filesystem (at least 1152 bytes of it), or
/// `None` without the magic number, with a block size Linux cannot mount, or with a
/// wrong checksum.
pub fn summary(block0: &[u8]) -> Option<Summary> {
    let s = block0.get(EROFS_SUPER_OFFSET..EROFS_SUPER_OFFSET + 128)?;
    let u32_at = |at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    if u32_at(0) != EROFS_SUPER_MAGIC_V1 || !(9..=16).contains(&s[12]) {
        return None;
    }
    let block_size = 1u64 << s[12];
    if u32_at(8) & EROFS_FEATURE_COMPAT_SB_CHKSUM != 0 {
        let mut rest = block0.get(EROFS_SUPER_OFFSET..block_size as usize)?.to_vec();
        rest[4..8].fill(0);
        if !crc32c::crc32c(&rest) != u32_at(4) {
            return None;
        }
    }
    let name = &s[64..80];
    let volume_name = String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(16)]).into_owned();
    let lz4 = u32_at(80) & crate::zmap::EROFS_FEATURE_INCOMPAT_ZERO_PADDING != 0;
    Some(Summary { volume_name, uuid: s[48..64].try_into().ok()?, blocks: u64::from(u32_at(36)), block_size, lz4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_the_kernels_raw_crc32c_of_the_rest_of_block_0() {
        let mut b = vec![0u8; 4096];
        b[3000] = 7;
        SuperBlock { root_nid: 36, blocks: 9, ..SuperBlock::default() }.write_into(&mut b);
        let mut zeroed = b[EROFS_SUPER_OFFSET..].to_vec();
        let stored = u32::from_le_bytes(zeroed[4..8].try_into().unwrap());
        zeroed[4..8].fill(0);
        // The raw register seeded with ~0, without the final inversion: the inverse of the
        // standard CRC32C.
        assert_eq!(stored, !crc32c::crc32c(&zeroed));
        assert_eq!(&b[1024..1028], &[0xE2, 0xE1, 0xF5, 0xE0]);
        assert_eq!(b.len(), 4096);
        let s = summary(&b).unwrap();
        assert_eq!((s.blocks, s.block_size, s.volume_name.as_str()), (9, 4096, ""));
        let mut bad = b.clone();
        bad[2000] = 1;
        assert_eq!(summary(&bad), None, "a changed byte fails the checksum");
    }
}
