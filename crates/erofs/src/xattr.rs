//! Extended attributes (fs/erofs/erofs_fs.h: `struct erofs_xattr_ibody_header`,
//! `struct erofs_xattr_entry`, the `EROFS_XATTR_INDEX_*` name indexes;
//! Documentation/filesystems/erofs.rst, "Extended attributes"). An inode's xattr body
//! follows it: a 12-byte header, the ids of the shared xattrs it has (4 bytes each:
//! offsets in the shared area, at `xattr_blkaddr`, in 4-byte units), then its own
//! entries, each `e_name_len`, `e_name_index`, `e_value_size`, the name without its
//! prefix, the value, padded to 4 bytes. An xattr (name and value) that more than one
//! inode has is stored once in the shared area.

use std::collections::BTreeMap;

/// `sizeof(struct erofs_xattr_ibody_header)`.
const IBODY_HEADER: usize = 12;
/// The most shared ids one body holds (`h_shared_count` is a byte).
const MAX_SHARED: usize = 255;

/// The name indexes: the prefix each stands for (a full name for the two ACLs).
const PREFIXES: [(u8, &str); 5] =
    [(1, "user."), (2, "system.posix_acl_access"), (3, "system.posix_acl_default"), (4, "trusted."), (6, "security.")];

/// `name` as `(e_name_index, the rest)`, or `None` for a name no index covers.
pub(crate) fn split_name(name: &str) -> Option<(u8, &str)> {
    PREFIXES.iter().find_map(|&(index, prefix)| {
        let rest = name.strip_prefix(prefix)?;
        // An ACL's index is its whole name; the others take a non-empty rest.
        let whole = index == 2 || index == 3;
        (whole == rest.is_empty()).then_some((index, rest))
    })
}

/// Why an xattr cannot be stored, for the caller to name the entry.
pub(crate) fn check(name: &str, value: &[u8]) -> Result<(), String> {
    let Some((_, rest)) = split_name(name) else {
        return Err(format!("xattr {name:?}: EROFS stores user.*, trusted.*, security.* and the two POSIX ACLs only"));
    };
    if rest.len() > usize::from(u8::MAX) {
        return Err(format!("xattr {name:?}: its name after the prefix is over EROFS's 255 bytes"));
    }
    if value.len() > usize::from(u16::MAX) {
        return Err(format!("xattr {name:?}: its value of {} bytes is over EROFS's 65,535", value.len()));
    }
    Ok(())
}

/// One `struct erofs_xattr_entry` with its name and value, padded to 4 bytes.
pub(crate) fn entry(name: &str, value: &[u8]) -> Vec<u8> {
    let (index, rest) = split_name(name).unwrap_or((0, name));
    let mut e = vec![rest.len() as u8, index];
    e.extend_from_slice(&(value.len() as u16).to_le_bytes());
    e.extend_from_slice(rest.as_bytes());
    e.extend_from_slice(value);
    e.resize(e.len().next_multiple_of(4), 0);
    e
}

/// The shared area: each xattr more than one inode has, in (name, value) order, with its
/// id.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    ids: BTreeMap<(String, Vec<u8>), u32>,
    /// The area's bytes.
    pub bytes: Vec<u8>,
}

impl Shared {
    /// The shared area of inodes whose xattrs are `all`.
    pub(crate) fn of<'a>(all: impl Iterator<Item = &'a BTreeMap<String, Vec<u8>>>) -> Shared {
        let mut counts: BTreeMap<(&str, &[u8]), u32> = BTreeMap::new();
        for xattrs in all {
            for (name, value) in xattrs {
                *counts.entry((name, value)).or_default() += 1;
            }
        }
        let mut shared = Shared::default();
        for ((name, value), _) in counts.into_iter().filter(|(_, n)| *n > 1) {
            let id = (shared.bytes.len() / 4) as u32;
            shared.bytes.extend(entry(name, value));
            shared.ids.insert((name.to_owned(), value.to_vec()), id);
        }
        shared
    }

    /// The xattr body of an inode with `xattrs` (empty without any), and its
    /// `i_xattr_icount`.
    pub(crate) fn body(&self, xattrs: &BTreeMap<String, Vec<u8>>) -> (Vec<u8>, u16) {
        if xattrs.is_empty() {
            return (Vec::new(), 0);
        }
        let mut ids = Vec::new();
        let mut inline = Vec::new();
        for (name, value) in xattrs {
            match self.ids.get(&(name.clone(), value.clone())) {
                Some(&id) if ids.len() < MAX_SHARED => ids.push(id),
                _ => inline.extend(entry(name, value)),
            }
        }
        let mut body = vec![0u8; IBODY_HEADER];
        body[4] = ids.len() as u8;
        ids.iter().for_each(|id| body.extend_from_slice(&id.to_le_bytes()));
        body.extend(inline);
        let icount = ((body.len() - IBODY_HEADER) / 4 + 1) as u16;
        (body, icount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_indexes_and_others_are_refused() {
        assert_eq!(split_name("user.mime"), Some((1, "mime")));
        assert_eq!(split_name("security.capability"), Some((6, "capability")));
        assert_eq!(split_name("system.posix_acl_access"), Some((2, "")));
        assert_eq!(split_name("system.other"), None);
        assert_eq!(split_name("user."), None);
        assert!(check("system.other", b"").is_err());
        assert_eq!(entry("user.a", b"xyz"), vec![1, 1, 3, 0, b'a', b'x', b'y', b'z']);
    }

    #[test]
    fn an_xattr_of_two_inodes_is_shared_and_the_rest_inline() {
        let a: BTreeMap<String, Vec<u8>> = [("user.a".into(), b"1".to_vec()), ("user.b".into(), b"2".to_vec())].into();
        let b: BTreeMap<String, Vec<u8>> = [("user.a".into(), b"1".to_vec())].into();
        let shared = Shared::of([&a, &b].into_iter());
        assert_eq!(shared.bytes, entry("user.a", b"1"));
        let (body, icount) = shared.body(&a);
        assert_eq!(body[4], 1);
        assert_eq!(&body[12..16], &0u32.to_le_bytes());
        assert_eq!(&body[16..], &entry("user.b", b"2")[..]);
        assert_eq!(usize::from(icount), 1 + (body.len() - 12) / 4);
        assert_eq!(shared.body(&BTreeMap::new()), (Vec::new(), 0));
    }
}
