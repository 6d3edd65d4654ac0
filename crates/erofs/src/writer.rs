//! Writing: the inodes in walk order, each placed in the metadata area with its xattr
//! body and inline tail (or chunk map) in the block with the least room that holds them,
//! then every data block in walk order, so every byte's place is known before the first
//! is written and each region is written once.
//!
//! Layout: the metadata area starts at block 0 (`meta_blkaddr` 0), after the superblock
//! (so the root's nid is 36, as mkfs.erofs makes it); the shared xattrs (when there are
//! any) follow it (`xattr_blkaddr`), then the data.

use crate::chunk::{self, Chunks, EROFS_FEATURE_INCOMPAT_CHUNKED_FILE};
use crate::dirent::{self, Dirent, EROFS_NAME_LEN};
use crate::inode::{encode_dev, Inode, EROFS_INODE_CHUNK_BASED, EROFS_INODE_FLAT_INLINE, EROFS_INODE_FLAT_PLAIN};
use crate::super_block::{SuperBlock, EROFS_SUPER_END};
use crate::xattr::{self, Shared};
use crate::zmap::{Compressed, EROFS_FEATURE_INCOMPAT_ZERO_PADDING, EROFS_INODE_COMPRESSED_FULL};
use crate::{ErofsError, ErofsInfo, Options, BLOCK_SIZE};
use ingot_disk::Image;
use ingot_tree::{Content, Data, Kind, NodeId, Tree};
use ingot_types::filesystem::Compression;
use std::os::unix::fs::FileExt;

/// An inode number's unit: inodes sit at 32-byte boundaries of the metadata area.
const NID_UNIT: u64 = 32;

/// A directory's entries, sorted (`.` and `..` with them), and the blocks they fill
/// (each block's first entry and bytes used).
#[derive(Debug)]
struct DirData {
    entries: Vec<(Vec<u8>, NodeId)>,
    blocks: Vec<(usize, usize)>,
}

/// One inode, placed.
#[derive(Debug)]
struct Planned {
    id: NodeId,
    /// The first path naming it, for errors.
    path: String,
    inode: Inode,
    /// Its xattr body.
    body: Vec<u8>,
    /// Bytes of data after the inode and its xattrs (`EROFS_INODE_FLAT_INLINE`).
    tail: u64,
    /// Whole blocks of data (the last one partly used without an inline tail).
    blocks: u64,
    /// Its offset in the filesystem.
    pos: u64,
    /// A directory's entries.
    dir: Option<DirData>,
    /// A sparse file's chunks (`EROFS_INODE_CHUNK_BASED`), mapped after the xattrs.
    chunks: Option<Chunks>,
    /// A compressed file (`EROFS_INODE_COMPRESSED_FULL`), indexed after the xattrs.
    z: Option<Compressed>,
}

/// Where everything goes: every inode's place and every data block's, compressed files
/// with their blocks ([`crate::plan`]).
#[derive(Debug)]
pub struct Plan {
    inodes: Vec<Planned>,
    /// Each node's index in `inodes`.
    index: Vec<usize>,
    shared: Shared,
    xattr_blkaddr: u64,
    meta_blkaddr: u64,
    /// Blocks of the metadata area.
    meta_blocks: u64,
    /// The chunk of zeros the holes of chunk-based files map to: its first block and
    /// length in blocks.
    zeros: Option<(u64, u64)>,
    /// The filesystem's size in blocks.
    blocks: u64,
}

impl Plan {
    /// The filesystem's size in bytes.
    pub fn size(&self) -> u64 {
        self.blocks * BLOCK_SIZE
    }
}

/// `EROFS_FT_*` of a kind.
fn file_type(kind: &Kind) -> u8 {
    match kind {
        Kind::File(_) => 1,
        Kind::Dir(_) => 2,
        Kind::CharDevice { .. } => 3,
        Kind::BlockDevice { .. } => 4,
        Kind::Fifo => 5,
        Kind::Socket => 6,
        Kind::Symlink(_) => 7,
    }
}

/// Places every inode and data block of `tree`.
pub(crate) fn plan(tree: &Tree, opts: &Options) -> Result<Plan, ErofsError> {
    let nlinks = tree.link_counts();
    let mut index = vec![usize::MAX; nlinks.len()];
    let mut order: Vec<(NodeId, String)> = Vec::new();
    let mut parent = vec![0; nlinks.len()];
    tree.walk(|e| {
        if index[e.id] == usize::MAX {
            index[e.id] = order.len();
            order.push((e.id, String::from_utf8_lossy(e.path).into_owned()));
        }
        for (_, child) in tree.children(e.id) {
            parent[child] = e.id;
        }
    });
    let shared = Shared::of(order.iter().map(|&(id, _)| &tree.node(id).meta.xattrs));
    let mut inodes = Vec::with_capacity(order.len());
    let mut compress: Vec<(usize, Content)> = Vec::new();
    for (i, (id, path)) in order.into_iter().enumerate() {
        let entry = |message: String| ErofsError::Entry { path: path.clone(), message };
        let node = tree.node(id);
        for (name, value) in &node.meta.xattrs {
            xattr::check(name, value).map_err(entry)?;
        }
        let (body, xattr_icount) = shared.body(&node.meta.xattrs);
        let (mut dir, mut chunks) = (None, None);
        let (size, u) = match &node.kind {
            Kind::File(c) => {
                let io = |source| ErofsError::Io { path: path.clone().into(), source };
                if c.size() >= chunk::SPARSE_MIN {
                    chunks = Chunks::of(&c.data().map_err(io)?);
                }
                if chunks.is_none() && opts.compression == Compression::Lz4 && c.size() > BLOCK_SIZE {
                    compress.push((inodes.len(), c.clone()));
                }
                (c.size(), 0)
            }
            Kind::Symlink(t) => (t.len() as u64, 0),
            Kind::Dir(_) => {
                let d = directory(tree, id, parent[id]).map_err(|name| {
                    let name = String::from_utf8_lossy(&name);
                    let path = format!("{}/{name}", path.trim_end_matches('/'));
                    let message = format!("its name is {} bytes, over EROFS's {EROFS_NAME_LEN}", name.len());
                    ErofsError::Entry { path, message }
                })?;
                let size = dirent::size(&d.blocks);
                dir = Some(d);
                (size, 0)
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => (0, encode_dev(*major, *minor)),
            Kind::Fifo | Kind::Socket => (0, 0),
        };
        let meta = &node.meta;
        let mode = (node.kind.format_bits() | (meta.mode & 0o7777)) as u16;
        let nlink = nlinks[id];
        let compact = meta.uid <= 0xffff
            && meta.gid <= 0xffff
            && nlink <= 0xffff
            && size <= u64::from(u32::MAX)
            && (meta.mtime.sec, meta.mtime.nsec) == (opts.time, 0);
        let mut inode = Inode {
            extended: !compact,
            datalayout: EROFS_INODE_FLAT_PLAIN,
            xattr_icount,
            mode,
            nlink,
            size,
            u,
            ino: (i + 1) as u32,
            uid: meta.uid,
            gid: meta.gid,
            mtime: meta.mtime.sec,
            mtime_nsec: meta.mtime.nsec,
        };
        let (tail, blocks) = data_layout(&mut inode, body.len() as u64, chunks.as_ref(), None);
        if inode.size_on_disk() + body.len() as u64 > BLOCK_SIZE {
            return Err(entry(format!("its xattrs take {} bytes, more than an EROFS inode's block holds", body.len())));
        }
        inodes.push(Planned { id, path, inode, body, tail, blocks, pos: 0, dir, chunks, z: None });
    }
    for (i, z) in compressed(&inodes, compress, &opts.spool)? {
        let p = &mut inodes[i];
        (p.tail, p.blocks) = data_layout(&mut p.inode, p.body.len() as u64, None, Some(&z));
        p.z = Some(z);
    }
    place(inodes, index, shared)
}

/// The files of `todo` (each an inode's index and content) LZ4-compressed, on every
/// core: those it makes smaller, their blocks spooled to an unlinked file in `spool` (a
/// file each worker) until they are written.
fn compressed(
    inodes: &[Planned],
    todo: Vec<(usize, Content)>,
    spool: &std::path::Path,
) -> Result<Vec<(usize, Compressed)>, ErofsError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(todo.len().max(1));
    let work = || -> Result<Vec<(usize, Compressed)>, ErofsError> {
        let spooling = |source| ErofsError::Io { path: spool.to_owned(), source };
        let file = std::sync::Arc::new(tempfile::tempfile_in(spool).map_err(spooling)?);
        let (mut done, mut at) = (Vec::new(), 0);
        while let Some((i, c)) = todo.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            let io = |source| ErofsError::Io { path: inodes[*i].path.clone().into(), source };
            if let Some(mut z) = Compressed::of(c.reader().map_err(io)?, c.size()).map_err(io)? {
                at = z.spool(&file, at).map_err(spooling)?;
                done.push((*i, z));
            }
        }
        Ok(done)
    };
    let results: Vec<_> = std::thread::scope(|s| {
        let running: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
        running.into_iter().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Directory `id`'s entries (`.` and `..`, whose parent is `parent`, with them), sorted,
/// and their blocks; the first name over [`EROFS_NAME_LEN`] bytes as an error.
fn directory(tree: &Tree, id: NodeId, parent: NodeId) -> Result<DirData, Vec<u8>> {
    let mut entries: Vec<(Vec<u8>, NodeId)> = vec![(b".".to_vec(), id), (b"..".to_vec(), parent)];
    entries.extend(tree.children(id).map(|(n, c)| (n.to_vec(), c)));
    entries.sort();
    if let Some((name, _)) = entries.iter().find(|(n, _)| n.len() > EROFS_NAME_LEN) {
        return Err(name.clone());
    }
    let blocks = dirent::pack(&entries.iter().map(|(n, _)| n.len()).collect::<Vec<_>>());
    Ok(DirData { entries, blocks })
}

/// Sets `inode`'s data layout: compressed with `z`, chunk-based with `chunks`, else flat
/// with the tail after the inode and its `body` bytes of xattrs when they fit in a block
/// together. Returns the inline tail's bytes and the blocks of data.
fn data_layout(inode: &mut Inode, body: u64, chunks: Option<&Chunks>, z: Option<&Compressed>) -> (u64, u64) {
    if let Some(z) = z {
        inode.datalayout = EROFS_INODE_COMPRESSED_FULL;
        inode.u = z.block_count() as u32;
        return (0, z.block_count());
    }
    if let Some(c) = chunks {
        inode.datalayout = EROFS_INODE_CHUNK_BASED;
        inode.u = c.format();
        return (0, c.blocks());
    }
    let rest = inode.size % BLOCK_SIZE;
    if rest > 0 && inode.size_on_disk() + body + rest <= BLOCK_SIZE {
        inode.datalayout = EROFS_INODE_FLAT_INLINE;
        return (rest, inode.size / BLOCK_SIZE);
    }
    (0, inode.size.div_ceil(BLOCK_SIZE))
}

/// Gives each inode its place in the metadata area and its data blocks. An inode with
/// its xattrs and inline tail goes in the metadata block with the least room that holds
/// it (best fit, the lowest such block on a tie), else in a new block: the tails of
/// files, of every size up to a block, pack as mkfs.erofs packs them. A chunk map over a
/// block gets new blocks of its own. The root goes first, after the superblock.
fn place(mut inodes: Vec<Planned>, index: Vec<usize>, shared: Shared) -> Result<Plan, ErofsError> {
    let meta_blkaddr = 0;
    // Each metadata block's bytes used, and the blocks by (room left, block).
    let mut used: Vec<u64> = vec![EROFS_SUPER_END];
    let mut by_room: std::collections::BTreeSet<(u64, usize)> = [(BLOCK_SIZE - EROFS_SUPER_END, 0)].into();
    for p in &mut inodes {
        let need = p.inode.size_on_disk() + p.body.len() as u64 + p.tail + p.map_len();
        let block = match by_room.range((need, 0)..).next().copied() {
            Some((room, b)) => {
                by_room.remove(&(room, b));
                b
            }
            None => {
                // New blocks: one, or for a chunk map over a block as many as it needs.
                used.resize(used.len() + need.div_ceil(BLOCK_SIZE) as usize, 0);
                used.len() - need.div_ceil(BLOCK_SIZE) as usize
            }
        };
        p.pos = (meta_blkaddr + block as u64) * BLOCK_SIZE + used[block];
        let end = used[block] + need;
        let last = block + ((end - 1) / BLOCK_SIZE) as usize;
        used[block..last].fill(BLOCK_SIZE);
        used[last] = ((end - 1) % BLOCK_SIZE + 1).next_multiple_of(NID_UNIT).min(BLOCK_SIZE);
        by_room.insert((BLOCK_SIZE - used[last], last));
    }
    let xattr_blkaddr = if shared.bytes.is_empty() { 0 } else { meta_blkaddr + used.len() as u64 };
    let mut next = meta_blkaddr + used.len() as u64 + (shared.bytes.len() as u64).div_ceil(BLOCK_SIZE);
    let too_big = || ErofsError::Geometry("the filesystem is over EROFS's 2^32 blocks".into());
    // The chunk of zeros every hole chunk maps to, as large as the largest.
    let zeros = inodes.iter().filter_map(|p| p.chunks.as_ref().filter(|c| c.has_hole()).map(Chunks::chunk_size)).max();
    let zeros = zeros.map(|bytes| (next, bytes / BLOCK_SIZE));
    next += zeros.map_or(0, |(_, blocks)| blocks);
    let zero_addr = u32::try_from(zeros.map_or(0, |(at, _)| at)).map_err(|_| too_big())?;
    for p in &mut inodes {
        if let Some(c) = &mut p.chunks {
            next = c.place(next, zero_addr).ok_or_else(too_big)?;
        } else if let Some(z) = &mut p.z {
            z.first_block = u32::try_from(next).map_err(|_| too_big())?;
            next += z.block_count();
        } else if p.blocks > 0 {
            p.inode.u = u32::try_from(next).map_err(|_| too_big())?;
            next += p.blocks;
        }
    }
    let meta_blocks = used.len() as u64;
    Ok(Plan { inodes, index, shared, xattr_blkaddr, meta_blkaddr, meta_blocks, zeros, blocks: next })
}

impl Planned {
    /// Bytes of its chunk map, or of its compressed file's header and indexes.
    fn map_len(&self) -> u64 {
        let inode_end = self.inode.size_on_disk() + self.body.len() as u64;
        match (&self.chunks, &self.z) {
            (Some(c), _) => 4 * c.addrs.len() as u64,
            (_, Some(z)) => z.map_len(inode_end),
            _ => 0,
        }
    }
}

impl Plan {
    fn nid(&self, id: NodeId) -> u64 {
        (self.inodes[self.index[id]].pos - self.meta_blkaddr * BLOCK_SIZE) / NID_UNIT
    }
}

/// Writes the planned filesystem of `tree` at `offset` of `image`: each inode's data,
/// then the metadata area with the superblock at its start, then the shared xattrs.
pub(crate) fn write(
    tree: &Tree,
    plan: &Plan,
    image: &mut Image,
    offset: u64,
    opts: &Options,
) -> Result<ErofsInfo, ErofsError> {
    let mut meta = vec![0u8; (plan.meta_blocks * BLOCK_SIZE) as usize];
    for p in &plan.inodes {
        inode(tree, plan, p, &mut meta, image, offset)?;
    }
    let mut volume_name = [0u8; 16];
    volume_name[..opts.label.len()].copy_from_slice(opts.label.as_bytes());
    let sb = SuperBlock {
        root_nid: plan.nid(tree.root()) as u16,
        inos: plan.inodes.len() as u64,
        build_time: opts.time as u64,
        build_time_nsec: 0,
        blocks: plan.blocks as u32,
        meta_blkaddr: plan.meta_blkaddr as u32,
        xattr_blkaddr: plan.xattr_blkaddr as u32,
        uuid: *opts.uuid.as_bytes(),
        volume_name,
        feature_incompat: features(plan),
    };
    sb.write_into(&mut meta[..BLOCK_SIZE as usize]);
    if let Some((at, blocks)) = plan.zeros {
        image.zero(offset + at * BLOCK_SIZE, blocks * BLOCK_SIZE)?;
    }
    image.write_at(&meta, offset + plan.meta_blkaddr * BLOCK_SIZE)?;
    if !plan.shared.bytes.is_empty() {
        let mut area = plan.shared.bytes.clone();
        area.resize(area.len().next_multiple_of(BLOCK_SIZE as usize), 0);
        image.write_at(&area, offset + plan.xattr_blkaddr * BLOCK_SIZE)?;
    }
    Ok(ErofsInfo { blocks: plan.blocks, inodes: plan.inodes.len() as u64, uuid: opts.uuid })
}

/// The superblock's `feature_incompat`: chunk-based files, compressed ones.
fn features(plan: &Plan) -> u32 {
    let has = |f: fn(&Planned) -> bool| plan.inodes.iter().any(f);
    let mut features = 0;
    if has(|p| p.chunks.is_some()) {
        features |= EROFS_FEATURE_INCOMPAT_CHUNKED_FILE;
    }
    if has(|p| p.z.is_some()) {
        features |= EROFS_FEATURE_INCOMPAT_ZERO_PADDING;
    }
    features
}

/// Puts inode `p` with its xattr body and inline tail into `meta` (the metadata area),
/// and writes its whole blocks of data into the image.
fn inode(
    tree: &Tree,
    plan: &Plan,
    p: &Planned,
    meta: &mut [u8],
    image: &mut Image,
    offset: u64,
) -> Result<(), ErofsError> {
    let at = (p.pos - plan.meta_blkaddr * BLOCK_SIZE) as usize;
    let inode = p.inode.encode();
    meta[at..at + inode.len()].copy_from_slice(&inode);
    let at = at + inode.len();
    meta[at..at + p.body.len()].copy_from_slice(&p.body);
    let tail = &mut meta[at + p.body.len()..at + p.body.len() + p.tail as usize];
    let data_at = offset + u64::from(p.inode.u) * BLOCK_SIZE;
    let io = |source| ErofsError::Io { path: p.path.clone().into(), source };
    if let Some(z) = &p.z {
        let map = z.map();
        let start = (at + p.body.len()).next_multiple_of(8);
        meta[start..start + map.len()].copy_from_slice(&map);
        z.write_to(image, offset + u64::from(z.first_block) * BLOCK_SIZE).map_err(|e| in_file(e, &p.path))?;
        return Ok(());
    }
    match (&tree.node(p.id).kind, &p.chunks) {
        (Kind::File(c), Some(chunks)) => {
            let map = chunks.map();
            meta[at + p.body.len()..at + p.body.len() + map.len()].copy_from_slice(&map);
            let data = c.data().map_err(io)?;
            for i in (0..chunks.addrs.len()).filter(|&i| chunks.has_data(i)) {
                let ((from, len), to) = (chunks.range(i), offset + u64::from(chunks.addrs[i]) * BLOCK_SIZE);
                copy(image, &data, from, len, to).map_err(|e| in_file(e, &p.path))?;
                image.zero(to + len, len.next_multiple_of(BLOCK_SIZE) - len)?;
            }
        }
        _ => flat(tree, plan, p, tail, image, data_at)?,
    }
    Ok(())
}

/// Writes flat inode `p`'s whole blocks of data at `data_at` and its tail into `tail`.
fn flat(
    tree: &Tree,
    plan: &Plan,
    p: &Planned,
    tail: &mut [u8],
    image: &mut Image,
    data_at: u64,
) -> Result<(), ErofsError> {
    let io = |source| ErofsError::Io { path: p.path.clone().into(), source };
    match &tree.node(p.id).kind {
        Kind::File(c) if p.inode.size > 0 => {
            let data = c.data().map_err(io)?;
            let whole = (p.blocks * BLOCK_SIZE).min(p.inode.size);
            copy(image, &data, 0, whole, data_at).map_err(|e| in_file(e, &p.path))?;
            image.zero(data_at + whole, p.blocks * BLOCK_SIZE - whole)?;
            read(&data, p.blocks * BLOCK_SIZE, tail).map_err(io)?;
        }
        Kind::Symlink(target) => put(image, target, p, tail, data_at)?,
        Kind::Dir(_) => {
            let Some(DirData { entries, blocks }) = &p.dir else { return Ok(()) };
            let dirents: Vec<Dirent> = entries
                .iter()
                .map(|(name, id)| Dirent { name, nid: plan.nid(*id), file_type: file_type(&tree.node(*id).kind) })
                .collect();
            put(image, &dirent::encode(&dirents, blocks), p, tail, data_at)?;
        }
        _ => {}
    }
    Ok(())
}

/// `bytes` (a symlink's target, a directory's data) as `p`'s data: whole blocks at
/// `data_at`, the last one zero-padded, or the tail into `tail`.
fn put(image: &mut Image, bytes: &[u8], p: &Planned, tail: &mut [u8], data_at: u64) -> Result<(), ErofsError> {
    let whole = ((p.blocks * BLOCK_SIZE) as usize).min(bytes.len());
    if p.blocks > 0 {
        let mut blocks = bytes[..whole].to_vec();
        blocks.resize((p.blocks * BLOCK_SIZE) as usize, 0);
        image.write_at(&blocks, data_at)?;
    }
    tail.copy_from_slice(&bytes[whole..]);
    Ok(())
}

/// Copies `len` bytes of a file's `data` from `from` to `to`, its holes as zeros.
fn copy(image: &mut Image, data: &Data, from: u64, len: u64, to: u64) -> Result<(), ingot_disk::DiskError> {
    let end = from + len;
    let mut at = from;
    for e in &data.extents {
        let (start, stop) = (e.offset.clamp(from, end), (e.offset + e.len).clamp(from, end));
        if start > at {
            image.zero(to + (at - from), start - at)?;
        }
        if stop > start {
            image.copy_from(&data.file, e.at + (start - e.offset), stop - start, to + (start - from))?;
        }
        at = at.max(stop);
    }
    if end > at {
        image.zero(to + (at - from), end - at)?;
    }
    Ok(())
}

/// Reads `buf.len()` bytes of a file's `data` from `from`, its holes as zeros.
fn read(data: &Data, from: u64, buf: &mut [u8]) -> std::io::Result<()> {
    buf.fill(0);
    let end = from + buf.len() as u64;
    for e in data.extents.iter().filter(|e| e.offset < end && e.offset + e.len > from) {
        let (start, stop) = (e.offset.max(from), (e.offset + e.len).min(end));
        let slice = &mut buf[(start - from) as usize..(stop - from) as usize];
        data.file.read_exact_at(slice, e.at + (start - e.offset))?;
    }
    Ok(())
}

/// A disk error while copying a file, naming the file.
fn in_file(e: ingot_disk::DiskError, path: &str) -> ErofsError {
    match e {
        ingot_disk::DiskError::Io { source, .. } => ErofsError::Io { path: path.into(), source },
        e => ErofsError::Disk(e),
    }
}
