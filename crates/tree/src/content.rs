use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A run of file data: `len` bytes at logical `offset` of the file, stored at `at` in the
/// backing file. Everything between extents is a hole and reads as zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Offset in the file's content.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Offset in the backing file.
    pub at: u64,
}

/// The content of a regular file, by handle: it stays in its host file, archive or spool
/// file until a writer reads it.
#[derive(Clone, Debug)]
pub struct Content {
    size: u64,
    backing: Backing,
}

#[derive(Clone, Debug)]
enum Backing {
    Empty,
    Host(PathBuf),
    Stored { file: Arc<File>, extents: Arc<[Extent]> },
}

/// An opened [`Content`]: the backing file and where the data lies in it.
#[derive(Debug)]
pub struct Data {
    /// The file the data is read from.
    pub file: Arc<File>,
    /// Data runs in ascending `offset` order; holes between them are zeros.
    pub extents: Vec<Extent>,
    /// The file's size (its last bytes may be a hole).
    pub size: u64,
}

impl Content {
    /// An empty file.
    pub fn empty() -> Content {
        Content { size: 0, backing: Backing::Empty }
    }

    /// A host file of `size` bytes, opened when read.
    pub(crate) fn host(path: &Path, size: u64) -> Content {
        if size == 0 {
            return Content::empty();
        }
        Content { size, backing: Backing::Host(path.to_owned()) }
    }

    /// Data held in `file` at `extents`.
    pub(crate) fn stored(file: Arc<File>, extents: Vec<Extent>, size: u64) -> Content {
        Content { size, backing: Backing::Stored { file, extents: extents.into() } }
    }

    /// Content made by ingot itself (a boot loader entry, say), kept in an unlinked
    /// temporary file in `spool_dir` like spooled archive content.
    pub fn from_bytes(bytes: &[u8], spool_dir: &Path) -> io::Result<Content> {
        if bytes.is_empty() {
            return Ok(Content::empty());
        }
        let file = tempfile::tempfile_in(spool_dir)?;
        file.write_all_at(bytes, 0)?;
        let extents = vec![Extent { offset: 0, len: bytes.len() as u64, at: 0 }];
        Ok(Content::stored(Arc::new(file), extents, bytes.len() as u64))
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Opens the content and finds its data (with SEEK_DATA/SEEK_HOLE for host files).
    pub fn data(&self) -> io::Result<Data> {
        match &self.backing {
            Backing::Empty => Ok(Data { file: Arc::new(File::open("/dev/null")?), extents: vec![], size: 0 }),
            Backing::Host(path) => {
                let file =
                    File::open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                let extents = data_extents(&file, self.size)?;
                Ok(Data { file: Arc::new(file), extents, size: self.size })
            }
            Backing::Stored { file, extents } => {
                Ok(Data { file: Arc::clone(file), extents: extents.to_vec(), size: self.size })
            }
        }
    }

    /// A reader of the whole content, holes read as zeros.
    pub fn reader(&self) -> io::Result<ContentReader> {
        Ok(ContentReader { data: self.data()?, pos: 0, next: 0 })
    }
}

/// Reads a [`Content`] from start to end.
#[derive(Debug)]
pub struct ContentReader {
    data: Data,
    pos: u64,
    next: usize,
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.data.size || buf.is_empty() {
            return Ok(0);
        }
        while self.next < self.data.extents.len() && {
            let e = self.data.extents[self.next];
            e.offset + e.len <= self.pos
        } {
            self.next += 1;
        }
        let want = (buf.len() as u64).min(self.data.size - self.pos);
        let n = match self.data.extents.get(self.next) {
            Some(e) if e.offset <= self.pos => {
                let n = want.min(e.offset + e.len - self.pos) as usize;
                let got = self.data.file.read_at(&mut buf[..n], e.at + (self.pos - e.offset))?;
                if got == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being read"));
                }
                got
            }
            next => {
                let hole_end = next.map_or(self.data.size, |e| e.offset);
                let n = want.min(hole_end - self.pos) as usize;
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

/// The data runs of a host file as extents (one run for the whole file where the
/// filesystem can't tell data from holes).
pub(crate) fn data_extents(file: &File, size: u64) -> io::Result<Vec<Extent>> {
    Ok(ingot_disk::data_ranges(file, size)?.into_iter().map(|(s, e)| Extent { offset: s, len: e - s, at: s }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn sparse_host_file_keeps_holes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let mut f = File::create(&path).unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(b"middle").unwrap();
        f.set_len(3 << 20).unwrap();
        drop(f);
        let c = Content::host(&path, 3 << 20);
        let data = c.data().unwrap();
        let data_bytes: u64 = data.extents.iter().map(|e| e.len).sum();
        assert!(data_bytes < 1 << 20, "holes were not found: {:?}", data.extents);
        let mut all = Vec::new();
        c.reader().unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 3 << 20);
        assert_eq!(&all[1 << 20..(1 << 20) + 6], b"middle");
        assert!(all[..1 << 20].iter().all(|&b| b == 0));
    }
}
