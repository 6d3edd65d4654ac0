//! Filesystem geometry (block groups, inode tables, flex groups, sparse_super backups)
//! and the block allocator.

/// Groups per flex group (`s_log_groups_per_flex` = 4), as mke2fs makes them.
pub(crate) const FLEX: u64 = 16;
const DESC_SIZE: u64 = 64;

/// Sizes and counts of a filesystem.
#[derive(Clone, Debug)]
pub(crate) struct Geometry {
    pub block_size: u64,
    pub blocks: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u64,
    pub groups: u64,
    pub inodes_per_group: u64,
    pub inode_table_blocks: u64,
    pub desc_blocks: u64,
}

impl Geometry {
    /// The geometry of a `bytes` filesystem with `block_size` blocks and one inode per
    /// `inode_ratio` bytes (or `inode_count` inodes).
    pub(crate) fn new(
        bytes: u64,
        block_size: u64,
        inode_ratio: u64,
        inode_count: Option<u64>,
    ) -> Result<Geometry, String> {
        let first_data_block = u64::from(block_size == 1024);
        let bpg = 8 * block_size;
        let mut blocks = bytes / block_size;
        if blocks > u64::from(u32::MAX) * 2 {
            return Err("ingot writes ext4 filesystems up to 32 bits of blocks per group count".into());
        }
        let per_inode_block = block_size / 256;
        let ipg_for = |groups: u64| -> u64 {
            let want = inode_count.unwrap_or(bytes / inode_ratio).max(16);
            let ipg = want.div_ceil(groups).next_multiple_of(per_inode_block.max(8));
            ipg.clamp(16, bpg)
        };
        let mut groups = (blocks - first_data_block).div_ceil(bpg);
        let mut ipg = ipg_for(groups);
        let rem = (blocks - first_data_block) % bpg;
        let overhead = ipg * 256 / block_size + 2 + 1 + (groups * DESC_SIZE).div_ceil(block_size);
        if groups > 1 && rem != 0 && rem < overhead + 50 {
            blocks -= rem;
            groups -= 1;
            ipg = ipg_for(groups);
        }
        let g = Geometry {
            block_size,
            blocks,
            first_data_block,
            blocks_per_group: bpg,
            groups,
            inodes_per_group: ipg,
            inode_table_blocks: ipg * 256 / block_size,
            desc_blocks: (groups * DESC_SIZE).div_ceil(block_size),
        };
        if g.inodes() > u64::from(u32::MAX) {
            return Err("more than 2^32 inodes".into());
        }
        if let Some(count) = inode_count.filter(|&c| c > g.inodes()) {
            return Err(format!(
                "inode_count {count} does not fit: a block group holds at most {bpg} inodes, so {count} need at least {} bytes with {block_size}-byte blocks, and the filesystem has {bytes}; give the partition more room or ask for fewer inodes",
                count.div_ceil(bpg) * bpg * block_size
            ));
        }
        if blocks < 64 || g.group_len(0) < g.desc_blocks + 2 + g.inode_table_blocks + 16 {
            return Err(format!("{bytes} bytes is too small for an ext4 filesystem with {block_size}-byte blocks"));
        }
        Ok(g)
    }

    /// All inodes.
    pub(crate) fn inodes(&self) -> u64 {
        self.inodes_per_group * self.groups
    }

    /// First block of group `g`.
    pub(crate) fn group_start(&self, g: u64) -> u64 {
        self.first_data_block + g * self.blocks_per_group
    }

    /// Blocks in group `g` (the last may be short).
    pub(crate) fn group_len(&self, g: u64) -> u64 {
        self.blocks_per_group.min(self.blocks - self.group_start(g))
    }

    /// sparse_super: groups 0, 1 and powers of 3, 5 and 7 hold superblock backups.
    pub(crate) fn has_super(&self, g: u64) -> bool {
        if g <= 1 {
            return true;
        }
        [3u64, 5, 7].iter().any(|&b| {
            let mut p = b;
            while p < g {
                p *= b;
            }
            p == g
        })
    }
}

/// A bitmap of every block of the filesystem and a cursor for sequential allocation.
pub(crate) struct Allocator {
    used: Vec<u64>,
    blocks: u64,
    cursor: u64,
}

impl Allocator {
    pub(crate) fn new(blocks: u64) -> Allocator {
        Allocator { used: vec![0; blocks.div_ceil(64) as usize], blocks, cursor: 0 }
    }

    pub(crate) fn is_used(&self, b: u64) -> bool {
        self.used[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    pub(crate) fn mark(&mut self, start: u64, len: u64) {
        for b in start..start + len {
            self.used[(b / 64) as usize] |= 1 << (b % 64);
        }
    }

    /// The first run of `n` free blocks at or after `goal`, marked used.
    pub(crate) fn contiguous(&mut self, goal: u64, n: u64) -> Option<u64> {
        let mut start = goal;
        while start + n <= self.blocks {
            match (start..start + n).rev().find(|&b| self.is_used(b)) {
                None => {
                    self.mark(start, n);
                    return Some(start);
                }
                Some(b) => start = b + 1,
            }
        }
        None
    }

    /// `n` free blocks from the cursor on, as `(start, len)` runs, marked used.
    pub(crate) fn take(&mut self, mut n: u64) -> Option<Vec<(u64, u64)>> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut b = self.cursor;
        while n > 0 {
            if b >= self.blocks {
                return None;
            }
            if self.used[(b / 64) as usize] == u64::MAX && b % 64 == 0 {
                b += 64;
                continue;
            }
            if !self.is_used(b) {
                self.used[(b / 64) as usize] |= 1 << (b % 64);
                match runs.last_mut() {
                    Some((s, l)) if *s + *l == b => *l += 1,
                    _ => runs.push((b, 1)),
                }
                n -= 1;
            }
            b += 1;
        }
        self.cursor = b;
        Some(runs)
    }

    /// Used blocks in `[start, start + len)`.
    pub(crate) fn count_used(&self, start: u64, len: u64) -> u64 {
        (start..start + len).filter(|&b| self.is_used(b)).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_mke2fs_for_4_gib() {
        let g = Geometry::new(4 << 30, 4096, 16384, None).unwrap();
        assert_eq!(
            (g.blocks, g.groups, g.inodes_per_group, g.inode_table_blocks, g.desc_blocks),
            (1_048_576, 32, 8192, 512, 1)
        );
        assert!(g.has_super(0) && g.has_super(1) && g.has_super(9) && g.has_super(25) && g.has_super(49));
        assert!(!g.has_super(2) && !g.has_super(10));
    }

    #[test]
    fn allocator_skips_used_blocks() {
        let mut a = Allocator::new(1000);
        a.mark(0, 10);
        a.mark(12, 3);
        assert_eq!(a.take(5), Some(vec![(10, 2), (15, 3)]));
        assert_eq!(a.contiguous(0, 4), Some(18));
        assert_eq!(a.count_used(0, 22), 22);
        assert!(a.take(2000).is_none());
    }
}
