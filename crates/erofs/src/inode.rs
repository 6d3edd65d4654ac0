//! `struct erofs_inode_compact` (32 bytes) and `struct erofs_inode_extended` (64 bytes)
//! (fs/erofs/erofs_fs.h; Documentation/filesystems/erofs.rst, "On-disk details" and
//! "Inode data layouts"). An inode's number (nid) is its offset from the metadata area's
//! start in 32-byte units; its xattr body and, with `EROFS_INODE_FLAT_INLINE`, the tail of
//! its data follow it directly.
//!
//! A compact inode has no time of its own (Linux 6.1 gives it the superblock's
//! `build_time`) and 16-bit owners and link count, 32-bit size: the writer uses it when
//! those hold and an extended one otherwise.

/// `EROFS_INODE_FLAT_PLAIN`: the data in whole blocks from `i_u.raw_blkaddr`.
pub(crate) const EROFS_INODE_FLAT_PLAIN: u16 = 0;
/// `EROFS_INODE_FLAT_INLINE`: the whole blocks from `raw_blkaddr`, the tail after the
/// inode.
pub(crate) const EROFS_INODE_FLAT_INLINE: u16 = 2;
/// `EROFS_INODE_CHUNK_BASED`: the data in chunks mapped by an array after the inode.
pub(crate) const EROFS_INODE_CHUNK_BASED: u16 = 4;
/// `sizeof(struct erofs_inode_compact)`.
pub(crate) const COMPACT_SIZE: u64 = 32;
/// `sizeof(struct erofs_inode_extended)`.
pub(crate) const EXTENDED_SIZE: u64 = 64;

/// An inode's fields, in the extended form's widths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inode {
    /// Extended (`EROFS_INODE_LAYOUT_EXTENDED`) rather than compact.
    pub extended: bool,
    /// The data layout (`EROFS_INODE_FLAT_*`).
    pub datalayout: u16,
    /// `i_xattr_icount`: 0, or 1 + the xattr body's bytes after its 12-byte header / 4.
    pub xattr_icount: u16,
    /// `i_mode`: type and permission bits.
    pub mode: u16,
    pub nlink: u32,
    pub size: u64,
    /// `i_u`: the first data block, or the device number (`new_encode_dev`).
    pub u: u32,
    /// `i_ino`: the inode number 32-bit `stat` reports.
    pub ino: u32,
    pub uid: u32,
    pub gid: u32,
    /// Extended only: `i_mtime`, `i_mtime_nsec`.
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl Inode {
    /// Its on-disk size.
    pub(crate) fn size_on_disk(&self) -> u64 {
        if self.extended {
            EXTENDED_SIZE
        } else {
            COMPACT_SIZE
        }
    }

    /// The on-disk bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let format = u16::from(self.extended) | self.datalayout << 1;
        let mut b = vec![0u8; self.size_on_disk() as usize];
        b[0..2].copy_from_slice(&format.to_le_bytes());
        b[2..4].copy_from_slice(&self.xattr_icount.to_le_bytes());
        b[4..6].copy_from_slice(&self.mode.to_le_bytes());
        if self.extended {
            b[8..16].copy_from_slice(&self.size.to_le_bytes());
            b[16..20].copy_from_slice(&self.u.to_le_bytes());
            b[20..24].copy_from_slice(&self.ino.to_le_bytes());
            b[24..28].copy_from_slice(&self.uid.to_le_bytes());
            b[28..32].copy_from_slice(&self.gid.to_le_bytes());
            b[32..40].copy_from_slice(&self.mtime.to_le_bytes());
            b[40..44].copy_from_slice(&self.mtime_nsec.to_le_bytes());
            b[44..48].copy_from_slice(&self.nlink.to_le_bytes());
        } else {
            // The caller chose compact only where these fit.
            b[6..8].copy_from_slice(&(self.nlink as u16).to_le_bytes());
            b[8..12].copy_from_slice(&(self.size as u32).to_le_bytes());
            b[16..20].copy_from_slice(&self.u.to_le_bytes());
            b[20..24].copy_from_slice(&self.ino.to_le_bytes());
            b[24..26].copy_from_slice(&(self.uid as u16).to_le_bytes());
            b[26..28].copy_from_slice(&(self.gid as u16).to_le_bytes());
        }
        b
    }
}

/// `new_encode_dev`: the 32-bit device number `i_u.rdev` holds.
pub(crate) fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_extended_put_each_field_where_the_header_says() {
        let i = Inode {
            datalayout: EROFS_INODE_FLAT_INLINE,
            mode: 0o100644,
            nlink: 1,
            size: 5,
            ino: 7,
            ..Inode::default()
        };
        let b = i.encode();
        assert_eq!(b.len(), 32);
        assert_eq!(u16::from_le_bytes([b[0], b[1]]), 4);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 5);
        let e = Inode { extended: true, mtime: -1, nlink: 70_000, ..i }.encode();
        assert_eq!(e.len(), 64);
        assert_eq!(u16::from_le_bytes([e[0], e[1]]), 5);
        assert_eq!(i64::from_le_bytes(e[32..40].try_into().unwrap()), -1);
        assert_eq!(u32::from_le_bytes(e[44..48].try_into().unwrap()), 70_000);
        assert_eq!(encode_dev(259, 1), 0x10301);
        assert_eq!(encode_dev(1, 0x1234), 0x0120_0134);
    }
}
