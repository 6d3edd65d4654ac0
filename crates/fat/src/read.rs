//! Reading files back from a FAT volume inside an image, for `ingot inspect`: the volume
//! is opened read-only (a write is an error, so inspecting never changes the image).

use crate::FatError;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// `size` bytes at `offset` of `file`, readable and seekable; writes fail. At most
/// `budget` reads are made in all: a walk bounded by what it reads, not by the entries
/// it keeps, ends on a cluster chain that loops through deleted entries too.
///
/// fatfs reads a file a cluster at a time and looks up each next cluster in the FAT in
/// between (a 17 MiB UKI in 512-byte clusters: 70,000 small reads), so reads are served
/// from a few [`WINDOW`]-byte windows of the volume, one per region the walk moves
/// between (the FAT, the data), the least recently used refilled.
struct Slice<'a> {
    file: &'a std::fs::File,
    offset: u64,
    size: u64,
    at: u64,
    budget: u64,
    /// The windows: each its start (in the volume) and bytes, most recently used last.
    windows: Vec<(u64, Vec<u8>)>,
}

/// The bytes of the volume a window holds: a few hundred clusters of a file in one read.
const WINDOW: usize = 256 << 10;
/// How many windows are kept: the FAT, the file's data, and a directory, with one spare.
const WINDOWS: usize = 4;

impl<'a> Slice<'a> {
    fn new(file: &'a std::fs::File, offset: u64, size: u64) -> Slice<'a> {
        Slice { file, offset, size, at: 0, budget: Slice::budget(size), windows: Vec::new() }
    }

    /// The reads a sound walk of a volume of `size` bytes makes at most: each sector once
    /// as data and once for its FAT entry, twice over, and for each directory entry the
    /// dozen small reads fatfs makes of a short entry (fewer of a long-name one), with
    /// room.
    fn budget(size: u64) -> u64 {
        4 * (size / 512) + 16 * MAX_ENTRIES as u64
    }

    /// The window holding the volume's byte `at` (< size), read in if none does.
    fn window(&mut self, at: u64) -> io::Result<&(u64, Vec<u8>)> {
        use std::os::unix::fs::FileExt;
        let held = self.windows.iter().position(|(start, w)| (*start..*start + w.len() as u64).contains(&at));
        let i = match held {
            Some(i) => i,
            None => {
                let start = at - at % WINDOW as u64;
                let len = (self.size - start).min(WINDOW as u64) as usize;
                let mut w = if self.windows.len() == WINDOWS { self.windows.remove(0).1 } else { Vec::new() };
                w.resize(len, 0);
                self.file.read_exact_at(&mut w, self.offset + start)?;
                self.windows.push((start, w));
                self.windows.len() - 1
            }
        };
        let w = self.windows.remove(i);
        self.windows.push(w);
        Ok(&self.windows[self.windows.len() - 1])
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| io::Error::other("the walk read more than the volume holds: a cluster chain loops"))?;
        if self.at >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let at = self.at;
        let (start, w) = self.window(at)?;
        let from = (at - start) as usize;
        let n = buf.len().min(w.len() - from);
        buf[..n].copy_from_slice(&w[from..from + n]);
        self.at += n as u64;
        Ok(n)
    }
}

impl Write for Slice<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "the image is opened read-only"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Slice<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let at = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.at.checked_add_signed(d),
        };
        self.at = at.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the volume"))?;
        Ok(self.at)
    }
}

/// Directories deeper than this are not walked: an ESP is a few levels deep, and a
/// damaged or hostile volume whose directory points back at an ancestor would otherwise
/// be walked for ever.
pub const MAX_DEPTH: usize = 16;
/// At most this many directory entries are looked at in all: a FAT directory holds at
/// most 65,536, an ESP a few dozen; a cluster chain that loops is cut off here.
pub const MAX_ENTRIES: usize = 65_536;
/// At most this many bytes of file content are kept in all.
pub const MAX_BYTES: u64 = 1 << 30;
/// Files larger than this are not read: EFI binaries (a UKI with its initrd) are tens of
/// MiB; a bigger file is left out rather than read into memory.
pub const MAX_FILE: u64 = 512 << 20;

/// Every regular file (of at most [`MAX_FILE`] bytes, at most [`MAX_DEPTH`] directories
/// down, [`MAX_BYTES`] in all; a walk past [`MAX_ENTRIES`] entries is an error) of the
/// FAT volume at `offset` (`size` bytes) of `file` for which
/// `wanted(path, first_bytes)` holds, with its whole content; paths are absolute, as
/// stored (long names where there are). `first_bytes` are at most 64 bytes.
pub fn files(
    file: &std::fs::File,
    offset: u64,
    size: u64,
    wanted: impl Fn(&str, &[u8]) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, FatError> {
    let err = |path: &str| {
        let path = path.to_owned();
        move |source: io::Error| FatError::Io { path, source }
    };
    let options = fatfs::FsOptions::new().update_accessed_date(false);
    let fs = fatfs::FileSystem::new(Slice::new(file, offset, size), options).map_err(err("/"))?;
    let mut found = Vec::new();
    let (mut entries, mut bytes) = (0, 0);
    let mut dirs = vec![(String::new(), fs.root_dir(), 0)];
    while let Some((path, dir, depth)) = dirs.pop() {
        for entry in dir.iter() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return Err(FatError::Io {
                    path,
                    source: io::Error::other("more directory entries than a FAT volume holds"),
                });
            }
            let entry = entry.map_err(err(&path))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let full = format!("{path}/{name}");
            if entry.is_dir() {
                if depth < MAX_DEPTH {
                    dirs.push((full, entry.to_dir(), depth + 1));
                }
                continue;
            }
            if entry.len() > MAX_FILE || bytes + entry.len() > MAX_BYTES {
                continue;
            }
            // Sized once (the length is at most MAX_FILE): no regrowth of a large file.
            let mut content = Vec::with_capacity(entry.len() as usize);
            let mut f = entry.to_file();
            (&mut f).take(64).read_to_end(&mut content).map_err(err(&full))?;
            if wanted(&full, &content) {
                f.read_to_end(&mut content).map_err(err(&full))?;
                bytes += content.len() as u64;
                found.push((full, content));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What `fsck.fat -v` says of a FAT volume's size and identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// 12, 16 or 32.
    pub fat_bits: u8,
    /// `BS_VolID`, the volume serial.
    pub volume_id: u32,
    /// `BS_VolLab`, without its padding.
    pub volume_label: String,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Data clusters.
    pub total_clusters: u32,
    /// Free data clusters (FSInfo's count when valid, else counted in the FAT).
    pub free_clusters: u32,
}

/// The label of a FAT volume without one (`BS_VolLab` as mkfs.fat writes it); blkid and
/// `ingot inspect` report it as no label.
pub const NO_LABEL: &str = "NO NAME";

/// A volume serial (`BS_VolID`) as `blkid` and `ingot inspect` print it: `XXXX-XXXX`.
///
/// ```
/// assert_eq!(ingot_fat::volume_serial(0x1234abcd), "1234-ABCD");
/// ```
pub fn volume_serial(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xffff)
}

/// Reads the [`Summary`] of the FAT volume at `offset` (`size` bytes) of `file`,
/// read-only.
pub fn summary(file: &std::fs::File, offset: u64, size: u64) -> Result<Summary, FatError> {
    let fail = |source: io::Error| FatError::Io { path: "/".into(), source };
    let options = fatfs::FsOptions::new().update_accessed_date(false);
    let fs = fatfs::FileSystem::new(Slice::new(file, offset, size), options).map_err(fail)?;
    let stats = fs.stats().map_err(fail)?;
    Ok(Summary {
        fat_bits: match fs.fat_type() {
            fatfs::FatType::Fat12 => 12,
            fatfs::FatType::Fat16 => 16,
            fatfs::FatType::Fat32 => 32,
        },
        volume_id: fs.volume_id(),
        volume_label: fs.volume_label().trim_end().to_string(),
        cluster_size: stats.cluster_size(),
        total_clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_tree::{Content, Meta, Tree};

    #[test]
    fn files_are_found_by_their_first_bytes_down_to_the_depth_limit_and_nothing_is_written() {
        let spool = tempfile::tempdir().unwrap();
        let mut tree = Tree::new(1_700_000_000);
        let deep = (0..=MAX_DEPTH).map(|i| format!("/d{i}")).collect::<String>();
        for (path, bytes) in [
            ("/EFI/BOOT/BOOTX64.EFI", &b"MZ binary"[..]),
            ("/notes.txt", b"text"),
            (&format!("{deep}/DEEP.EFI")[..], b"MZ"),
        ] {
            let content = Content::from_bytes(bytes, spool.path()).unwrap();
            tree.add_content(path, content, Meta::root(0o644, 0)).unwrap();
        }
        let image = tempfile::NamedTempFile::new().unwrap();
        let size = 34 << 20;
        image.as_file().set_len(size).unwrap();
        let opts = crate::Options { label: "ESP".into(), serial: 1, fat: None, time: 1_700_000_000 };
        crate::write(&tree, image.as_file(), size, &opts).unwrap();
        let before = std::fs::read(image.path()).unwrap();
        let found = files(image.as_file(), 0, size, |_, head| head.starts_with(b"MZ")).unwrap();
        assert_eq!(found, vec![("/EFI/BOOT/BOOTX64.EFI".to_string(), b"MZ binary".to_vec())]);
        assert!(std::fs::read(image.path()).unwrap() == before, "reading changed the volume");
    }
}
