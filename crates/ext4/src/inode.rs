//! `struct ext4_inode`: 256 bytes, the 128-byte base, 32 bytes of extra fields
//! (`i_extra_isize` = 32), then in-inode extended attributes.

use crate::crc::inode_seed;
use ingot_tree::Time;

/// Inode size on disk.
pub(crate) const INODE_SIZE: usize = 256;
/// i_flags: the inode uses extents.
pub(crate) const EXT4_EXTENTS_FL: u32 = 0x80000;
/// i_flags: the directory is hash-indexed.
pub(crate) const EXT4_INDEX_FL: u32 = 0x1000;
/// Offset of the in-inode xattr area.
pub(crate) const XATTR_IBODY: usize = 128 + 32;

/// The inode fields ingot sets.
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    pub i_mode: u16,
    pub i_uid: u32,
    pub i_gid: u32,
    pub i_size: u64,
    pub i_atime: Time,
    pub i_ctime: Time,
    pub i_mtime: Time,
    pub i_crtime: Time,
    pub i_links_count: u16,
    /// In 512-byte sectors.
    pub i_blocks: u64,
    pub i_flags: u32,
    pub i_block: [u8; 60],
    pub i_file_acl: u64,
    /// Bytes from offset 160 on: the in-inode xattr area (magic and entries).
    pub ibody_xattrs: Vec<u8>,
}

impl Default for Inode {
    fn default() -> Inode {
        Inode {
            i_mode: 0,
            i_uid: 0,
            i_gid: 0,
            i_size: 0,
            i_atime: Time::default(),
            i_ctime: Time::default(),
            i_mtime: Time::default(),
            i_crtime: Time::default(),
            i_links_count: 0,
            i_blocks: 0,
            i_flags: 0,
            i_block: [0; 60],
            i_file_acl: 0,
            ibody_xattrs: Vec::new(),
        }
    }
}

/// `(seconds as stored, extra)`: the low 32 bits of the seconds and the extra field with
/// the nanoseconds and the two epoch bits.
fn encode_time(t: Time) -> (u32, u32) {
    let epoch = ((t.sec - i64::from(t.sec as i32)) >> 32) as u32 & 3;
    (t.sec as u32, (t.nsec << 2) | epoch)
}

impl Inode {
    /// The 256 on-disk bytes of inode `ino`, checksummed with `csum_seed`.
    pub(crate) fn to_bytes(&self, csum_seed: u32, ino: u32) -> [u8; INODE_SIZE] {
        let mut b = [0u8; INODE_SIZE];
        let put16 = |b: &mut [u8; INODE_SIZE], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |b: &mut [u8; INODE_SIZE], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put16(&mut b, 0x00, self.i_mode);
        put16(&mut b, 0x02, self.i_uid as u16);
        put32(&mut b, 0x04, self.i_size as u32);
        let (atime, atime_extra) = encode_time(self.i_atime);
        let (ctime, ctime_extra) = encode_time(self.i_ctime);
        let (mtime, mtime_extra) = encode_time(self.i_mtime);
        let (crtime, crtime_extra) = encode_time(self.i_crtime);
        put32(&mut b, 0x08, atime);
        put32(&mut b, 0x0C, ctime);
        put32(&mut b, 0x10, mtime);
        put16(&mut b, 0x18, self.i_gid as u16);
        put16(&mut b, 0x1A, self.i_links_count);
        put32(&mut b, 0x1C, self.i_blocks as u32);
        put32(&mut b, 0x20, self.i_flags);
        b[0x28..0x64].copy_from_slice(&self.i_block);
        put32(&mut b, 0x68, self.i_file_acl as u32);
        put32(&mut b, 0x6C, (self.i_size >> 32) as u32);
        put16(&mut b, 0x74, (self.i_blocks >> 32) as u16);
        put16(&mut b, 0x76, (self.i_file_acl >> 32) as u16);
        put16(&mut b, 0x78, (self.i_uid >> 16) as u16);
        put16(&mut b, 0x7A, (self.i_gid >> 16) as u16);
        put16(&mut b, 0x80, 32); // i_extra_isize
        put32(&mut b, 0x84, ctime_extra);
        put32(&mut b, 0x88, mtime_extra);
        put32(&mut b, 0x8C, atime_extra);
        put32(&mut b, 0x90, crtime);
        put32(&mut b, 0x94, crtime_extra);
        let n = self.ibody_xattrs.len().min(INODE_SIZE - XATTR_IBODY);
        b[XATTR_IBODY..XATTR_IBODY + n].copy_from_slice(&self.ibody_xattrs[..n]);
        let c = crate::crc::crc32c(inode_seed(csum_seed, ino, 0), &b);
        put16(&mut b, 0x7C, c as u16); // l_i_checksum_lo
        put16(&mut b, 0x82, (c >> 16) as u16); // i_checksum_hi
        b
    }
}

#[cfg(test)]
mod tests {
    use super::encode_time;
    use ingot_tree::Time;

    #[test]
    fn times_past_2038_use_the_epoch_bits() {
        assert_eq!(encode_time(Time { sec: 1_700_000_000, nsec: 5 }), (1_700_000_000, 20));
        let (s, extra) = encode_time(Time { sec: 1 << 32, nsec: 0 });
        assert_eq!((s, extra), (0, 1));
        let (s, extra) = encode_time(Time { sec: -1, nsec: 0 });
        assert_eq!((s, extra), (u32::MAX, 0));
    }
}
