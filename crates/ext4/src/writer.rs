//! Formatting: geometry, metadata placement, inode numbering, then the group
//! descriptors, bitmaps and superblocks once the content is in place.

use crate::crc::crc32c;
use crate::group_descriptor::{GroupDesc, BG_INODE_UNINIT, BG_INODE_ZEROED};
use crate::inode::{Inode, EXT4_EXTENTS_FL, INODE_SIZE};
use crate::layout::{Allocator, Geometry, FLEX};
use crate::superblock::*;
use crate::{extent, journal, Ext4Error, Ext4Info, Options};
use ingot_disk::Image;
use ingot_tree::{Kind, Meta, NodeId, Time, Tree};

/// Inode numbers ext4 reserves.
pub(crate) const ROOT_INO: u32 = 2;
pub(crate) const JOURNAL_INO: u32 = 8;
pub(crate) const LOST_FOUND_INO: u32 = 11;

/// The state of a filesystem being written.
pub(crate) struct Fs<'a> {
    pub image: &'a mut Image,
    pub offset: u64,
    pub geo: Geometry,
    pub alloc: Allocator,
    pub csum_seed: u32,
    pub block_bitmap: Vec<u64>,
    pub inode_bitmap: Vec<u64>,
    pub inode_table: Vec<u64>,
    pub dirs_per_group: Vec<u32>,
    pub size: u64,
    pub hash_seed: [u8; 16],
    pub dir_index: bool,
    pub ext_attr: bool,
    table_block: Option<(u64, Vec<u8>)>,
    needed_estimate: u64,
}

/// The block size mke2fs would pick for a filesystem of `bytes`.
pub fn default_block_size(bytes: u64) -> u32 {
    if bytes < 512 << 20 {
        1024
    } else {
        4096
    }
}

/// The bytes per inode of a `bytes` filesystem whose recipe sets no `inode_ratio`:
/// mke2fs.conf's `small` and `default` types.
pub fn default_inode_ratio(bytes: u64) -> u64 {
    if bytes < 512 << 20 {
        4096
    } else {
        16384
    }
}

/// A filesystem size that holds `tree` with room to spare: data and directories at
/// 4 KiB blocks, inodes at 256 bytes each, plus 10 % and 16 MiB (more for the journal of a
/// larger filesystem), rounded up to 1 MiB, plus `free_space`; and large enough for its
/// inodes: the tree's entries and ext4's reserved ones, or `inode_count` when more, at
/// `inode_ratio` bytes each (or the default ratio of the size it comes to).
pub fn estimate_size(tree: &Tree, inode_ratio: Option<u64>, inode_count: Option<u64>, free_space: u64) -> u64 {
    let mut bytes = 0u64;
    let mut entries = 0u64;
    tree.walk(|e| {
        entries += 1;
        bytes += match &e.node.kind {
            Kind::File(c) => c.size().div_ceil(4096) * 4096,
            Kind::Dir(_) => 4096 * (1 + tree.children(e.id).count() as u64 / 100),
            Kind::Symlink(t) if t.len() >= 60 => 4096,
            _ => 0,
        };
    });
    let base = bytes + entries * 512 + (16 << 20);
    let journal = if base > 1 << 30 { 64 << 20 } else { 16 << 20 };
    let size = base + base / 10 + journal + free_space;
    let needed = inode_count.unwrap_or(0).max(entries + u64::from(LOST_FOUND_INO));
    let for_inodes = match inode_count {
        // A group holds at most one inode per block (its inode bitmap is one block):
        // a 4 KiB block and 256 bytes of inode table each, at the most.
        Some(_) => needed.saturating_mul(4096 + 256),
        None => {
            let ratio = |s: u64| inode_ratio.unwrap_or_else(|| default_inode_ratio(s));
            needed.saturating_mul(ratio(needed.saturating_mul(ratio(size))))
        }
    };
    size.max(for_inodes).next_multiple_of(1 << 20)
}

/// Formats `size` bytes at `offset` of `image` as ext4 holding `tree`.
pub fn write(tree: &Tree, image: &mut Image, offset: u64, size: u64, opts: &Options) -> Result<Ext4Info, Ext4Error> {
    let bs = opts.block_size.unwrap_or_else(|| default_block_size(size));
    if ![1024, 2048, 4096].contains(&bs) {
        return Err(Ext4Error::Geometry(format!(
            "block size {bs} can't be mounted by Linux on 4 KiB pages: use 1024, 2048 or 4096"
        )));
    }
    if opts.label.len() > 16 {
        return Err(Ext4Error::Geometry(format!("label {:?} is longer than ext4's 16 bytes", opts.label)));
    }
    let ratio = opts.inode_ratio.unwrap_or_else(|| default_inode_ratio(size));
    let geo = Geometry::new(size, u64::from(bs), ratio, opts.inode_count).map_err(Ext4Error::Geometry)?;
    let mut tree = tree.clone();
    if tree.lookup("/lost+found").is_none() {
        tree.add_directory("/lost+found", Meta::root(0o700, opts.time))
            .map_err(|e| Ext4Error::Geometry(e.to_string()))?;
    }
    let (order, inos) = number_inodes(&tree, &geo)?;
    let mut fs = Fs::format(image, offset, size, geo, opts)?;
    fs.dir_index = opts.dir_index;
    fs.ext_attr = opts.ext_attr;
    fs.needed_estimate = needed_bytes(&tree, fs.geo.block_size);
    let journal = if opts.journal { Some(fs.journal(opts)?) } else { None };
    let mut journal_pending = journal.clone();
    let links = tree.link_counts();
    let mut max_ino = LOST_FOUND_INO;
    for job in &order {
        if job.ino > JOURNAL_INO {
            if let Some(j) = journal_pending.take() {
                fs.put_inode(JOURNAL_INO, &j)?;
            }
        }
        let inode = fs.populate(&tree, job, &inos, &links)?;
        fs.put_inode(job.ino, &inode)?;
        max_ino = max_ino.max(job.ino);
    }
    fs.flush_inodes()?;
    fs.finish(opts, u64::from(max_ino), journal.as_ref())
}

/// One inode to write: its number, node and the parent directory's inode number.
pub(crate) struct Job {
    pub ino: u32,
    pub id: NodeId,
    pub parent: u32,
    pub path: String,
}

/// Inode numbers in walk order: the root 2, lost+found 11, the rest from 12; hard links
/// share their first number. Checks names and the inode count.
fn number_inodes(tree: &Tree, geo: &Geometry) -> Result<(Vec<Job>, Vec<u32>), Ext4Error> {
    let mut inos = vec![0u32; tree.link_counts().len()];
    let lost_found = tree.lookup("/lost+found");
    inos[tree.root()] = ROOT_INO;
    let mut order = vec![Job { ino: ROOT_INO, id: tree.root(), parent: ROOT_INO, path: "/".into() }];
    let mut next = LOST_FOUND_INO + 1;
    let mut stack = vec![(tree.root(), ROOT_INO, String::new())];
    while let Some((dir, dir_ino, dir_path)) = stack.pop() {
        let mut subdirs = Vec::new();
        for (name, child) in tree.children(dir) {
            let path = format!("{dir_path}/{}", String::from_utf8_lossy(name));
            if name.len() > 255 {
                return Err(Ext4Error::Entry {
                    path,
                    message: format!("the name is {} bytes; ext4 names hold at most 255", name.len()),
                });
            }
            if inos[child] != 0 {
                continue;
            }
            let ino = if Some(child) == lost_found {
                LOST_FOUND_INO
            } else {
                next += 1;
                next - 1
            };
            inos[child] = ino;
            order.push(Job { ino, id: child, parent: dir_ino, path: path.clone() });
            if matches!(tree.node(child).kind, Kind::Dir(_)) {
                subdirs.push((child, ino, path));
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    let needed = u64::from(next - 1);
    if needed > geo.inodes() {
        return Err(Ext4Error::TooManyInodes { needed, available: geo.inodes() });
    }
    order.sort_by_key(|j| j.ino);
    Ok((order, inos))
}

/// An upper bound of the bytes the content takes.
fn needed_bytes(tree: &Tree, bs: u64) -> u64 {
    let mut blocks = 0;
    tree.walk(|e| {
        blocks += match &e.node.kind {
            Kind::File(c) => {
                let n = c.size().div_ceil(bs);
                n + extent::tree_blocks(n.div_ceil(extent::MAX_EXTENT_LEN).max(1), bs)
            }
            Kind::Dir(_) => {
                let lens = tree.children(e.id).map(|(n, _)| n.len()).chain([1, 2]);
                crate::dir_entry::block_count(lens, bs as usize)
            }
            Kind::Symlink(t) if t.len() >= 60 => 1,
            _ => 0,
        } + u64::from(!e.node.meta.xattrs.is_empty());
    });
    blocks * bs
}

impl<'a> Fs<'a> {
    /// Places the superblocks, descriptors, bitmaps and inode tables.
    fn format(
        image: &'a mut Image,
        offset: u64,
        size: u64,
        geo: Geometry,
        opts: &Options,
    ) -> Result<Fs<'a>, Ext4Error> {
        let mut alloc = Allocator::new(geo.blocks);
        if geo.first_data_block == 1 {
            alloc.mark(0, 1);
        }
        for g in 0..geo.groups {
            if geo.has_super(g) {
                alloc.mark(geo.group_start(g), 1 + geo.desc_blocks);
            }
        }
        let n = geo.groups as usize;
        let (mut bb, mut ib, mut it) = (vec![0; n], vec![0; n], vec![0; n]);
        let full = |what: &str| Ext4Error::Geometry(format!("no room for the {what}; the partition is too small"));
        for flex in (0..geo.groups).step_by(FLEX as usize) {
            let goal = geo.group_start(flex);
            let members = flex..(flex + FLEX).min(geo.groups);
            for g in members.clone() {
                bb[g as usize] = alloc.contiguous(goal, 1).ok_or_else(|| full("block bitmaps"))?;
            }
            for g in members.clone() {
                ib[g as usize] = alloc.contiguous(goal, 1).ok_or_else(|| full("inode bitmaps"))?;
            }
            for g in members {
                it[g as usize] = alloc.contiguous(goal, geo.inode_table_blocks).ok_or_else(|| full("inode tables"))?;
            }
        }
        let superblock = Superblock { s_uuid: *opts.uuid.as_bytes(), ..Default::default() };
        let mut fs = Fs {
            image,
            offset,
            csum_seed: superblock.csum_seed(),
            block_bitmap: bb,
            inode_bitmap: ib,
            inode_table: it,
            dirs_per_group: vec![0; n],
            size,
            hash_seed: *opts.hash_seed.as_bytes(),
            dir_index: true,
            ext_attr: true,
            table_block: None,
            needed_estimate: 0,
            alloc,
            geo,
        };
        for g in 0..fs.geo.groups as usize {
            let (start, len) = (fs.inode_table[g], fs.geo.inode_table_blocks);
            fs.zero_blocks(start, len)?;
        }
        Ok(fs)
    }

    /// Byte offset of block `b` in the image.
    pub(crate) fn at(&self, b: u64) -> u64 {
        self.offset + b * self.geo.block_size
    }

    pub(crate) fn write_block(&mut self, b: u64, data: &[u8]) -> Result<(), Ext4Error> {
        let at = self.at(b);
        Ok(self.image.write_at(data, at)?)
    }

    pub(crate) fn zero_blocks(&mut self, b: u64, n: u64) -> Result<(), Ext4Error> {
        let (at, len) = (self.at(b), n * self.geo.block_size);
        Ok(self.image.zero(at, len)?)
    }

    /// `n` blocks, or the error that says how much the content needs.
    pub(crate) fn take(&mut self, n: u64) -> Result<Vec<(u64, u64)>, Ext4Error> {
        self.alloc.take(n).ok_or_else(|| {
            let free_at_start = self.size.saturating_sub(self.needed_estimate);
            let needed = self.needed_estimate;
            Ext4Error::TooSmall {
                needed,
                available: free_at_start.min(self.size),
                size: self.size,
                suggest: (self.size + needed + needed / 10).next_multiple_of(1 << 20),
            }
        })
    }

    /// Allocates the journal (mid-filesystem, as mke2fs does) and writes its superblock.
    fn journal(&mut self, opts: &Options) -> Result<Inode, Ext4Error> {
        let blocks = journal::default_blocks(self.geo.blocks).ok_or_else(|| {
            Ext4Error::Geometry("the filesystem is too small for a journal; set `journal = false`".into())
        })?;
        let mid = (self.geo.groups / 2) & !(FLEX - 1);
        let start = self
            .alloc
            .contiguous(self.geo.group_start(mid), blocks)
            .or_else(|| self.alloc.contiguous(0, blocks))
            .ok_or_else(|| Ext4Error::Geometry("no contiguous room for the journal; set `journal = false`".into()))?;
        self.zero_blocks(start, blocks)?;
        let jsb = journal::superblock(self.geo.block_size as u32, blocks as u32, opts.uuid.as_bytes());
        self.write_block(start, &jsb)?;
        let runs = extent::extents(&[extent::Run { logical: 0, start, len: blocks }]);
        let nt = extent::tree_blocks(runs.len() as u64, self.geo.block_size);
        let tree_at: Vec<u64> = self.take(nt)?.iter().flat_map(|&(s, l)| s..s + l).collect();
        let t = extent::build(&runs, &tree_at, self.geo.block_size, self.csum_seed, JOURNAL_INO);
        for (b, data) in &t.blocks {
            self.write_block(*b, data)?;
        }
        let time = Time::from_secs(opts.time);
        let inode = Inode {
            i_mode: 0o100600,
            i_size: blocks * self.geo.block_size,
            i_atime: time,
            i_ctime: time,
            i_mtime: time,
            i_crtime: time,
            i_links_count: 1,
            i_blocks: (blocks + nt) * self.geo.block_size / 512,
            i_flags: EXT4_EXTENTS_FL,
            i_block: t.i_block,
            ..Default::default()
        };
        Ok(inode)
    }

    /// Writes inode `ino` into its table, a block at a time (inodes come in ascending order).
    pub(crate) fn put_inode(&mut self, ino: u32, inode: &Inode) -> Result<(), Ext4Error> {
        let bytes = inode.to_bytes(self.csum_seed, ino);
        let idx = u64::from(ino - 1);
        let ipg = self.geo.inodes_per_group;
        let pos = (idx % ipg) * INODE_SIZE as u64;
        let block = self.inode_table[(idx / ipg) as usize] + pos / self.geo.block_size;
        if self.table_block.as_ref().is_none_or(|(b, _)| *b != block) {
            self.flush_inodes()?;
            self.table_block = Some((block, vec![0u8; self.geo.block_size as usize]));
        }
        if let Some((_, buf)) = &mut self.table_block {
            let within = (pos % self.geo.block_size) as usize;
            buf[within..within + INODE_SIZE].copy_from_slice(&bytes);
        }
        Ok(())
    }

    pub(crate) fn flush_inodes(&mut self) -> Result<(), Ext4Error> {
        if let Some((b, buf)) = self.table_block.take() {
            self.write_block(b, &buf)?;
        }
        Ok(())
    }
}

/// A bitmap block: bits `0..used` set, and the padding bits from `len` on (past the
/// group's end) set too, as e2fsck expects.
fn bitmap(block_size: u64, is_set: impl Fn(u64) -> bool, len: u64) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    for i in 0..8 * block_size {
        if i >= len || is_set(i) {
            b[(i / 8) as usize] |= 1 << (i % 8);
        }
    }
    b
}

impl Fs<'_> {
    /// Writes the bitmaps, group descriptors and superblocks (primary and backups).
    fn finish(&mut self, opts: &Options, max_ino: u64, journal: Option<&Inode>) -> Result<Ext4Info, Ext4Error> {
        let geo = self.geo.clone();
        let (bs, ipg) = (geo.block_size, geo.inodes_per_group);
        let mut descs = Vec::new();
        let mut free_blocks = 0;
        for g in 0..geo.groups {
            let (start, len) = (geo.group_start(g), geo.group_len(g));
            let bm = bitmap(bs, |i| self.alloc.is_used(start + i), len);
            let used = self.alloc.count_used(start, len);
            free_blocks += len - used;
            let used_inodes = max_ino.saturating_sub(g * ipg).min(ipg);
            let im = bitmap(bs, |i| i < used_inodes, ipg);
            let gi = g as usize;
            let desc = GroupDesc {
                bg_block_bitmap: self.block_bitmap[gi],
                bg_inode_bitmap: self.inode_bitmap[gi],
                bg_inode_table: self.inode_table[gi],
                bg_free_blocks_count: (len - used) as u32,
                bg_free_inodes_count: (ipg - used_inodes) as u32,
                bg_used_dirs_count: self.dirs_per_group[gi],
                bg_flags: BG_INODE_ZEROED | if used_inodes == 0 { BG_INODE_UNINIT } else { 0 },
                bg_block_bitmap_csum: crc32c(self.csum_seed, &bm[..(geo.blocks_per_group / 8) as usize]),
                bg_inode_bitmap_csum: crc32c(self.csum_seed, &im[..(ipg / 8) as usize]),
                bg_itable_unused: (ipg - used_inodes) as u32,
            };
            self.write_block(self.block_bitmap[gi], &bm)?;
            self.write_block(self.inode_bitmap[gi], &im)?;
            descs.extend_from_slice(&desc.to_bytes(self.csum_seed, g as u32));
        }
        descs.resize((geo.desc_blocks * bs) as usize, 0);
        let sb = self.superblock(opts, free_blocks, max_ino, journal);
        for g in (0..geo.groups).filter(|&g| geo.has_super(g)) {
            let start = geo.group_start(g);
            let sb_at = if g == 0 { self.offset + 1024 } else { self.at(start) };
            let sb_block_end = self.at(start + 1);
            self.image.zero(sb_at, sb_block_end - sb_at)?;
            self.image.write_at(&sb.to_bytes(g as u16), sb_at)?;
            self.write_block(start + 1, &descs)?;
        }
        Ok(Ext4Info {
            block_size: bs as u32,
            blocks: geo.blocks,
            free_blocks,
            inodes: geo.inodes(),
            free_inodes: geo.inodes() - max_ino,
            uuid: opts.uuid,
        })
    }

    fn superblock(&self, opts: &Options, free_blocks: u64, max_ino: u64, journal: Option<&Inode>) -> Superblock {
        let geo = &self.geo;
        let mut label = [0u8; 16];
        label[..opts.label.len()].copy_from_slice(opts.label.as_bytes());
        let mut jnl = [0u32; 17];
        let mut compat = 0;
        if opts.ext_attr {
            compat |= COMPAT_EXT_ATTR;
        }
        if opts.dir_index {
            compat |= COMPAT_DIR_INDEX;
        }
        let mut incompat = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG;
        if opts.metadata_csum_seed {
            incompat |= INCOMPAT_CSUM_SEED;
        }
        if let Some(j) = journal {
            compat |= COMPAT_HAS_JOURNAL;
            for (i, w) in j.i_block.chunks_exact(4).enumerate() {
                jnl[i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            }
            jnl[15] = (j.i_size >> 32) as u32;
            jnl[16] = j.i_size as u32;
        }
        Superblock {
            s_inodes_count: geo.inodes() as u32,
            s_blocks_count: geo.blocks,
            s_r_blocks_count: geo.blocks * u64::from(opts.reserved_percent.min(50)) / 100,
            s_free_blocks_count: free_blocks,
            s_free_inodes_count: (geo.inodes() - max_ino) as u32,
            s_first_data_block: geo.first_data_block as u32,
            s_log_block_size: geo.block_size.trailing_zeros() - 10,
            s_blocks_per_group: geo.blocks_per_group as u32,
            s_inodes_per_group: geo.inodes_per_group as u32,
            s_time: opts.time.clamp(0, i64::from(u32::MAX)) as u32,
            s_feature_compat: compat,
            s_feature_incompat: incompat,
            s_feature_ro_compat: RO_COMPAT_SPARSE_SUPER
                | RO_COMPAT_LARGE_FILE
                | RO_COMPAT_HUGE_FILE
                | RO_COMPAT_DIR_NLINK
                | RO_COMPAT_EXTRA_ISIZE
                | RO_COMPAT_METADATA_CSUM,
            s_uuid: *opts.uuid.as_bytes(),
            s_volume_name: label,
            s_journal_inum: if journal.is_some() { JOURNAL_INO } else { 0 },
            s_hash_seed: *opts.hash_seed.as_bytes(),
            s_jnl_blocks: jnl,
            s_log_groups_per_flex: FLEX.trailing_zeros() as u8,
            s_kbytes_written: 0,
        }
    }
}
