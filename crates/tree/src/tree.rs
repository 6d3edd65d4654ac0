use crate::{Content, Kind, Meta, Node, NodeId, TreeError};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Symlinks followed while resolving one path before giving up (as the kernel's ELOOP).
const MAX_SYMLINK_HOPS: usize = 40;

/// A file tree: nodes in an arena, directories mapping names to nodes. Node 0 is the root.
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    source_date_epoch: i64,
}

/// One directory entry met by [`Tree::walk`].
#[derive(Debug)]
pub struct Entry<'a> {
    /// Absolute path in the tree, starting with `/` (the root is `/`).
    pub path: &'a [u8],
    /// The node the entry names.
    pub id: NodeId,
    /// The node.
    pub node: &'a Node,
}

impl Tree {
    /// An empty tree: a root directory (0755, root:root) with every time at
    /// `source_date_epoch`, the time all later entries are clamped to.
    pub fn new(source_date_epoch: i64) -> Tree {
        let root = Node { kind: Kind::Dir(BTreeMap::new()), meta: Meta::root(0o755, source_date_epoch) };
        Tree { nodes: vec![root], source_date_epoch }
    }

    /// The time every timestamp is clamped to.
    pub fn source_date_epoch(&self) -> i64 {
        self.source_date_epoch
    }

    /// The root directory's id.
    pub fn root(&self) -> NodeId {
        0
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The entries of directory `id` in byte order (none for other kinds).
    pub fn children(&self, id: NodeId) -> impl Iterator<Item = (&[u8], NodeId)> + '_ {
        let map = match &self.nodes[id].kind {
            Kind::Dir(m) => Some(m),
            _ => None,
        };
        map.into_iter().flat_map(|m| m.iter().map(|(k, &v)| (k.as_slice(), v)))
    }

    /// Visits every entry reachable from the root, parents before children, each
    /// directory's entries in byte order. The root itself is visited first as `/`.
    pub fn walk(&self, mut visit: impl FnMut(Entry<'_>)) {
        let mut path = b"/".to_vec();
        visit(Entry { path: &path, id: 0, node: &self.nodes[0] });
        self.walk_from(0, &mut path, &mut visit);
    }

    fn walk_from(&self, dir: NodeId, path: &mut Vec<u8>, visit: &mut impl FnMut(Entry<'_>)) {
        for (name, id) in self.children(dir) {
            let len = path.len();
            if len > 1 {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            visit(Entry { path, id, node: &self.nodes[id] });
            if matches!(self.nodes[id].kind, Kind::Dir(_)) {
                self.walk_from(id, path, visit);
            }
            path.truncate(len);
        }
    }

    /// The link count of every node, indexed by id: the number of entries naming it, and
    /// for a directory 2 plus its subdirectories. Unreachable nodes count 0.
    pub fn link_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        let mut dirs = vec![0];
        self.walk(|e| {
            if matches!(e.node.kind, Kind::Dir(_)) {
                dirs.push(e.id);
            } else {
                counts[e.id] += 1;
            }
        });
        for dir in dirs {
            let subdirs = self.children(dir).filter(|(_, c)| matches!(self.nodes[*c].kind, Kind::Dir(_))).count();
            counts[dir] = 2 + subdirs as u32;
        }
        counts
    }

    /// Finds `path` (symlinks in its directories followed inside the tree, the last
    /// component not followed).
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        let comps = components(path.as_bytes());
        let Some((last, dirs)) = comps.split_last() else { return Some(0) };
        let parent = self.resolve(dirs).ok()?;
        self.child(parent, last)
    }

    pub(crate) fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        match &self.nodes[dir].kind {
            Kind::Dir(m) => m.get(name).copied(),
            _ => None,
        }
    }

    fn set_child(&mut self, dir: NodeId, name: &[u8], id: NodeId) {
        if let Kind::Dir(m) = &mut self.nodes[dir].kind {
            m.insert(name.to_vec(), id);
        }
    }

    /// Puts `node` at `path`, creating missing parent directories (0755, root, at
    /// SOURCE_DATE_EPOCH). An existing entry is replaced, except that a directory over a
    /// directory only takes the new metadata and keeps its entries. Times are clamped.
    pub fn insert(&mut self, path: &[u8], node: Node) -> Result<NodeId, TreeError> {
        self.put(path, node).map_err(|m| TreeError::path(path, m))
    }

    /// [`Tree::insert`] with the bare message, for the sources (which name the entry).
    pub(crate) fn put(&mut self, path: &[u8], mut node: Node) -> Result<NodeId, String> {
        let sde = self.source_date_epoch;
        node.meta.mtime = node.meta.mtime.clamp_to(sde);
        node.meta.atime = node.meta.atime.clamp_to(sde);
        node.meta.ctime = node.meta.ctime.clamp_to(sde);
        check_length(path)?;
        let comps = components(path);
        let Some((last, dirs)) = comps.split_last() else {
            return match node.kind {
                Kind::Dir(_) => {
                    self.nodes[0].meta = node.meta;
                    Ok(0)
                }
                k => Err(format!("a {} can't replace the root directory", k.name())),
            };
        };
        if last.as_slice() == b".." {
            return Err("a name can't end in `..`".into());
        }
        let parent = self.resolve_dirs(dirs, true)?;
        if let Some(existing) = self.child(parent, last) {
            if let (Kind::Dir(_), Kind::Dir(_)) = (&self.nodes[existing].kind, &node.kind) {
                self.nodes[existing].meta = node.meta;
                return Ok(existing);
            }
        }
        let id = self.nodes.len();
        self.nodes.push(node);
        self.set_child(parent, last, id);
        Ok(id)
    }

    /// Adds a symlink at `path` pointing to `target`.
    pub fn add_symlink(&mut self, path: &str, target: &[u8], meta: Meta) -> Result<NodeId, TreeError> {
        self.insert(path.as_bytes(), Node { kind: Kind::Symlink(target.to_vec()), meta })
    }

    /// Adds an empty directory at `path` (or updates the metadata of one that exists).
    pub fn add_directory(&mut self, path: &str, meta: Meta) -> Result<NodeId, TreeError> {
        self.insert(path.as_bytes(), Node { kind: Kind::Dir(BTreeMap::new()), meta })
    }

    /// Adds a regular file at `path` with `content`.
    pub fn add_content(&mut self, path: &str, content: Content, meta: Meta) -> Result<NodeId, TreeError> {
        self.insert(path.as_bytes(), Node { kind: Kind::File(content), meta })
    }

    /// Makes `path` a hard link to the existing non-directory `target`.
    pub fn hard_link(&mut self, path: &[u8], target: &[u8]) -> Result<NodeId, TreeError> {
        self.link(path, target).map_err(|m| TreeError::path(path, m))
    }

    /// [`Tree::hard_link`] with the bare message, for the sources (which name the entry).
    pub(crate) fn link(&mut self, path: &[u8], target: &[u8]) -> Result<NodeId, String> {
        check_length(path)?;
        check_length(target)?;
        let tcomps = components(target);
        let (tlast, tdirs) = tcomps.split_last().ok_or("a hard link can't point at the root")?;
        let tparent = self.resolve_dirs(tdirs, false)?;
        let id = self
            .child(tparent, tlast)
            .ok_or_else(|| format!("hard link target {} is not in the tree", String::from_utf8_lossy(target)))?;
        if matches!(self.nodes[id].kind, Kind::Dir(_)) {
            return Err(format!("hard link target {} is a directory", String::from_utf8_lossy(target)));
        }
        let comps = components(path);
        let (last, dirs) = comps.split_last().ok_or("a hard link can't replace the root")?;
        let parent = self.resolve_dirs(dirs, true)?;
        self.set_child(parent, last, id);
        Ok(id)
    }

    /// Sets metadata of the entry at `path`; `None` leaves a field as it is.
    pub fn set_meta(
        &mut self,
        path: &str,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), TreeError> {
        let id = self.lookup(path).ok_or_else(|| TreeError::Missing { path: path.to_owned() })?;
        let meta = &mut self.nodes[id].meta;
        meta.mode = mode.unwrap_or(meta.mode);
        meta.uid = uid.unwrap_or(meta.uid);
        meta.gid = gid.unwrap_or(meta.gid);
        for (k, v) in xattrs {
            meta.xattrs.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    /// Removes every entry whose path (relative to the root, no leading `/`) matches one
    /// of the glob `patterns` (`*` stays within a component, `**` crosses them). Returns
    /// how many entries were removed.
    pub fn exclude(&mut self, patterns: &[String]) -> Result<usize, TreeError> {
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p.trim_start_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|e| TreeError::new("exclude", p.clone(), e.to_string()))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| TreeError::new("exclude", "-", e.to_string()))?;
        let mut doomed = Vec::new();
        self.walk(|e| {
            if e.id != 0 && set.is_match(Path::new(OsStr::from_bytes(&e.path[1..]))) {
                doomed.push(e.path.to_vec());
            }
        });
        let mut removed = 0;
        for path in doomed {
            let comps = components(&path);
            let Some((last, dirs)) = comps.split_last() else { continue };
            let Ok(parent) = self.resolve_dirs(dirs, false) else { continue };
            if let Kind::Dir(m) = &mut self.nodes[parent].kind {
                removed += usize::from(m.remove(last.as_slice()).is_some());
            }
        }
        Ok(removed)
    }

    /// Resolves directory names from the root, creating what is missing if `create`
    /// (each creation restarts the walk, which only happens for parents an archive left
    /// out).
    fn resolve_dirs(&mut self, dirs: &[Vec<u8>], create: bool) -> Result<NodeId, String> {
        loop {
            match self.resolve(dirs) {
                Ok(id) => return Ok(id),
                Err(Unresolved::Missing { parent, name }) if create => {
                    let dir =
                        Node { kind: Kind::Dir(BTreeMap::new()), meta: Meta::root(0o755, self.source_date_epoch) };
                    let id = self.nodes.len();
                    self.nodes.push(dir);
                    self.set_child(parent, &name, id);
                }
                Err(Unresolved::Missing { name, .. }) => {
                    return Err(format!("directory {} does not exist", String::from_utf8_lossy(&name)))
                }
                Err(Unresolved::Fail(message)) => return Err(message),
            }
        }
    }

    /// Resolves directory names from the root, following symlinks inside the tree
    /// (absolute targets from the root; `..` never above the root).
    fn resolve(&self, dirs: &[Vec<u8>]) -> Result<NodeId, Unresolved> {
        let mut stack: Vec<NodeId> = vec![0];
        let mut queue: VecDeque<Vec<u8>> = dirs.iter().cloned().collect();
        let mut hops = 0;
        while let Some(name) = queue.pop_front() {
            let cur = *stack.last().unwrap_or(&0);
            match name.as_slice() {
                b"" | b"." => continue,
                b".." if stack.len() == 1 => {
                    return Err(Unresolved::Fail("resolves outside the image root (through `..` or a symlink)".into()))
                }
                b".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let Some(id) = self.child(cur, &name) else { return Err(Unresolved::Missing { parent: cur, name }) };
            match &self.nodes[id].kind {
                Kind::Dir(_) => stack.push(id),
                Kind::Symlink(target) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(Unresolved::Fail("too many levels of symbolic links".into()));
                    }
                    if target.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    for c in target.split(|&b| b == b'/').rev() {
                        queue.push_front(c.to_vec());
                    }
                }
                other => {
                    let name = String::from_utf8_lossy(&name);
                    return Err(Unresolved::Fail(format!("{name} is a {}, not a directory", other.name())));
                }
            }
        }
        Ok(*stack.last().unwrap_or(&0))
    }
}

/// Why a path did not resolve.
enum Unresolved {
    /// `name` is missing from directory `parent`.
    Missing { parent: NodeId, name: Vec<u8> },
    /// It can't resolve at all.
    Fail(String),
}

/// The longest path the tree takes, in bytes: Linux's PATH_MAX (4096, with its NUL), so
/// that no file is deeper than the kernel can name. It also bounds the cost of an
/// archive's deeply nested name (`d/` × 40,000), which resolving would pay quadratically.
pub const PATH_MAX: usize = 4096;

/// Refuses a path longer than [`PATH_MAX`].
fn check_length(path: &[u8]) -> Result<(), String> {
    if path.len() >= PATH_MAX {
        return Err(format!(
            "the path is {} bytes long: Linux names no file with a path of {PATH_MAX} bytes or more (PATH_MAX)",
            path.len()
        ));
    }
    Ok(())
}

/// The non-empty, non-`.` components of a path.
pub(crate) fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").map(<[u8]>::to_vec).collect()
}
