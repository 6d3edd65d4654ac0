//! Writing one inode's content: directory blocks, file data (copy_file_range, holes kept),
//! symlink targets, device numbers and xattrs.

use crate::crc::inode_seed;
use crate::dir_entry::{self, file_type, Entry};
use crate::extent::{self, Run};
use crate::htree;
use crate::inode::{Inode, EXT4_EXTENTS_FL, EXT4_INDEX_FL};
use crate::writer::{Fs, Job, LOST_FOUND_INO};
use crate::xattr::{self, Placement};
use crate::Ext4Error;
use ingot_tree::{Content, Kind, Tree};

/// ext4's largest link count; directories above it count 1 (dir_nlink).
const EXT4_LINK_MAX: u32 = 65_000;

fn entry_type(kind: &Kind) -> u8 {
    match kind {
        Kind::File(_) => file_type::REG,
        Kind::Dir(_) => file_type::DIR,
        Kind::Symlink(_) => file_type::SYMLINK,
        Kind::CharDevice { .. } => file_type::CHRDEV,
        Kind::BlockDevice { .. } => file_type::BLKDEV,
        Kind::Fifo => file_type::FIFO,
        Kind::Socket => file_type::SOCK,
    }
}

impl Fs<'_> {
    /// Writes the content of `job`'s node and returns its inode.
    pub(crate) fn populate(&mut self, tree: &Tree, job: &Job, inos: &[u32], links: &[u32]) -> Result<Inode, Ext4Error> {
        let node = tree.node(job.id);
        let m = &node.meta;
        let entry_err = |message: String| Ext4Error::Entry { path: job.path.clone(), message };
        let mut nlink = links[job.id];
        if nlink > EXT4_LINK_MAX {
            if !matches!(node.kind, Kind::Dir(_)) {
                return Err(entry_err(format!("{nlink} hard links; ext4 allows {EXT4_LINK_MAX}")));
            }
            nlink = 1;
        }
        let mut inode = Inode {
            i_mode: (node.kind.format_bits() | (m.mode & 0o7777)) as u16,
            i_uid: m.uid,
            i_gid: m.gid,
            i_atime: m.atime,
            i_ctime: m.ctime,
            i_mtime: m.mtime,
            i_crtime: m.ctime,
            i_links_count: nlink as u16,
            ..Default::default()
        };
        let blocks = match &node.kind {
            Kind::Dir(_) => self.directory(tree, job, inos, &mut inode)?,
            Kind::File(c) => self.file(c, job, &mut inode)?,
            Kind::Symlink(target) if target.len() < 60 => {
                inode.i_block[..target.len()].copy_from_slice(target);
                inode.i_size = target.len() as u64;
                0
            }
            Kind::Symlink(target) => {
                if target.len() >= self.geo.block_size as usize {
                    return Err(entry_err(format!(
                        "the symlink target is {} bytes; at most {} fit",
                        target.len(),
                        self.geo.block_size - 1
                    )));
                }
                let mut block = vec![0u8; self.geo.block_size as usize];
                block[..target.len()].copy_from_slice(target);
                inode.i_size = target.len() as u64;
                self.blocks_with_data(&[block], job.ino, &mut inode)?
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                let (major, minor) = (*major, *minor);
                if major < 256 && minor < 256 {
                    inode.i_block[0..4].copy_from_slice(&((major << 8) | minor).to_le_bytes());
                } else {
                    let dev = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
                    inode.i_block[4..8].copy_from_slice(&dev.to_le_bytes());
                }
                0
            }
            Kind::Fifo | Kind::Socket => 0,
        };
        if !self.ext_attr && !m.xattrs.is_empty() {
            return Err(entry_err("it has xattrs but the ext_attr feature is off".into()));
        }
        let xattr_blocks = match xattr::place(&m.xattrs, self.geo.block_size as usize).map_err(entry_err)? {
            Placement::Empty => 0,
            Placement::Inode(area) => {
                inode.ibody_xattrs = area;
                0
            }
            Placement::Block(mut b) => {
                let at = self.take(1)?[0].0;
                xattr::seal_block(&mut b, self.csum_seed, at);
                self.write_block(at, &b)?;
                inode.i_file_acl = at;
                1
            }
        };
        inode.i_blocks = (blocks + xattr_blocks) * self.geo.block_size / 512;
        Ok(inode)
    }

    fn directory(&mut self, tree: &Tree, job: &Job, inos: &[u32], inode: &mut Inode) -> Result<u64, Ext4Error> {
        let group = (u64::from(job.ino - 1) / self.geo.inodes_per_group) as usize;
        self.dirs_per_group[group] += 1;
        let mut entries = vec![
            Entry { inode: job.ino, name: b".", file_type: file_type::DIR },
            Entry { inode: job.parent, name: b"..", file_type: file_type::DIR },
        ];
        for (name, child) in tree.children(job.id) {
            entries.push(Entry { inode: inos[child], name, file_type: entry_type(&tree.node(child).kind) });
        }
        let bs = self.geo.block_size as usize;
        let seed = inode_seed(self.csum_seed, job.ino, 0);
        let linear = dir_entry::block_count(entries.iter().map(|e| e.name.len()), bs);
        let blocks = if job.ino == LOST_FOUND_INO {
            dir_entry::blocks(&entries, bs, seed, 16384 / bs)
        } else if linear > 1 && self.dir_index {
            inode.i_flags |= EXT4_INDEX_FL;
            htree::blocks(job.ino, job.parent, &entries[2..], bs, &self.hash_seed, seed)
                .map_err(|message| Ext4Error::Entry { path: job.path.clone(), message })?
        } else {
            dir_entry::blocks(&entries, bs, seed, 0)
        };
        inode.i_size = blocks.len() as u64 * self.geo.block_size;
        self.blocks_with_data(&blocks, job.ino, inode)
    }

    /// Allocates and writes whole blocks as the inode's content; returns the blocks used.
    fn blocks_with_data(&mut self, data: &[Vec<u8>], ino: u32, inode: &mut Inode) -> Result<u64, Ext4Error> {
        let phys = self.take(data.len() as u64)?;
        let mut runs = Vec::new();
        let mut logical = 0;
        let mut i = 0;
        for (start, len) in phys {
            runs.push(Run { logical, start, len });
            for b in start..start + len {
                self.write_block(b, &data[i])?;
                i += 1;
            }
            logical += len;
        }
        Ok(data.len() as u64 + self.map(&runs, ino, inode)?)
    }

    /// Builds the extent tree of `runs` into the inode; returns the tree blocks used.
    fn map(&mut self, runs: &[Run], ino: u32, inode: &mut Inode) -> Result<u64, Ext4Error> {
        let extents = extent::extents(runs);
        let n = extent::tree_blocks(extents.len() as u64, self.geo.block_size);
        let at: Vec<u64> = self.take(n)?.iter().flat_map(|&(s, l)| s..s + l).collect();
        let tree = extent::build(&extents, &at, self.geo.block_size, self.csum_seed, ino);
        for (b, data) in &tree.blocks {
            self.write_block(*b, data)?;
        }
        inode.i_block = tree.i_block;
        inode.i_flags |= EXT4_EXTENTS_FL;
        Ok(n)
    }

    /// Copies a file's data into newly allocated blocks; holes stay unmapped.
    fn file(&mut self, content: &Content, job: &Job, inode: &mut Inode) -> Result<u64, Ext4Error> {
        let bs = self.geo.block_size;
        let io = |source| Ext4Error::Io { path: job.path.clone().into(), source };
        let data = content.data().map_err(io)?;
        let mut logical: Vec<(u64, u64)> = Vec::new();
        for e in &data.extents {
            let (s, t) = (e.offset / bs, (e.offset + e.len).div_ceil(bs));
            match logical.last_mut() {
                Some((_, end)) if *end >= s => *end = (*end).max(t),
                _ => logical.push((s, t)),
            }
        }
        let total: u64 = logical.iter().map(|(s, t)| t - s).sum();
        let phys = self.take(total)?;
        let runs = pair(&logical, &phys);
        for r in &runs {
            self.zero_blocks(r.start, r.len)?;
        }
        for e in &data.extents {
            let mut off = e.offset;
            while off < e.offset + e.len {
                let r = runs[runs.partition_point(|r| (r.logical + r.len) * bs <= off)];
                let within = off - r.logical * bs;
                let n = (r.len * bs - within).min(e.offset + e.len - off);
                let dst = self.at(r.start) + within;
                self.image
                    .copy_from(&data.file, e.at + (off - e.offset), n, dst)
                    .map_err(|err| Ext4Error::Entry { path: job.path.clone(), message: err.to_string() })?;
                off += n;
            }
        }
        inode.i_size = content.size();
        Ok(total + self.map(&runs, job.ino, inode)?)
    }
}

/// Lays logical block ranges onto physical runs of the same total length.
fn pair(logical: &[(u64, u64)], phys: &[(u64, u64)]) -> Vec<Run> {
    let mut runs = Vec::new();
    let (mut pi, mut used) = (0, 0);
    for &(s, t) in logical {
        let mut l = s;
        while l < t {
            let (ps, pl) = phys[pi];
            let n = (t - l).min(pl - used);
            runs.push(Run { logical: l, start: ps + used, len: n });
            l += n;
            used += n;
            if used == pl {
                pi += 1;
                used = 0;
            }
        }
    }
    runs
}
