//! The in-memory file tree every ingot filesystem writer consumes, and the sources that
//! fill it: host directories, tarballs (plain, gzip, zstd) and single files.
//!
//! A [`Tree`] holds metadata for every entry; regular file content stays where it is (a
//! host file, a range of a tarball, a spool file for compressed archives) and is read
//! through [`Content`] when a writer needs it. Sources layer in order: a later entry at
//! the same path replaces an earlier one, a directory merges into a directory.
//!
//! Paths never leave the image root: `..`, absolute names and symlinks are resolved
//! inside the tree, and what would escape it is an error naming the source and entry.
//!
//! ```
//! use ingot_tree::{Kind, Meta, Tree};
//!
//! let mut tree = Tree::new(1_700_000_000);
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::create_dir(dir.path().join("etc")).unwrap();
//! std::fs::write(dir.path().join("etc/hostname"), "ingot\n").unwrap();
//! tree.add_dir(dir.path(), "/", false, false).unwrap();
//! tree.add_symlink("/etc/localtime", b"/usr/share/zoneinfo/UTC", Meta::root(0o777, 0)).unwrap();
//! let id = tree.lookup("/etc/hostname").unwrap();
//! assert!(matches!(tree.node(id).kind, Kind::File(ref c) if c.size() == 6));
//! assert_eq!(tree.node(id).meta.uid, 0);
//! ```

mod content;
mod dir_source;
mod error;
mod node;
mod tar_source;
mod tree;

pub use content::{Content, Data, Extent};
pub use error::TreeError;
pub use node::{Kind, Meta, Node, NodeId, Time};
pub use tree::{Entry, Tree, PATH_MAX};
