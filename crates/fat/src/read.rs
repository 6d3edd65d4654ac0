//! Reading files back from a FAT volume inside an image, for `ingot inspect`: the volume
//! is opened read-only (a write is an error, so inspecting never changes the image).

use crate::FatError;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// `size` bytes at `offset` of `file`, readable and seekable; writes fail.
struct Slice<'a> {
    file: &'a std::fs::File,
    offset: u64,
    size: u64,
    at: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = (buf.len() as u64).min(self.size.saturating_sub(self.at)) as usize;
        let n = self.file.read_at(&mut buf[..n], self.offset + self.at)?;
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

/// Every regular file of the FAT volume at `offset` (`size` bytes) of `file` for which
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
    let fs = fatfs::FileSystem::new(Slice { file, offset, size, at: 0 }, options).map_err(err("/"))?;
    let mut found = Vec::new();
    let mut dirs = vec![(String::new(), fs.root_dir())];
    while let Some((path, dir)) = dirs.pop() {
        for entry in dir.iter() {
            let entry = entry.map_err(err(&path))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let full = format!("{path}/{name}");
            if entry.is_dir() {
                dirs.push((full, entry.to_dir()));
                continue;
            }
            let mut content = Vec::new();
            let mut f = entry.to_file();
            let mut head = [0u8; 64];
            let n = read_up_to(&mut f, &mut head).map_err(err(&full))?;
            if wanted(&full, &head[..n]) {
                content.extend_from_slice(&head[..n]);
                f.read_to_end(&mut content).map_err(err(&full))?;
                found.push((full, content));
            }
        }
    }
    found.sort();
    Ok(found)
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
