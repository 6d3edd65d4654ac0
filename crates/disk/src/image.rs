use crate::{DiskError, RangeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// A raw disk image file, created at its full size with no data allocated.
///
/// It remembers which bytes were written ([`Image::written`]), so that zeros written over
/// a hole are skipped and a later stage (an upload of an encrypted snapshot) knows which
/// parts of the image the filesystems rely on.
#[derive(Debug)]
pub struct Image {
    file: File,
    path: PathBuf,
    size: u64,
    written: RangeSet,
    zeroed: RangeSet,
}

impl Image {
    /// Creates (or truncates) `path` as a sparse file of `size` bytes.
    pub fn create(path: &Path, size: u64) -> Result<Image, DiskError> {
        let io = |source| DiskError::Io { path: path.to_owned(), source };
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).map_err(io)?;
        file.set_len(size).map_err(io)?;
        Ok(Image { file, path: path.to_owned(), size, written: RangeSet::default(), zeroed: RangeSet::default() })
    }

    /// The image's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The image file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The byte ranges written so far.
    pub fn written(&self) -> &RangeSet {
        &self.written
    }

    /// Ranges a writer declared zero (with [`Image::zero`]) or wrote as zeros over a hole,
    /// and that were left as holes: what a filesystem relies on reading as zeros.
    pub fn zeroed(&self) -> &RangeSet {
        &self.zeroed
    }

    /// Makes `[offset, offset + len)` read as zeros: parts never written stay holes (and
    /// are remembered in [`Image::zeroed`]); parts written before are overwritten.
    pub fn zero(&mut self, offset: u64, len: u64) -> Result<(), DiskError> {
        let end = offset.checked_add(len).filter(|&e| e <= self.size).ok_or_else(|| {
            DiskError::Layout(format!("zeroing {len} bytes at {offset} lies outside the {} byte image", self.size))
        })?;
        let overlaps = self.written.overlapping(offset, end);
        let zeros = if overlaps.is_empty() { Vec::new() } else { vec![0u8; 1 << 20] };
        for (s, e) in overlaps {
            let mut pos = s;
            while pos < e {
                let n = (e - pos).min(zeros.len() as u64) as usize;
                self.file
                    .write_all_at(&zeros[..n], pos)
                    .map_err(|source| DiskError::Io { path: self.path.clone(), source })?;
                pos += n as u64;
            }
        }
        self.zeroed.insert(offset, end);
        Ok(())
    }

    /// Copies `len` bytes at `src_offset` of `src` to `offset` in the image, with
    /// copy_file_range where the kernel allows (no trip through user space; reflinks on
    /// filesystems that share extents), else through a buffer.
    pub fn copy_from(&mut self, src: &File, src_offset: u64, len: u64, offset: u64) -> Result<(), DiskError> {
        if offset.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(DiskError::Layout(format!("copying {len} bytes to {offset} lies outside the image")));
        }
        let io = |source| DiskError::Io { path: self.path.clone(), source };
        let (mut done, mut buffered) = (0u64, false);
        while done < len {
            if !buffered {
                let mut src_off = (src_offset + done) as libc::loff_t;
                let mut dst_off = (offset + done) as libc::loff_t;
                let want = (len - done).min(1 << 30) as usize;
                // SAFETY: both descriptors are open for the call and the offsets are
                // valid pointers to locals.
                let n = unsafe {
                    libc::copy_file_range(src.as_raw_fd(), &mut src_off, self.file.as_raw_fd(), &mut dst_off, want, 0)
                };
                if n > 0 {
                    done += n as u64;
                    continue;
                }
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    _ if n == 0 => return Err(io(io::Error::new(io::ErrorKind::UnexpectedEof, "source ended early"))),
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::EBADF) => buffered = true,
                    _ => return Err(io(err)),
                }
            } else {
                let mut buf = vec![0u8; (len - done).min(1 << 20) as usize];
                src.read_exact_at(&mut buf, src_offset + done).map_err(io)?;
                self.file.write_all_at(&buf, offset + done).map_err(io)?;
                done += buf.len() as u64;
            }
        }
        self.written.insert(offset, offset + len);
        Ok(())
    }

    /// A window of `len` bytes at `offset`, positioned at its start.
    pub fn region(&mut self, offset: u64, len: u64) -> Result<Region<'_>, DiskError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(Region { image: self, offset, len, pos: 0 }),
            _ => Err(DiskError::Layout(format!(
                "region of {len} bytes at offset {offset} lies outside the {} byte image",
                self.size
            ))),
        }
    }

    /// Writes `buf` at absolute `offset`, skipping all-zero sectors nothing wrote before.
    pub fn write_at(&mut self, buf: &[u8], offset: u64) -> Result<(), DiskError> {
        self.write_inner(buf, offset).map_err(|source| DiskError::Io { path: self.path.clone(), source })
    }

    fn write_inner(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.size {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "write past the end of the image"));
        }
        if is_zero(buf) && !self.written.overlaps(offset, end) {
            self.zeroed.insert(offset, end);
            return Ok(());
        }
        self.file.write_all_at(buf, offset)?;
        self.written.insert(offset, end);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes at absolute `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), DiskError> {
        self.file.read_exact_at(buf, offset).map_err(|source| DiskError::Io { path: self.path.clone(), source })
    }

    /// Starts writing the image's dirty pages to storage without waiting
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the work done before [`Image::sync`]
    /// (hashing the image) overlaps with the writeback instead of preceding it.
    pub fn start_writeback(&self) -> Result<(), DiskError> {
        use std::os::unix::io::AsRawFd;
        // SAFETY: sync_file_range on a descriptor we own has no memory effects; offset 0
        // and length 0 mean the whole file.
        let r = unsafe { libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if r != 0 {
            let source = std::io::Error::last_os_error();
            return Err(DiskError::Io { path: self.path.clone(), source });
        }
        Ok(())
    }

    /// Flushes the image to stable storage.
    pub fn sync(&self) -> Result<(), DiskError> {
        self.file.sync_all().map_err(|source| DiskError::Io { path: self.path.clone(), source })
    }
}

/// True if every byte of `buf` is zero (64 bytes at a time, so it vectorises).
pub fn is_zero(buf: &[u8]) -> bool {
    let chunks = buf.chunks_exact(64);
    let rest = chunks.remainder();
    chunks.into_iter().all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0) && rest.iter().all(|&b| b == 0)
}

/// A window onto part of an [`Image`]: offsets are relative to its start and it cannot be
/// read or written past its end.
#[derive(Debug)]
pub struct Region<'a> {
    image: &'a mut Image,
    offset: u64,
    len: u64,
    pos: u64,
}

impl Region<'_> {
    /// The region's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region's offset in the image.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Writes `buf` at `pos` within the region.
    pub fn write_at(&mut self, buf: &[u8], pos: u64) -> io::Result<()> {
        if pos.checked_add(buf.len() as u64).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "write past the end of the region"));
        }
        self.image.write_inner(buf, self.offset + pos)
    }

    /// Reads exactly `buf.len()` bytes at `pos` within the region.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        if pos.checked_add(buf.len() as u64).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the region"));
        }
        self.image.file.read_exact_at(buf, self.offset + pos)
    }
}

impl Read for Region<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        let n = self.image.file.read_at(&mut buf[..n], self.offset + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Region<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "region is full"));
        }
        self.write_at(&buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Region<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the region")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_over_holes_are_skipped_but_zeros_over_data_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::create(&dir.path().join("i"), 1 << 20).unwrap();
        img.write_at(&[0u8; 4096], 0).unwrap();
        assert!(img.written().is_empty());
        img.write_at(&[7u8; 10], 100).unwrap();
        img.write_at(&[0u8; 10], 100).unwrap();
        let mut back = [1u8; 10];
        img.read_at(&mut back, 100).unwrap();
        assert_eq!(back, [0u8; 10]);
        assert_eq!(img.written().iter().collect::<Vec<_>>(), vec![(100, 110)]);
    }

    #[test]
    fn zero_skips_holes_and_clears_data_and_copy_from_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::create(&dir.path().join("i"), 1 << 20).unwrap();
        img.write_at(&[9u8; 100], 1000).unwrap();
        img.zero(0, 4096).unwrap();
        let mut back = [1u8; 100];
        img.read_at(&mut back, 1000).unwrap();
        assert_eq!(back, [0u8; 100]);
        assert_eq!(img.zeroed().iter().collect::<Vec<_>>(), vec![(0, 4096)]);
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, b"0123456789").unwrap();
        let src = File::open(&src_path).unwrap();
        img.copy_from(&src, 2, 5, 8192).unwrap();
        let mut got = [0u8; 5];
        img.read_at(&mut got, 8192).unwrap();
        assert_eq!(&got, b"23456");
    }

    #[test]
    fn region_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image::create(&dir.path().join("i"), 4096).unwrap();
        assert!(img.region(4000, 200).is_err());
        let mut r = img.region(1024, 16).unwrap();
        assert_eq!(r.write(&[1u8; 32]).unwrap(), 16);
        assert!(r.write(&[1u8; 1]).is_err());
        r.seek(SeekFrom::Start(0)).unwrap();
        let mut buf = [0u8; 32];
        assert_eq!(r.read(&mut buf).unwrap(), 16);
    }

    #[test]
    fn is_zero_works() {
        assert!(is_zero(&[0u8; 13]));
        let mut v = vec![0u8; 4099];
        v[4098] = 1;
        assert!(!is_zero(&v));
        v[4098] = 0;
        v[3] = 1;
        assert!(!is_zero(&v));
    }
}
