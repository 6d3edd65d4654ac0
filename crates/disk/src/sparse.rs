use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

/// The data runs of `file` (its first `size` bytes) as `(start, end)` pairs, found with
/// SEEK_DATA/SEEK_HOLE; everything else is a hole. Where the filesystem can't tell, the
/// whole file is one run.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let f = std::fs::File::create(dir.path().join("empty")).unwrap();
/// f.set_len(1 << 20).unwrap();
/// assert!(ingot_disk::data_ranges(&f, 1 << 20).unwrap().is_empty());
/// ```
pub fn data_ranges(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        // SAFETY: lseek on a descriptor we borrow has no memory effects.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENXIO) => Ok(out),
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) if out.is_empty() => Ok(vec![(0, size)]),
                _ => Err(err),
            };
        }
        let data = data as u64;
        if data >= size {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data as libc::off_t, libc::SEEK_HOLE) };
        let hole = if hole < 0 { size } else { (hole as u64).min(size) };
        out.push((data, hole));
        pos = hole;
    }
    Ok(out)
}
