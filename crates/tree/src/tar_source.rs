use crate::{Content, Extent, Kind, Meta, Node, Time, Tree, TreeError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use tar::EntryType;

/// Granularity of hole detection in spooled content.
const BLOCK: usize = 4096;

impl Tree {
    /// Unpacks the archive `path` (tar, tar.gz or tar.zst, told apart by their magic
    /// bytes) into the tree at `to`, keeping owners, modes, device numbers, hard links,
    /// long names (GNU and PAX), PAX xattrs (`SCHILY.xattr.*`) and sparse members.
    ///
    /// Content of a plain tar stays in the archive; content of a compressed one is
    /// spooled to an unlinked temporary file in `spool_dir` (zero blocks left as holes).
    /// An entry whose name climbs out of `to` with `..` is an error.
    pub fn add_tar(&mut self, path: &Path, to: &str, spool_dir: &Path) -> Result<(), TreeError> {
        let open_err = |e: io::Error| TreeError::new(path, "-", e.to_string());
        let mut file = File::open(path).map_err(open_err)?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut file, &mut magic).map_err(open_err)?;
        let file = File::open(path).map_err(open_err)?;
        let mut ctx = Ctx { tree: self, source: path, to, spool: None, spool_dir, spool_len: 0 };
        match &magic[..n] {
            [0x1f, 0x8b, ..] => {
                ctx.compressed(tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file))))
            }
            [0x28, 0xb5, 0x2f, 0xfd] => {
                let dec = zstd::stream::read::Decoder::new(file).map_err(open_err)?;
                ctx.compressed(tar::Archive::new(dec))
            }
            _ => {
                let backing = Arc::new(File::open(path).map_err(open_err)?);
                let len = backing.metadata().map_err(open_err)?.len();
                ctx.load(tar::Archive::new(file).entries_with_seek(), Some((backing, len)))
            }
        }
    }
}

impl Ctx<'_> {
    /// Loads a compressed archive, then reads the stream to its end so that the
    /// compressor's trailing checksum is verified even after the tar's last entry.
    fn compressed<R: Read>(&mut self, mut archive: tar::Archive<R>) -> Result<(), TreeError> {
        self.load(archive.entries(), None)?;
        io::copy(&mut archive.into_inner(), &mut io::sink())
            .map_err(|e| self.err(b"(end of archive)", format!("compressed stream is corrupt or truncated: {e}")))?;
        Ok(())
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct Ctx<'a> {
    tree: &'a mut Tree,
    source: &'a Path,
    to: &'a str,
    spool: Option<Arc<File>>,
    spool_dir: &'a Path,
    spool_len: u64,
}

impl Ctx<'_> {
    fn err(&self, entry: &[u8], message: impl Into<String>) -> TreeError {
        TreeError::new(self.source, entry, message)
    }

    fn load<R: Read>(
        &mut self,
        entries: io::Result<tar::Entries<'_, R>>,
        plain: Option<(Arc<File>, u64)>,
    ) -> Result<(), TreeError> {
        let entries = entries.map_err(|e| self.err(b"-", e.to_string()))?;
        let mut last = b"(start of archive)".to_vec();
        for entry in entries {
            let mut entry =
                entry.map_err(|e| self.err(&last, format!("archive is corrupt or truncated after this entry: {e}")))?;
            last = entry.path_bytes().into_owned();
            self.entry(&mut entry, plain.as_ref()).map_err(|e| self.err(&last, e))?;
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        plain: Option<&(Arc<File>, u64)>,
    ) -> Result<(), String> {
        let pax = pax_map(entry).map_err(|e| format!("bad PAX header: {e}"))?;
        let name = match pax.get("GNU.sparse.name") {
            Some(n) => n.clone(),
            None => entry.path_bytes().into_owned(),
        };
        let dest = self.destination(&name)?;
        let h = entry.header();
        let mut meta = Meta {
            mode: h.mode().map_err(|e| e.to_string())? & 0o7777,
            uid: u32::try_from(h.uid().map_err(|e| e.to_string())?).map_err(|_| "uid above 2^32")?,
            gid: u32::try_from(h.gid().map_err(|e| e.to_string())?).map_err(|_| "gid above 2^32")?,
            mtime: Time::from_secs(h.mtime().map_err(|e| e.to_string())? as i64),
            atime: Time::default(),
            ctime: Time::default(),
            xattrs: BTreeMap::new(),
        };
        if let Some(t) = pax.get("mtime").and_then(|v| pax_time(v)) {
            meta.mtime = t;
        }
        meta.atime = pax.get("atime").and_then(|v| pax_time(v)).unwrap_or(meta.mtime);
        meta.ctime = pax.get("ctime").and_then(|v| pax_time(v)).unwrap_or(meta.mtime);
        for (k, v) in &pax {
            if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                meta.xattrs.insert(x.to_owned(), v.clone());
            }
        }
        for (key, xattr) in
            [("SCHILY.acl.access", "system.posix_acl_access"), ("SCHILY.acl.default", "system.posix_acl_default")]
        {
            if let Some(text) = pax.get(key) {
                let acl = acl_xattr(text).map_err(|e| format!("{key}: {e}"))?;
                meta.xattrs.insert(xattr.to_owned(), acl);
            }
        }
        let device = |h: &tar::Header| -> Result<(u32, u32), String> {
            let major = h.device_major().map_err(|e| e.to_string())?.unwrap_or(0);
            let minor = h.device_minor().map_err(|e| e.to_string())?.unwrap_or(0);
            Ok((major, minor))
        };
        let kind = match h.entry_type() {
            EntryType::Directory => Kind::Dir(BTreeMap::new()),
            EntryType::Symlink => {
                Kind::Symlink(entry.link_name_bytes().ok_or("symlink without a target")?.into_owned())
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().ok_or("hard link without a target")?.into_owned();
                let target = self.destination(&target)?;
                self.tree.link(&dest, &target)?;
                return Ok(());
            }
            EntryType::Char => {
                let (major, minor) = device(h)?;
                Kind::CharDevice { major, minor }
            }
            EntryType::Block => {
                let (major, minor) = device(h)?;
                Kind::BlockDevice { major, minor }
            }
            EntryType::Fifo => Kind::Fifo,
            EntryType::XGlobalHeader => return Ok(()),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                Kind::File(self.content(entry, &pax, plain)?)
            }
            other => return Err(format!("unsupported tar entry type {:?}", other.as_byte() as char)),
        };
        self.tree.put(&dest, Node { kind, meta })?;
        Ok(())
    }

    /// The tree path of an archive name: inside `to`, never above it.
    fn destination(&self, name: &[u8]) -> Result<Vec<u8>, String> {
        let mut depth: usize = 0;
        for c in name.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    depth = depth.checked_sub(1).ok_or("the name climbs out of the destination with `..`")?;
                }
                _ => depth += 1,
            }
        }
        let mut dest = self.to.trim_end_matches('/').as_bytes().to_vec();
        dest.push(b'/');
        dest.extend_from_slice(name);
        Ok(dest)
    }

    fn content<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        pax: &BTreeMap<String, Vec<u8>>,
        plain: Option<&(Arc<File>, u64)>,
    ) -> Result<Content, String> {
        let is_pax_sparse = pax.contains_key("GNU.sparse.major") || pax.contains_key("GNU.sparse.map");
        if is_pax_sparse {
            return self.pax_sparse(entry, pax);
        }
        let size = entry.size();
        if size == 0 {
            return Ok(Content::empty());
        }
        match plain {
            Some((file, len)) if entry.header().entry_type() != EntryType::GNUSparse => {
                let at = entry.raw_file_position();
                if at.checked_add(size).is_none_or(|end| end > *len) {
                    return Err(format!(
                        "archive is truncated: the entry needs {size} bytes at offset {at} but the file ends at {len}"
                    ));
                }
                Ok(Content::stored(Arc::clone(file), vec![Extent { offset: 0, len: size, at }], size))
            }
            _ => {
                let mut extents = Vec::new();
                let copied = self.spool(entry, 0, size, &mut extents)?;
                if copied != size {
                    return Err(format!("archive is truncated: the entry has {copied} of its {size} bytes"));
                }
                Ok(Content::stored(self.spool_file()?, extents, size))
            }
        }
    }

    /// GNU tar's PAX sparse format 1.0: a decimal map at the start of the data, then the
    /// data runs it lists.
    fn pax_sparse<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        pax: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Content, String> {
        let major = pax.get("GNU.sparse.major").map(|v| v.as_slice());
        if major != Some(b"1") {
            return Err("only the PAX sparse format 1.0 (tar --sparse --format=posix) is supported".into());
        }
        let real: u64 = pax
            .get("GNU.sparse.realsize")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .ok_or("PAX sparse entry without GNU.sparse.realsize")?;
        let mut consumed = 0u64;
        let mut line = || -> Result<u64, String> {
            let mut digits = Vec::new();
            loop {
                let mut b = [0u8; 1];
                entry.read_exact(&mut b).map_err(|e| format!("sparse map: {e}"))?;
                consumed += 1;
                if b[0] == b'\n' {
                    break;
                }
                if digits.len() > 20 || !b[0].is_ascii_digit() {
                    return Err("sparse map is corrupt".into());
                }
                digits.push(b[0]);
            }
            std::str::from_utf8(&digits)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| "sparse map is corrupt".to_string())
        };
        let count = line()?;
        if count > 1 << 20 {
            return Err(format!("sparse map claims {count} runs"));
        }
        let mut runs = Vec::new();
        for _ in 0..count {
            let (off, len) = (line()?, line()?);
            runs.push((off, len));
        }
        let pad = (512 - consumed % 512) % 512;
        io::copy(&mut entry.take(pad), &mut io::sink()).map_err(|e| e.to_string())?;
        let mut extents = Vec::new();
        for (off, len) in runs {
            if off.checked_add(len).is_none_or(|end| end > real) {
                return Err(format!("sparse run at {off} of {len} bytes lies past the file's size {real}"));
            }
            if self.spool(entry, off, len, &mut extents)? != len {
                return Err("archive is truncated inside a sparse member".into());
            }
        }
        Ok(Content::stored(self.spool_file()?, extents, real))
    }

    fn spool_file(&mut self) -> Result<Arc<File>, String> {
        if self.spool.is_none() {
            let f = tempfile::tempfile_in(self.spool_dir)
                .map_err(|e| format!("cannot create a spool file in {}: {e}", self.spool_dir.display()))?;
            self.spool = Some(Arc::new(f));
        }
        self.spool.clone().ok_or_else(|| "no spool file".into())
    }

    /// Copies `len` bytes of `r` to the spool as content at `offset`, leaving zero blocks
    /// out. Returns the bytes read (less than `len` if the input ended).
    fn spool(&mut self, r: &mut impl Read, offset: u64, len: u64, extents: &mut Vec<Extent>) -> Result<u64, String> {
        let spool = self.spool_file()?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(buf.len() as u64) as usize;
            let n = read_up_to(r, &mut buf[..want]).map_err(|e| format!("cannot read the entry: {e}"))?;
            if n == 0 {
                break;
            }
            for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
                if block.iter().all(|&b| b == 0) {
                    continue;
                }
                let logical = offset + done + (i * BLOCK) as u64;
                spool.write_all_at(block, self.spool_len).map_err(|e| format!("cannot write the spool file: {e}"))?;
                match extents.last_mut() {
                    Some(e) if e.offset + e.len == logical && e.at + e.len == self.spool_len => {
                        e.len += block.len() as u64
                    }
                    _ => extents.push(Extent { offset: logical, len: block.len() as u64, at: self.spool_len }),
                }
                self.spool_len += block.len() as u64;
            }
            done += n as u64;
        }
        Ok(done)
    }
}

fn pax_map<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut map = BTreeMap::new();
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let key = ext.key().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            map.insert(key.to_owned(), ext.value_bytes().to_vec());
        }
    }
    Ok(map)
}

/// A PAX time: decimal seconds with an optional fraction.
fn pax_time(v: &[u8]) -> Option<Time> {
    let s = std::str::from_utf8(v).ok()?;
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: u32 = digits.parse().ok()?;
    if sec < 0 && nsec > 0 {
        return Some(Time { sec: sec - 1, nsec: 1_000_000_000 - nsec });
    }
    Some(Time { sec, nsec })
}

/// A POSIX ACL in the text form GNU tar stores (`user::rw-,user:1000:r--,group::r--,
/// mask::r--,other::r--`, long or one-letter tags, numeric ids) as the kernel's xattr
/// value (`posix_acl_xattr_header` version 2, entries sorted by tag and id).
fn acl_xattr(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "ACL text is not UTF-8".to_string())?;
    let mut entries: Vec<(u16, u32, u16)> = Vec::new();
    for part in text.split([',', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
        let fields: Vec<&str> = part.split(':').collect();
        let [tag, qualifier, perms, ..] = fields.as_slice() else {
            return Err(format!("ACL entry {part:?} is not tag:qualifier:permissions"));
        };
        let named = !qualifier.is_empty();
        let tag = match (*tag, named) {
            ("user" | "u", false) => 0x01,
            ("user" | "u", true) => 0x02,
            ("group" | "g", false) => 0x04,
            ("group" | "g", true) => 0x08,
            ("mask" | "m", false) => 0x10,
            ("other" | "o", false) => 0x20,
            _ => return Err(format!("ACL entry {part:?} has an unknown tag")),
        };
        let id = if named {
            qualifier.parse::<u32>().map_err(|_| {
                format!("ACL entry {part:?} names {qualifier:?}; ingot needs numeric ids (tar --numeric-owner)")
            })?
        } else {
            u32::MAX
        };
        let mut perm = 0u16;
        for (c, bit) in perms.chars().zip([4u16, 2, 1]) {
            match c {
                'r' | 'w' | 'x' => perm |= bit,
                '-' => {}
                _ => return Err(format!("ACL entry {part:?} has bad permissions")),
            }
        }
        entries.push((tag, id, perm));
    }
    entries.sort();
    let mut out = 2u32.to_le_bytes().to_vec();
    for (tag, id, perm) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn acl_text_becomes_the_xattr_form() {
        let v = super::acl_xattr(b"user::rw-,user:1000:r-x,g::r--,mask::r-x,other::---").unwrap();
        assert_eq!(v.len(), 4 + 5 * 8);
        assert_eq!(&v[0..4], &2u32.to_le_bytes());
        assert_eq!(&v[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&v[12..20], &[2, 0, 5, 0, 0xe8, 0x03, 0, 0]);
        assert!(super::acl_xattr(b"user:alice:r--").unwrap_err().contains("numeric"));
    }
}
