use crate::Content;
use std::collections::BTreeMap;

/// Index of a node in its [`crate::Tree`]. The root is node 0.
pub type NodeId = usize;

/// A timestamp: seconds since the Unix epoch and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub sec: i64,
    /// Nanoseconds, below 1,000,000,000.
    pub nsec: u32,
}

impl Time {
    /// A time of whole seconds.
    pub fn from_secs(sec: i64) -> Time {
        Time { sec, nsec: 0 }
    }

    /// This time, or `max` if it is later.
    pub fn clamp_to(self, max: i64) -> Time {
        if self.sec >= max {
            Time::from_secs(max)
        } else {
            self
        }
    }
}

/// Metadata of an entry (an inode): permissions, owner, times, extended attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits, setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last modification.
    pub mtime: Time,
    /// Last access.
    pub atime: Time,
    /// Last status change.
    pub ctime: Time,
    /// Extended attributes by full name (`user.x`, `security.capability`).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Meta {
    /// Metadata owned by root with every time at `time` and no xattrs.
    pub fn root(mode: u32, time: i64) -> Meta {
        let t = Time::from_secs(time);
        Meta { mode, uid: 0, gid: 0, mtime: t, atime: t, ctime: t, xattrs: BTreeMap::new() }
    }
}

/// What an entry is.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A regular file.
    File(Content),
    /// A directory: entries by name, sorted by bytes.
    Dir(BTreeMap<Vec<u8>, NodeId>),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

impl Kind {
    /// A short name for messages: "file", "directory", "symlink", …
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File(_) => "file",
            Kind::Dir(_) => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::CharDevice { .. } => "character device",
            Kind::BlockDevice { .. } => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }

    /// The S_IFMT bits of this kind.
    pub fn format_bits(&self) -> u32 {
        match self {
            Kind::File(_) => 0o100000,
            Kind::Dir(_) => 0o040000,
            Kind::Symlink(_) => 0o120000,
            Kind::CharDevice { .. } => 0o020000,
            Kind::BlockDevice { .. } => 0o060000,
            Kind::Fifo => 0o010000,
            Kind::Socket => 0o140000,
        }
    }
}

/// An entry of the tree: its kind and metadata. Hard links are several directory entries
/// naming one node.
#[derive(Clone, Debug)]
pub struct Node {
    /// What it is, with its content, children or target.
    pub kind: Kind,
    /// Its metadata.
    pub meta: Meta,
}
