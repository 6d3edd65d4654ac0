//! `struct ext4_group_desc`, 64 bytes (64bit feature), one per block group in the blocks
//! after each superblock copy.

use crate::crc::crc32c;

/// bg_flags: the inode table and bitmap are not initialised.
pub(crate) const BG_INODE_UNINIT: u16 = 0x1;
/// bg_flags: the inode table is zeroed.
pub(crate) const BG_INODE_ZEROED: u16 = 0x4;

/// One group descriptor.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupDesc {
    pub bg_block_bitmap: u64,
    pub bg_inode_bitmap: u64,
    pub bg_inode_table: u64,
    pub bg_free_blocks_count: u32,
    pub bg_free_inodes_count: u32,
    pub bg_used_dirs_count: u32,
    pub bg_flags: u16,
    pub bg_block_bitmap_csum: u32,
    pub bg_inode_bitmap_csum: u32,
    pub bg_itable_unused: u32,
}

impl GroupDesc {
    /// The 64 on-disk bytes of group `group`, with `bg_checksum`.
    pub(crate) fn to_bytes(&self, csum_seed: u32, group: u32) -> [u8; 64] {
        let mut b = [0u8; 64];
        let mut put32 = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(0x00, self.bg_block_bitmap as u32);
        put32(0x04, self.bg_inode_bitmap as u32);
        put32(0x08, self.bg_inode_table as u32);
        put32(0x20, (self.bg_block_bitmap >> 32) as u32);
        put32(0x24, (self.bg_inode_bitmap >> 32) as u32);
        put32(0x28, (self.bg_inode_table >> 32) as u32);
        let mut put16 = |at: usize, v: u32| b[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
        put16(0x0C, self.bg_free_blocks_count);
        put16(0x0E, self.bg_free_inodes_count);
        put16(0x10, self.bg_used_dirs_count);
        put16(0x12, u32::from(self.bg_flags));
        put16(0x18, self.bg_block_bitmap_csum);
        put16(0x1A, self.bg_inode_bitmap_csum);
        put16(0x1C, self.bg_itable_unused);
        put16(0x2C, self.bg_free_blocks_count >> 16);
        put16(0x2E, self.bg_free_inodes_count >> 16);
        put16(0x30, self.bg_used_dirs_count >> 16);
        put16(0x32, self.bg_itable_unused >> 16);
        put16(0x38, self.bg_block_bitmap_csum >> 16);
        put16(0x3A, self.bg_inode_bitmap_csum >> 16);
        let c = crc32c(crc32c(csum_seed, &group.to_le_bytes()), &b);
        b[0x1E..0x20].copy_from_slice(&(c as u16).to_le_bytes());
        b
    }
}
