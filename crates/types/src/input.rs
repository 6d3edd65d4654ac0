//! The small files a run reads whole (a recipe, a PEM key or certificate, a signature
//! list, a manifest): each must be a regular file, and no larger than a limit fit for its
//! kind, checked before it is read. A FIFO would block for ever, `/dev/zero` would never
//! end, and a 3 GiB sparse file named as a key would be read into memory.

use std::fs::FileType;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The largest recipe: a recipe is a page of TOML; a megabyte holds thousands of
/// partitions' worth, far past the 128 a GPT takes.
pub const RECIPE_MAX: u64 = 1 << 20;
/// The largest PEM file (a private key, a certificate or a chain of them): an RSA-4096
/// key is 3 KiB, a long chain a few dozen.
pub const PEM_MAX: u64 = 1 << 20;
/// The largest signature-list file (a Secure Boot dbx, a UEFI variable store): EC2's
/// UefiData holds at most 64,000 characters of base64.
pub const SIGNATURE_LIST_MAX: u64 = 1 << 20;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// It is not a regular file.
    #[error("{}: is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is ([`kind`]).
        kind: &'static str,
    },
    /// It is larger than its kind allows.
    #[error("{}: {len} bytes, more than the {max} bytes such a file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// It could not be read (missing, unreadable, not UTF-8 where text is expected).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl InputError {
    /// The underlying I/O error, when there is one (to tell "not found" apart).
    pub fn io(&self) -> Option<&std::io::Error> {
        match self {
            InputError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What a file type is, in words: `a directory`, `a symbolic link`, `a device node`,
/// `a FIFO`, `a socket`, `a regular file`.
pub fn kind(t: FileType) -> &'static str {
    match () {
        _ if t.is_file() => "a regular file",
        _ if t.is_dir() => "a directory",
        _ if t.is_symlink() => "a symbolic link",
        _ if t.is_block_device() || t.is_char_device() => "a device node",
        _ if t.is_fifo() => "a FIFO",
        _ if t.is_socket() => "a socket",
        _ => "not a regular file",
    }
}

/// `path`'s size, when it is a regular file (symbolic links followed).
pub fn regular_len(path: &Path) -> Result<u64, InputError> {
    let meta = std::fs::metadata(path).map_err(|source| InputError::Io { path: path.into(), source })?;
    if !meta.is_file() {
        return Err(InputError::NotRegular { path: path.into(), kind: kind(meta.file_type()) });
    }
    Ok(meta.len())
}

/// The bytes of the regular file `path`, at most `max` of them.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    let len = regular_len(path)?;
    if len > max {
        return Err(InputError::TooLarge { path: path.into(), len, max });
    }
    let io = |source| InputError::Io { path: path.into(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(len as usize);
    // Bounded again while reading: the file may grow between the check and the read.
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge { path: path.into(), len: bytes.len() as u64, max });
    }
    Ok(bytes)
}

/// The text of the regular file `path` (UTF-8), at most `max` bytes.
pub fn read_to_string(path: &Path, max: u64) -> Result<String, InputError> {
    let bytes = read(path, max)?;
    String::from_utf8(bytes).map_err(|e| InputError::Io {
        path: path.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_their_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"0123456789").unwrap();
        assert_eq!(read(&small, 10).unwrap(), b"0123456789");
        assert!(matches!(read(&small, 9), Err(InputError::TooLarge { len: 10, max: 9, .. })));
        let e = read(dir.path(), 10).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: is a directory, not a regular file", dir.path().display()));
        let e = read(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().ends_with("is a device node, not a regular file"), "{e}");
        std::fs::write(&small, [0xff, 0xfe]).unwrap();
        assert!(read_to_string(&small, 10).unwrap_err().to_string().contains("not UTF-8"));
    }
}
