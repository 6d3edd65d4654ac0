//! ingot's ext4 writer: formats a region of a disk image as ext4 and fills it from an
//! [`ingot_tree::Tree`], without mke2fs, mounts or root.
//!
//! It writes the features of mke2fs 1.47's ext4 profile: has_journal (an empty jbd2 v2
//! journal sized as mke2fs sizes it), ext_attr, dir_index, filetype, extent, 64bit,
//! flex_bg (16), sparse_super, large_file, huge_file, dir_nlink, extra_isize (256-byte
//! inodes) and metadata_csum with every checksum. resize_inode and orphan_file are left
//! out (see docs/ext4.md). One module per on-disk structure, named after it.
//!
//! Every identifier comes from [`Options`]; every block the filesystem relies on reading
//! as zero is zeroed through [`ingot_disk::Image::zero`], which costs nothing over holes
//! and overwrites anything written before, so the result does not depend on what the
//! region held.
//!
//! ```
//! use ingot_tree::{Meta, Tree};
//! let dir = tempfile::tempdir().unwrap();
//! let mut image = ingot_disk::Image::create(&dir.path().join("fs.img"), 64 << 20).unwrap();
//! let mut tree = Tree::new(1_700_000_000);
//! tree.add_directory("/etc", Meta::root(0o755, 0)).unwrap();
//! let opts = ingot_ext4::Options::new(uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2), 1_700_000_000);
//! let info = ingot_ext4::write(&tree, &mut image, 0, 64 << 20, &opts).unwrap();
//! assert_eq!(info.block_size, 1024);
//! ```

mod crc;
mod dir_entry;
mod extent;
mod group_descriptor;
mod htree;
mod inode;
mod journal;
mod layout;
mod populate;
mod superblock;
mod writer;
mod xattr;

pub use superblock::{summary, Summary};
pub use writer::{estimate_size, write};

use std::path::PathBuf;
use uuid::Uuid;

/// How to format the filesystem.
#[derive(Clone, Debug)]
pub struct Options {
    /// Block size: 1024, 2048 or 4096; `None` picks as mke2fs does (1024 below 512 MiB).
    pub block_size: Option<u32>,
    /// Volume label, at most 16 bytes.
    pub label: String,
    /// Filesystem UUID.
    pub uuid: Uuid,
    /// Seed of the directory hash.
    pub hash_seed: Uuid,
    /// Bytes per inode; `None` picks as mke2fs does (4096 below 512 MiB, else 16384).
    pub inode_ratio: Option<u64>,
    /// A fixed number of inodes instead of a ratio.
    pub inode_count: Option<u64>,
    /// Blocks reserved for root, in percent.
    pub reserved_percent: u8,
    /// Write a journal (has_journal).
    pub journal: bool,
    /// Hash-index directories over one block (dir_index).
    pub dir_index: bool,
    /// Extended attributes (ext_attr); without it, a tree with xattrs is an error.
    pub ext_attr: bool,
    /// Store the checksum seed in the superblock (metadata_csum_seed), so that the UUID
    /// can change later without rewriting every checksum. GRUB 2.06 can't read it.
    pub metadata_csum_seed: bool,
    /// The filesystem's own timestamps (creation, last write) and lost+found's.
    pub time: i64,
}

impl Options {
    /// mke2fs's defaults with the given identifiers and time.
    pub fn new(uuid: Uuid, hash_seed: Uuid, time: i64) -> Options {
        Options {
            block_size: None,
            label: String::new(),
            uuid,
            hash_seed,
            inode_ratio: None,
            inode_count: None,
            reserved_percent: 5,
            journal: true,
            dir_index: true,
            ext_attr: true,
            metadata_csum_seed: false,
            time,
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext4Info {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// Free blocks left.
    pub free_blocks: u64,
    /// Inodes in the filesystem.
    pub inodes: u64,
    /// Free inodes left.
    pub free_inodes: u64,
    /// Filesystem UUID.
    pub uuid: Uuid,
}

/// What can go wrong writing ext4.
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    /// An entry of the tree can't be stored.
    #[error("{path}: {message}")]
    Entry {
        /// Path in the tree.
        path: String,
        /// Why.
        message: String,
    },
    /// The content does not fit.
    #[error("the files need at least {} MiB but the {} MiB ext4 filesystem has {} MiB free; make the partition's `size` at least {} MiB", needed >> 20, size >> 20, available >> 20, suggest >> 20)]
    TooSmall {
        /// Bytes needed (an upper bound: sparse files may need less).
        needed: u64,
        /// Bytes free after the metadata.
        available: u64,
        /// The partition's size.
        size: u64,
        /// A size that would fit.
        suggest: u64,
    },
    /// More entries than inodes.
    #[error("the tree needs {needed} inodes (its entries and the 11 that ext4 reserves) but the filesystem has {available}; set a smaller `inode_ratio` or a larger `inode_count`")]
    TooManyInodes {
        /// Inodes needed.
        needed: u64,
        /// Inodes available.
        available: u64,
    },
    /// Options or sizes ext4 can't take.
    #[error("{0}")]
    Geometry(String),
    /// Reading content.
    #[error("{path}: {source}")]
    Io {
        /// The entry being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the image.
    #[error(transparent)]
    Disk(#[from] ingot_disk::DiskError),
}
