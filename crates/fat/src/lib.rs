//! Writes a FAT filesystem (an EFI system partition) from an ingot [`Tree`], on the
//! `fatfs` crate, deterministically: the volume serial comes from the caller (derived
//! from the recipe's seed) and every timestamp is SOURCE_DATE_EPOCH.
//!
//! FAT32 is chosen where the size allows (at least 65,525 clusters of 512 bytes or more),
//! FAT16 or FAT12 below. Long names are written as VFAT long-name entries.
//!
//! ```
//! use ingot_tree::{Meta, Tree};
//! let mut tree = Tree::new(1_700_000_000);
//! tree.add_directory("/EFI/BOOT", Meta::root(0o755, 0)).unwrap();
//! let mut disk = std::io::Cursor::new(vec![0u8; 64 << 20]);
//! let opts = ingot_fat::Options { label: "ESP".into(), serial: 0x1234_5678, fat: None, time: 1_700_000_000 };
//! let info = ingot_fat::write(&tree, &mut disk, 64 << 20, &opts).unwrap();
//! assert_eq!(info.fat_type, 32);
//! ```

mod cache;
mod layout;
mod read;
mod time;

use ingot_tree::{Kind, NodeId, Tree};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};

pub use layout::estimate_size;
pub use read::{files, summary, volume_serial, Summary, NO_LABEL};

/// How to format the volume.
#[derive(Clone, Debug)]
pub struct Options {
    /// Volume label, at most 11 characters.
    pub label: String,
    /// Volume serial number.
    pub serial: u32,
    /// Force FAT12, 16 or 32; `None` picks FAT32 where the size allows.
    pub fat: Option<u8>,
    /// Every timestamp on the volume (seconds since the epoch; FAT's range is 1980–2107).
    pub time: i64,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatInfo {
    /// 12, 16 or 32.
    pub fat_type: u8,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Volume serial number.
    pub serial: u32,
    /// Bytes of file content written.
    pub content_bytes: u64,
}

/// What can go wrong writing a FAT volume.
#[derive(Debug, thiserror::Error)]
pub enum FatError {
    /// The tree holds something FAT can't.
    #[error("{path}: {message}")]
    Entry {
        /// The entry's path in the tree.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The content does not fit.
    #[error(
        "the files need about {} MiB but the {} MiB FAT volume has {} MiB free; make the partition's `size` at least {} MiB",
        needed.div_ceil(1 << 20), size >> 20, free >> 20, suggest >> 20
    )]
    TooSmall {
        /// Bytes the content needs.
        needed: u64,
        /// Partition size.
        size: u64,
        /// Free bytes after formatting.
        free: u64,
        /// A size that would fit.
        suggest: u64,
    },
    /// The volume can't be formatted at this size.
    #[error("cannot format a {size} byte FAT volume: {message}")]
    Format {
        /// Partition size.
        size: u64,
        /// Why.
        message: String,
    },
    /// An I/O error while writing.
    #[error("{path}: {source}")]
    Io {
        /// The entry being written.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Formats `disk` (`size` bytes) as FAT and copies `tree` onto it.
pub fn write<D: Read + Write + Seek>(tree: &Tree, mut disk: D, size: u64, opts: &Options) -> Result<FatInfo, FatError> {
    let geometry = layout::choose(size, opts.fat).map_err(|message| FatError::Format { size, message })?;
    let needed = estimate_size(tree);
    let mut label = [b' '; 11];
    label[..opts.label.len().min(11)].copy_from_slice(&opts.label.as_bytes()[..opts.label.len().min(11)]);
    let format = fatfs::FormatVolumeOptions::new()
        .fat_type(geometry.fat_type)
        .bytes_per_cluster(geometry.cluster_size)
        .total_sectors((size / 512) as u32)
        .volume_id(opts.serial)
        .volume_label(label)
        .media(0xF8)
        .drive_num(0x80);
    let fs_err = |path: &'static str| move |source: io::Error| FatError::Io { path: path.to_owned(), source };
    fatfs::format_volume(&mut disk, format).map_err(|e| FatError::Format { size, message: e.to_string() })?;
    disk.seek(io::SeekFrom::Start(0)).map_err(fs_err("/"))?;
    let provider: &'static time::Fixed = Box::leak(Box::new(time::Fixed::new(opts.time)));
    let fs_opts = fatfs::FsOptions::new().time_provider(provider).update_accessed_date(false);
    let mut cached = cache::BlockCache::new(&mut disk, size);
    let fs = fatfs::FileSystem::new(&mut cached, fs_opts).map_err(fs_err("/"))?;
    let stats = fs.stats().map_err(fs_err("/"))?;
    let free = u64::from(stats.free_clusters()) * u64::from(stats.cluster_size());
    let needed_data = layout::data_bytes(tree, stats.cluster_size());
    if needed_data > free {
        return Err(FatError::TooSmall {
            needed: needed_data,
            size,
            free,
            suggest: (size - free + needed).next_multiple_of(1 << 20),
        });
    }
    let mut content_bytes = 0;
    copy_dir(tree, tree.root(), &fs.root_dir(), "", &mut content_bytes)?;
    let fat_type = match fs.fat_type() {
        fatfs::FatType::Fat12 => 12,
        fatfs::FatType::Fat16 => 16,
        fatfs::FatType::Fat32 => 32,
    };
    let cluster_size = fs.cluster_size();
    fs.unmount().map_err(fs_err("/"))?;
    cached.flush_blocks().map_err(fs_err("/"))?;
    Ok(FatInfo { fat_type, cluster_size, serial: opts.serial, content_bytes })
}

fn copy_dir<IO: fatfs::ReadWriteSeek>(
    tree: &Tree,
    id: NodeId,
    dir: &fatfs::Dir<'_, IO>,
    path: &str,
    bytes: &mut u64,
) -> Result<(), FatError> {
    let mut folded: BTreeMap<String, String> = BTreeMap::new();
    for (name, child) in tree.children(id) {
        let child_path = format!("{path}/{}", String::from_utf8_lossy(name));
        let entry_err = |message: String| FatError::Entry { path: child_path.clone(), message };
        let name = std::str::from_utf8(name)
            .map_err(|_| entry_err("the name is not UTF-8, which FAT long names need".into()))?;
        check_name(name).map_err(entry_err)?;
        if let Some(other) = folded.insert(name.to_lowercase(), name.to_owned()) {
            return Err(entry_err(format!("differs from {other:?} only in case, and FAT names ignore case")));
        }
        let io_err = |source| FatError::Io { path: child_path.clone(), source };
        match &tree.node(child).kind {
            Kind::Dir(_) => {
                let sub = dir.create_dir(name).map_err(io_err)?;
                copy_dir(tree, child, &sub, &child_path, bytes)?;
            }
            Kind::File(content) => {
                let mut file = dir.create_file(name).map_err(io_err)?;
                let mut reader = content.reader().map_err(io_err)?;
                *bytes += copy(&mut reader, &mut file).map_err(io_err)?;
                file.flush().map_err(io_err)?;
            }
            other => return Err(entry_err(format!("FAT can't hold a {}; leave it out with `exclude`", other.name()))),
        }
    }
    Ok(())
}

fn copy(r: &mut impl Read, w: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 255 || name.encode_utf16().count() > 255 {
        return Err("the name is longer than FAT's 255 characters".into());
    }
    if let Some(c) = name.chars().find(|c| (*c as u32) < 0x20 || "\"*/:<>?\\|".contains(*c)) {
        return Err(format!("FAT names can't contain {c:?}"));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("FAT names can't end in a dot or a space".into());
    }
    Ok(())
}
