//! Choosing the FAT type and cluster size, and estimating what a tree needs.

use ingot_tree::{Kind, Tree};

/// Cluster-count limits from Microsoft's FAT specification, with a margin so that
/// neither fatfs's nor fsck.fat's rounding can push a volume across a boundary.
const FAT12_MAX: u64 = 4084;
const FAT16_MAX: u64 = 65_524;
const MARGIN: u64 = 64;

pub(crate) struct Geometry {
    pub fat_type: fatfs::FatType,
    pub cluster_size: u32,
}

/// Data clusters of a volume of `sectors` with `spc` sectors per cluster, FAT entries of
/// `entry_bits`, `reserved` sectors and `root_sectors` of fixed root directory.
fn clusters(sectors: u64, spc: u64, entry_bits: u64, reserved: u64, root_sectors: u64) -> u64 {
    let mut n = sectors.saturating_sub(reserved + root_sectors) / spc;
    loop {
        let fat_sectors = ((n + 2) * entry_bits).div_ceil(8 * 512);
        let fit = sectors.saturating_sub(reserved + root_sectors + 2 * fat_sectors) / spc;
        if fit >= n {
            return n;
        }
        n = fit;
    }
}

/// FAT32 with the largest cluster (up to 4 KiB) that keeps 65,525 clusters; else FAT16
/// with the smallest cluster that stays under 65,525; else FAT12.
pub(crate) fn choose(size: u64, force: Option<u8>) -> Result<Geometry, String> {
    let sectors = size / 512;
    if sectors > u64::from(u32::MAX) {
        return Err("FAT volumes are limited to 2 TiB".into());
    }
    let fat32 = [8u64, 4, 2, 1].into_iter().find(|&spc| clusters(sectors, spc, 32, 32, 0) > FAT16_MAX + MARGIN);
    let fat16 = [1u64, 2, 4, 8, 16, 32, 64].into_iter().find(|&spc| {
        let n = clusters(sectors, spc, 16, 1, 32);
        n > FAT12_MAX + MARGIN && n < FAT16_MAX - MARGIN
    });
    let fat12 = [1u64, 2, 4, 8, 16, 32, 64].into_iter().find(|&spc| {
        let n = clusters(sectors, spc, 12, 1, 32);
        n > 16 && n < FAT12_MAX - MARGIN
    });
    let pick = match force {
        Some(32) => fat32.map(|s| (fatfs::FatType::Fat32, s)),
        Some(16) => fat16.map(|s| (fatfs::FatType::Fat16, s)),
        Some(12) => fat12.map(|s| (fatfs::FatType::Fat12, s)),
        _ => fat32
            .map(|s| (fatfs::FatType::Fat32, s))
            .or(fat16.map(|s| (fatfs::FatType::Fat16, s)))
            .or(fat12.map(|s| (fatfs::FatType::Fat12, s))),
    };
    match pick {
        Some((fat_type, spc)) => Ok(Geometry { fat_type, cluster_size: (spc * 512) as u32 }),
        None => Err(match force {
            Some(f) => format!("FAT{f} can't be made at this size (FAT32 needs about 33 MiB or more)"),
            None => "too small for any FAT".into(),
        }),
    }
}

/// Bytes of clusters the tree's files and directories take with `cluster` byte clusters.
pub(crate) fn data_bytes(tree: &Tree, cluster: u32) -> u64 {
    let c = u64::from(cluster);
    let mut total = 0;
    tree.walk(|e| match &e.node.kind {
        Kind::File(content) => total += content.size().div_ceil(c) * c,
        Kind::Dir(_) => {
            let entries = tree.children(e.id).count() as u64;
            // Each entry: one short entry and up to ten long-name entries of 32 bytes.
            total += (entries * 32 * 4 + 64).div_ceil(c) * c;
        }
        _ => {}
    });
    total
}

/// A partition size that holds `tree` as FAT with room to spare: the data at 4 KiB
/// clusters, plus 10 % and 4 MiB for the tables, rounded up to 1 MiB.
pub fn estimate_size(tree: &Tree) -> u64 {
    let data = data_bytes(tree, 4096);
    (data + data / 10 + (4 << 20)).next_multiple_of(1 << 20)
}
