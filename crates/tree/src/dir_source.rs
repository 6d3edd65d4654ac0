use crate::{Content, Kind, Meta, Node, Time, Tree, TreeError};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

impl Tree {
    /// Copies the host directory `host` to `to` in the tree.
    ///
    /// Owners become 0:0 unless `preserve_owner`. Permissions are made independent of the
    /// umask the checkout was made with unless `preserve_mode`: group and other get the
    /// owner's read and execute bits, never write (setuid, setgid and sticky are kept).
    /// Host hard links stay hard links. Host xattrs are not copied (they describe the
    /// build machine, not the image); set them with overrides.
    pub fn add_dir(
        &mut self,
        host: &Path,
        to: &str,
        preserve_owner: bool,
        preserve_mode: bool,
    ) -> Result<(), TreeError> {
        let err = |entry: &Path, e: String| TreeError::new(host, entry.display().to_string(), e);
        let meta = fs::metadata(host).map_err(|e| err(Path::new("-"), e.to_string()))?;
        if !meta.is_dir() {
            return Err(err(Path::new("-"), "is not a directory".into()));
        }
        let opts = DirOptions { preserve_owner, preserve_mode };
        let root = Node { kind: Kind::Dir(BTreeMap::new()), meta: host_meta(&meta, opts) };
        self.put(to.as_bytes(), root).map_err(|e| err(Path::new("."), e))?;
        let mut links = HashMap::new();
        let mut dest = to.trim_end_matches('/').as_bytes().to_vec();
        self.copy_dir(host, Path::new(""), &mut dest, opts, &mut links)
    }

    fn copy_dir(
        &mut self,
        host_root: &Path,
        rel: &Path,
        dest: &mut Vec<u8>,
        opts: DirOptions,
        links: &mut HashMap<(u64, u64), Vec<u8>>,
    ) -> Result<(), TreeError> {
        let err = |entry: &Path, e: String| TreeError::new(host_root, entry.display().to_string(), e);
        let dir = host_root.join(rel);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(|e| err(rel, e.to_string()))?
            .map(|r| r.map(|d| d.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| err(rel, e.to_string()))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let rel_child = rel.join(&name);
            let host = host_root.join(&rel_child);
            let meta = fs::symlink_metadata(&host).map_err(|e| err(&rel_child, e.to_string()))?;
            let len = dest.len();
            dest.push(b'/');
            dest.extend_from_slice(name.as_bytes());
            let key = (meta.dev(), meta.ino());
            if !meta.is_dir() && meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    self.link(dest, first).map_err(|e| err(&rel_child, e))?;
                    dest.truncate(len);
                    continue;
                }
                links.insert(key, dest.clone());
            }
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                Kind::Dir(BTreeMap::new())
            } else if ft.is_file() {
                Kind::File(Content::host(&host, meta.len()))
            } else if ft.is_symlink() {
                let target = fs::read_link(&host).map_err(|e| err(&rel_child, e.to_string()))?;
                Kind::Symlink(target.as_os_str().as_bytes().to_vec())
            } else if ft.is_char_device() {
                Kind::CharDevice { major: major(meta.rdev()), minor: minor(meta.rdev()) }
            } else if ft.is_block_device() {
                Kind::BlockDevice { major: major(meta.rdev()), minor: minor(meta.rdev()) }
            } else if ft.is_fifo() {
                Kind::Fifo
            } else {
                Kind::Socket
            };
            let is_dir = matches!(kind, Kind::Dir(_));
            let mut m = host_meta(&meta, opts);
            if ft.is_symlink() {
                m.mode = 0o777;
            }
            self.put(dest, Node { kind, meta: m }).map_err(|e| err(&rel_child, e))?;
            if is_dir {
                self.copy_dir(host_root, &rel_child, dest, opts, links)?;
            }
            dest.truncate(len);
        }
        Ok(())
    }

    /// Places the single host file `host` at `to` with the given metadata (times from the
    /// host file, clamped).
    pub fn add_file(&mut self, host: &Path, to: &str, mode: u32, uid: u32, gid: u32) -> Result<(), TreeError> {
        let meta = fs::metadata(host).map_err(|e| TreeError::new(host, "-", e.to_string()))?;
        if !meta.is_file() {
            return Err(TreeError::new(host, "-", "is not a regular file"));
        }
        let mut m = host_meta(&meta, DirOptions { preserve_owner: false, preserve_mode: true });
        m.mode = mode;
        m.uid = uid;
        m.gid = gid;
        self.put(to.as_bytes(), Node { kind: Kind::File(Content::host(host, meta.len())), meta: m })
            .map_err(|e| TreeError::new(host, to, e))?;
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct DirOptions {
    preserve_owner: bool,
    preserve_mode: bool,
}

fn host_meta(meta: &Metadata, opts: DirOptions) -> Meta {
    let mut mode = meta.mode() & 0o7777;
    if !opts.preserve_mode {
        let owner_rx = (mode >> 6) & 0o5;
        mode = (mode & 0o7700) | (owner_rx << 3) | owner_rx;
    }
    let (uid, gid) = if opts.preserve_owner { (meta.uid(), meta.gid()) } else { (0, 0) };
    let t = |sec: i64, nsec: i64| Time { sec, nsec: nsec.clamp(0, 999_999_999) as u32 };
    Meta {
        mode,
        uid,
        gid,
        mtime: t(meta.mtime(), meta.mtime_nsec()),
        atime: t(meta.atime(), meta.atime_nsec()),
        ctime: t(meta.ctime(), meta.ctime_nsec()),
        xattrs: BTreeMap::new(),
    }
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}
