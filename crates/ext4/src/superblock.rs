//! `struct ext4_super_block`: 1024 bytes at byte 1024 of the filesystem, copied to the
//! first block of every group that has a backup (sparse_super: 0, 1 and powers of 3, 5, 7).

use crate::crc::crc32c;

/// COMPAT: has_journal.
pub(crate) const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// COMPAT: ext_attr.
pub(crate) const COMPAT_EXT_ATTR: u32 = 0x8;
/// COMPAT: dir_index.
pub(crate) const COMPAT_DIR_INDEX: u32 = 0x20;
/// INCOMPAT: filetype.
pub(crate) const INCOMPAT_FILETYPE: u32 = 0x2;
/// INCOMPAT: extent.
pub(crate) const INCOMPAT_EXTENTS: u32 = 0x40;
/// INCOMPAT: 64bit.
pub(crate) const INCOMPAT_64BIT: u32 = 0x80;
/// INCOMPAT: metadata_csum_seed.
pub(crate) const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// INCOMPAT: flex_bg.
pub(crate) const INCOMPAT_FLEX_BG: u32 = 0x200;
/// RO_COMPAT: sparse_super.
pub(crate) const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// RO_COMPAT: large_file.
pub(crate) const RO_COMPAT_LARGE_FILE: u32 = 0x2;
/// RO_COMPAT: huge_file.
pub(crate) const RO_COMPAT_HUGE_FILE: u32 = 0x8;
/// RO_COMPAT: dir_nlink.
pub(crate) const RO_COMPAT_DIR_NLINK: u32 = 0x20;
/// RO_COMPAT: extra_isize.
pub(crate) const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
/// RO_COMPAT: metadata_csum.
pub(crate) const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// The superblock fields ingot sets; everything else is zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct Superblock {
    pub s_inodes_count: u32,
    pub s_blocks_count: u64,
    pub s_r_blocks_count: u64,
    pub s_free_blocks_count: u64,
    pub s_free_inodes_count: u32,
    pub s_first_data_block: u32,
    pub s_log_block_size: u32,
    pub s_blocks_per_group: u32,
    pub s_inodes_per_group: u32,
    pub s_time: u32,
    pub s_feature_compat: u32,
    pub s_feature_incompat: u32,
    pub s_feature_ro_compat: u32,
    pub s_uuid: [u8; 16],
    pub s_volume_name: [u8; 16],
    pub s_journal_inum: u32,
    pub s_hash_seed: [u8; 16],
    pub s_jnl_blocks: [u32; 17],
    pub s_log_groups_per_flex: u8,
    pub s_kbytes_written: u64,
}

impl Superblock {
    /// The 1024 on-disk bytes, for the copy in group `s_block_group_nr`, checksummed.
    pub(crate) fn to_bytes(&self, s_block_group_nr: u16) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        let mut put32 = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put32(0x00, self.s_inodes_count);
        put32(0x04, self.s_blocks_count as u32);
        put32(0x08, self.s_r_blocks_count as u32);
        put32(0x0C, self.s_free_blocks_count as u32);
        put32(0x10, self.s_free_inodes_count);
        put32(0x14, self.s_first_data_block);
        put32(0x18, self.s_log_block_size);
        put32(0x1C, self.s_log_block_size); // s_log_cluster_size
        put32(0x20, self.s_blocks_per_group);
        put32(0x24, self.s_blocks_per_group); // s_clusters_per_group
        put32(0x28, self.s_inodes_per_group);
        put32(0x2C, 0); // s_mtime: never mounted
        put32(0x30, self.s_time); // s_wtime
        put32(0x40, self.s_time); // s_lastcheck
        put32(0x44, 0); // s_checkinterval
        put32(0x48, 0); // s_creator_os: Linux
        put32(0x4C, 1); // s_rev_level: dynamic
        put32(0x54, 11); // s_first_ino
        put32(0x5C, self.s_feature_compat);
        put32(0x60, self.s_feature_incompat);
        put32(0x64, self.s_feature_ro_compat);
        put32(0xE0, self.s_journal_inum);
        put32(0x100, 0x000C); // s_default_mount_opts: user_xattr, acl
        put32(0x108, self.s_time); // s_mkfs_time
        for (i, w) in self.s_jnl_blocks.iter().enumerate() {
            put32(0x10C + 4 * i, *w);
        }
        put32(0x150, (self.s_blocks_count >> 32) as u32);
        put32(0x154, (self.s_r_blocks_count >> 32) as u32);
        put32(0x158, (self.s_free_blocks_count >> 32) as u32);
        put32(0x160, 0x1); // s_flags: signed_directory_hash
        let put16 = |b: &mut [u8; 1024], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        put16(&mut b, 0x34, 0); // s_mnt_count
        put16(&mut b, 0x36, 0xFFFF); // s_max_mnt_count: -1
        put16(&mut b, 0x38, 0xEF53); // s_magic
        put16(&mut b, 0x3A, 1); // s_state: clean
        put16(&mut b, 0x3C, 1); // s_errors: continue
        put16(&mut b, 0x58, 256); // s_inode_size
        put16(&mut b, 0x5A, s_block_group_nr);
        put16(&mut b, 0xFE, 64); // s_desc_size
        put16(&mut b, 0x15C, 32); // s_min_extra_isize
        put16(&mut b, 0x15E, 32); // s_want_extra_isize
        b[0x68..0x78].copy_from_slice(&self.s_uuid);
        b[0x78..0x88].copy_from_slice(&self.s_volume_name);
        b[0xEC..0xFC].copy_from_slice(&self.s_hash_seed);
        b[0xFC] = 1; // s_def_hash_version: half_md4
        b[0xFD] = 1; // s_jnl_backup_type: EXT3_JNL_BACKUP_BLOCKS
        b[0x174] = self.s_log_groups_per_flex;
        b[0x175] = 1; // s_checksum_type: crc32c
        b[0x178..0x180].copy_from_slice(&self.s_kbytes_written.to_le_bytes());
        if self.s_feature_incompat & INCOMPAT_CSUM_SEED != 0 {
            b[0x270..0x274].copy_from_slice(&self.csum_seed().to_le_bytes()); // s_checksum_seed
        }
        let csum = crc32c(!0, &b[..0x3FC]);
        b[0x3FC..].copy_from_slice(&csum.to_le_bytes());
        b
    }

    /// The checksum seed of every other metadata checksum: crc32c(~0, s_uuid).
    pub(crate) fn csum_seed(&self) -> u32 {
        crc32c(!0, &self.s_uuid)
    }
}

/// What `dumpe2fs -h` says of a filesystem's size and identity, read from its superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `s_blocks_count` (with `s_blocks_count_hi` under 64bit).
    pub s_blocks_count: u64,
    /// `s_free_blocks_count` (with its high half under 64bit).
    pub s_free_blocks_count: u64,
    /// `s_inodes_count`.
    pub s_inodes_count: u32,
    /// `s_free_inodes_count`.
    pub s_free_inodes_count: u32,
    /// Block size in bytes: 1024 << `s_log_block_size`.
    pub block_size: u64,
    /// `s_uuid`.
    pub s_uuid: [u8; 16],
    /// `s_volume_name`, up to its first NUL.
    pub s_volume_name: String,
}

/// Reads the [`Summary`] of the superblock `sb` (the 1024 bytes at byte 1024 of the
/// filesystem); `None` unless `s_magic` is 0xEF53 and the block size is one ext4 allows.
///
/// ```
/// let mut sb = [0u8; 1024];
/// sb[0x38..0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
/// sb[0x04..0x08].copy_from_slice(&1000u32.to_le_bytes());
/// sb[0x18] = 2; // 4 KiB blocks
/// let s = ingot_ext4::summary(&sb).unwrap();
/// assert_eq!((s.s_blocks_count, s.block_size), (1000, 4096));
/// ```
pub fn summary(sb: &[u8]) -> Option<Summary> {
    let sb = sb.get(..1024)?;
    let u32_at = |at: usize| Some(u32::from_le_bytes(sb.get(at..at + 4)?.try_into().ok()?));
    if sb.get(0x38..0x3A)? != 0xEF53u16.to_le_bytes() {
        return None;
    }
    let wide = u32_at(0x60)? & INCOMPAT_64BIT != 0;
    let hi = |at: usize| if wide { u32_at(at).map(|h| u64::from(h) << 32) } else { Some(0) };
    let log = u32_at(0x18)?;
    let name = &sb[0x78..0x88];
    Some(Summary {
        s_blocks_count: u64::from(u32_at(0x04)?) | hi(0x150)?,
        s_free_blocks_count: u64::from(u32_at(0x0C)?) | hi(0x158)?,
        s_inodes_count: u32_at(0x00)?,
        s_free_inodes_count: u32_at(0x10)?,
        block_size: (log <= 6).then(|| 1024u64 << log)?,
        s_uuid: sb[0x68..0x78].try_into().ok()?,
        s_volume_name: String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(16)]).into_owned(),
    })
}
