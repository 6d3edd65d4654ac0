//! Extended attributes: `struct ext4_xattr_entry` lists in the inode body after
//! `i_extra_isize` (`ext4_xattr_ibody_header`: just the magic) or in one block
//! (`struct ext4_xattr_header`, 32 bytes, with a checksum). POSIX ACLs arrive in the
//! kernel's xattr format (version 2) and are stored in ext4's own (version 1).

use crate::crc::crc32c;
use crate::inode::{INODE_SIZE, XATTR_IBODY};
use std::collections::BTreeMap;

const MAGIC: u32 = 0xEA02_0000;

/// Where a set of xattrs goes.
#[derive(Debug)]
pub(crate) enum Placement {
    /// None at all.
    Empty,
    /// The in-inode area (from byte 160).
    Inode(Vec<u8>),
    /// An xattr block (its content without the checksum, finished by [`seal_block`]).
    Block(Vec<u8>),
}

struct Attr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
}

fn split(full: &str, value: &[u8]) -> Result<Attr, String> {
    let (index, name, value) = match full {
        "system.posix_acl_access" => (2, "", acl_to_disk(value)?),
        "system.posix_acl_default" => (3, "", acl_to_disk(value)?),
        _ => {
            let prefixes = [("user.", 1), ("trusted.", 4), ("security.", 6), ("system.", 7)];
            let Some((p, i)) = prefixes.iter().find(|(p, _)| full.starts_with(p)) else {
                return Err(format!(
                    "xattr {full:?} has no namespace ext4 knows (user., trusted., security., system.)"
                ));
            };
            (*i, &full[p.len()..], value.to_vec())
        }
    };
    if name.len() > 255 {
        return Err(format!("xattr name {full:?} is longer than 255 bytes"));
    }
    Ok(Attr { index, name: name.as_bytes().to_vec(), value })
}

fn entry_size(a: &Attr) -> usize {
    (16 + a.name.len() + 3) & !3
}

fn value_size(a: &Attr) -> usize {
    (a.value.len() + 3) & !3
}

fn hash(a: &Attr) -> u32 {
    let mut h: u32 = 0;
    for &c in &a.name {
        h = (h << 5) ^ (h >> 27) ^ u32::from(c);
    }
    let mut padded = a.value.clone();
    padded.resize(value_size(a), 0);
    for w in padded.chunks_exact(4) {
        h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    h
}

/// Lays out `xattrs` in the inode if they fit, else in a block of `block_size`.
pub(crate) fn place(xattrs: &BTreeMap<String, Vec<u8>>, block_size: usize) -> Result<Placement, String> {
    if xattrs.is_empty() {
        return Ok(Placement::Empty);
    }
    let mut attrs = xattrs.iter().map(|(k, v)| split(k, v)).collect::<Result<Vec<_>, _>>()?;
    // The kernel searches block entries in this order and stops early.
    attrs.sort_by(|a, b| (a.index, a.name.len(), &a.name).cmp(&(b.index, b.name.len(), &b.name)));
    let entries: usize = attrs.iter().map(entry_size).sum::<usize>() + 4;
    let values: usize = attrs.iter().map(value_size).sum();
    if 4 + entries + values <= INODE_SIZE - XATTR_IBODY {
        let mut area = vec![0u8; INODE_SIZE - XATTR_IBODY];
        area[..4].copy_from_slice(&MAGIC.to_le_bytes());
        write_entries(&mut area[4..], &attrs);
        return Ok(Placement::Inode(area));
    }
    if 32 + entries + values > block_size {
        return Err(format!(
            "its xattrs need {} bytes but one {block_size}-byte xattr block holds {}",
            32 + entries + values,
            block_size
        ));
    }
    let mut b = vec![0u8; block_size];
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes()); // h_refcount
    b[8..12].copy_from_slice(&1u32.to_le_bytes()); // h_blocks
    let hashes = write_entries_block(&mut b, &attrs);
    let mut h: u32 = 0;
    for eh in hashes {
        h = (h << 16) ^ (h >> 16) ^ eh;
    }
    b[12..16].copy_from_slice(&h.to_le_bytes()); // h_hash
    Ok(Placement::Block(b))
}

/// In-inode entries: value offsets count from the first entry.
fn write_entries(area: &mut [u8], attrs: &[Attr]) {
    let mut at = 0;
    let mut end = area.len();
    for a in attrs {
        end -= value_size(a);
        area[end..end + a.value.len()].copy_from_slice(&a.value);
        put_entry(&mut area[at..], a, end as u16);
        at += entry_size(a);
    }
}

/// Block entries start at byte 32; value offsets count from the block start.
fn write_entries_block(b: &mut [u8], attrs: &[Attr]) -> Vec<u32> {
    let mut at = 32;
    let mut end = b.len();
    let mut hashes = Vec::new();
    for a in attrs {
        end -= value_size(a);
        b[end..end + a.value.len()].copy_from_slice(&a.value);
        hashes.push(put_entry(&mut b[at..], a, end as u16));
        at += entry_size(a);
    }
    hashes
}

fn put_entry(e: &mut [u8], a: &Attr, value_offs: u16) -> u32 {
    let h = hash(a);
    e[0] = a.name.len() as u8;
    e[1] = a.index;
    e[2..4].copy_from_slice(&value_offs.to_le_bytes());
    e[4..8].copy_from_slice(&0u32.to_le_bytes()); // e_value_inum
    e[8..12].copy_from_slice(&(a.value.len() as u32).to_le_bytes());
    e[12..16].copy_from_slice(&h.to_le_bytes());
    e[16..16 + a.name.len()].copy_from_slice(&a.name);
    h
}

/// Sets the block's checksum for its place at block number `block`.
pub(crate) fn seal_block(b: &mut [u8], csum_seed: u32, block: u64) {
    b[16..20].fill(0);
    let c = crc32c(crc32c(csum_seed, &block.to_le_bytes()), b);
    b[16..20].copy_from_slice(&c.to_le_bytes());
}

/// POSIX ACL from the xattr format (`posix_acl_xattr_header` version 2, 8-byte entries)
/// to ext4's (`ext4_acl_header` version 1; 4-byte entries for the owner, group, mask
/// and other, 8-byte entries for named users and groups).
fn acl_to_disk(v: &[u8]) -> Result<Vec<u8>, String> {
    if v.len() < 4 || (v.len() - 4) % 8 != 0 || u32::from_le_bytes([v[0], v[1], v[2], v[3]]) != 2 {
        return Err("a POSIX ACL xattr is not in the version-2 xattr format".into());
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    for e in v[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        out.extend_from_slice(&e[0..4]);
        match tag {
            0x01 | 0x04 | 0x10 | 0x20 => {}
            0x02 | 0x08 => out.extend_from_slice(&e[4..8]),
            _ => return Err(format!("a POSIX ACL has an unknown tag {tag:#x}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_go_in_the_inode_and_large_ones_in_a_block() {
        let mut x = BTreeMap::new();
        x.insert("user.a".to_string(), b"1".to_vec());
        assert!(matches!(place(&x, 4096).unwrap(), Placement::Inode(_)));
        x.insert("security.selinux".to_string(), vec![b'x'; 100]);
        assert!(matches!(place(&x, 4096).unwrap(), Placement::Block(_)));
        x.insert("user.huge".to_string(), vec![0; 5000]);
        assert!(place(&x, 4096).unwrap_err().contains("xattr block"));
    }

    #[test]
    fn acls_convert_to_the_short_disk_form() {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in
            [(1u16, 6u16, u32::MAX), (2, 4, 1000), (4, 4, u32::MAX), (0x10, 4, u32::MAX), (0x20, 0, u32::MAX)]
        {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        let d = acl_to_disk(&v).unwrap();
        assert_eq!(d.len(), 4 + 4 + 8 + 4 + 4 + 4);
    }
}
