//! ingot's EROFS writer: a read-only EROFS filesystem from an [`ingot_tree::Tree`],
//! without mkfs.erofs, mounts or root, the same bytes for the same tree.
//!
//! It writes what Linux 6.1 (Debian 12's kernels) reads: 4 KiB blocks, compact inodes
//! where an entry's owners, link count, size and time allow (a compact inode's time is
//! the superblock's `build_time`), extended ones otherwise; regular files, directories,
//! symlinks, device nodes, FIFOs, sockets and hard links; data in whole blocks with the
//! tail packed after the inode where it fits (`EROFS_INODE_FLAT_INLINE`); xattrs in the
//! inode, and those more than one inode has in the shared area; the superblock's
//! checksum. One module per on-disk structure, named after it, following the kernel's
//! Documentation/filesystems/erofs.rst and fs/erofs/erofs_fs.h.
//!
//! ```
//! use ingot_tree::{Meta, Tree};
//! let dir = tempfile::tempdir().unwrap();
//! let mut tree = Tree::new(1_700_000_000);
//! tree.add_directory("/etc", Meta::root(0o755, 1_700_000_000)).unwrap();
//! let opts = ingot_erofs::Options {
//!     uuid: uuid::Uuid::from_u128(1),
//!     label: "root".into(),
//!     time: 1_700_000_000,
//!     compression: ingot_erofs::Compression::None,
//!     spool: dir.path().into(),
//! };
//! let size = ingot_erofs::size_needed(&tree, &opts).unwrap();
//! let mut image = ingot_disk::Image::create(&dir.path().join("fs.img"), size).unwrap();
//! let info = ingot_erofs::write(&tree, &mut image, 0, size, &opts).unwrap();
//! assert_eq!((info.inodes, info.blocks * 4096), (2, size));
//! ```

mod chunk;
mod dirent;
mod inode;
mod super_block;
mod writer;
mod xattr;
mod zmap;

pub use super_block::{summary, Summary};
pub use writer::Plan;

use ingot_disk::Image;
use ingot_tree::Tree;
pub use ingot_types::filesystem::Compression;
use std::path::PathBuf;
use uuid::Uuid;

/// The block size: the only one Linux 6.1 mounts on 4 KiB pages.
pub const BLOCK_SIZE: u64 = 4096;

/// How to write the filesystem.
#[derive(Clone, Debug)]
pub struct Options {
    /// The filesystem's UUID.
    pub uuid: Uuid,
    /// Its volume name, at most 16 bytes.
    pub label: String,
    /// The superblock's `build_time`: the time of every compact inode. Entries with
    /// another modification time get an extended inode.
    pub time: i64,
    /// How regular files are stored: LZ4 compresses each file over a block that it
    /// makes smaller (sparse files stay chunk-based, uncompressed).
    pub compression: Compression,
    /// A directory for the compressed blocks between [`plan`] and [`write_plan`], in
    /// unlinked temporary files.
    pub spool: PathBuf,
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErofsInfo {
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// Inodes in it.
    pub inodes: u64,
    /// Its UUID.
    pub uuid: Uuid,
}

/// What can go wrong writing EROFS.
#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    /// An entry of the tree can't be stored.
    #[error("{path}: {message}")]
    Entry {
        /// Path in the tree.
        path: String,
        /// Why.
        message: String,
    },
    /// The filesystem does not fit.
    #[error("the EROFS filesystem needs {needed} bytes ({} MiB) but the partition has {size}; make its `size` at least that, or \"auto\"", needed.div_ceil(1 << 20))]
    TooSmall {
        /// Bytes needed.
        needed: u64,
        /// The partition's size.
        size: u64,
    },
    /// Options or sizes EROFS can't take.
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

/// The exact size in bytes of the filesystem `write` makes of `tree`.
pub fn size_needed(tree: &Tree, opts: &Options) -> Result<u64, ErofsError> {
    Ok(plan(tree, opts)?.size())
}

/// Where every inode and block of `tree` goes, its files compressed when `opts` says
/// so: what [`write_plan`] writes. Made once, it measures the filesystem
/// ([`Plan::size`]) and writes it without compressing again.
pub fn plan(tree: &Tree, opts: &Options) -> Result<Plan, ErofsError> {
    if opts.label.len() > 16 {
        return Err(ErofsError::Geometry(format!("label {:?} is longer than EROFS's 16 bytes", opts.label)));
    }
    writer::plan(tree, opts)
}

/// Writes `tree` as EROFS at `offset` of `image`, in at most `size` bytes.
pub fn write(tree: &Tree, image: &mut Image, offset: u64, size: u64, opts: &Options) -> Result<ErofsInfo, ErofsError> {
    write_plan(tree, &plan(tree, opts)?, image, offset, size, opts)
}

/// Writes `plan` (made by [`plan`] of the same `tree` and `opts`) at `offset` of `image`,
/// in at most `size` bytes.
pub fn write_plan(
    tree: &Tree,
    plan: &Plan,
    image: &mut Image,
    offset: u64,
    size: u64,
    opts: &Options,
) -> Result<ErofsInfo, ErofsError> {
    let needed = plan.size();
    if needed > size {
        return Err(ErofsError::TooSmall { needed, size });
    }
    writer::write(tree, plan, image, offset, opts)
}
