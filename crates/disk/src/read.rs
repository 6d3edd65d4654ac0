use crate::gpt::{self, parse_entries, parse_header};
use crate::{mbr, DiskError, SECTOR};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// A partition table read back from an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Table {
    /// A GPT (the protective MBR is checked, not returned).
    Gpt(gpt::Table),
    /// An MBR with primary partitions only.
    Mbr(mbr::Table),
}

/// One partition of a table read back, in a shape common to GPT and MBR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// 1-based partition number (the GPT entry index + 1, or the MBR slot + 1).
    pub number: usize,
    /// Its place in the table's `partitions`.
    pub index: usize,
    /// First sector.
    pub first_lba: u64,
    /// Number of sectors.
    pub sectors: u64,
}

impl Table {
    /// The partitions, numbered as Linux numbers them.
    pub fn partitions(&self) -> Vec<TableEntry> {
        match self {
            Table::Gpt(t) => t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| TableEntry {
                    number: i + 1,
                    index: i,
                    first_lba: p.first_lba,
                    sectors: p.last_lba + 1 - p.first_lba,
                })
                .collect(),
            Table::Mbr(t) => t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| TableEntry {
                    number: p.slot + 1,
                    index: i,
                    first_lba: u64::from(p.first_lba),
                    sectors: u64::from(p.sectors),
                })
                .collect(),
        }
    }
}

/// The largest GPT entry ingot reads. UEFI 2.10 §5.3.2 makes SizeOfPartitionEntry
/// 128 × 2^n; every tool writes 128, and nothing needs more than a few KiB.
pub const GPT_ENTRY_SIZE_MAX: u32 = 4096;
/// The most GPT entries ingot reads: four times the 128 every tool writes, and bound to
/// keep the array (at most 4 MiB) cheap to read.
pub const GPT_ENTRIES_MAX: u32 = 1024;

/// Whether header `h`'s entry array is one ingot reads: entries of 128 × 2^n bytes, up to
/// [`GPT_ENTRY_SIZE_MAX`], at most [`GPT_ENTRIES_MAX`] of them, inside a disk whose last
/// LBA is `last`.
fn check_array(h: &gpt::Header, last: u64) -> Result<(), String> {
    let size = h.entry_size;
    if !(128..=GPT_ENTRY_SIZE_MAX).contains(&size) || !size.is_power_of_two() {
        return Err(format!("entry size {size} is not 128 × 2^n bytes up to {GPT_ENTRY_SIZE_MAX}"));
    }
    if h.entries == 0 || h.entries > GPT_ENTRIES_MAX {
        return Err(format!("{} entries (ingot reads 1 to {GPT_ENTRIES_MAX})", h.entries));
    }
    let sectors = (u64::from(h.entries) * u64::from(size)).div_ceil(SECTOR);
    if h.array_lba < 2 || h.array_lba.checked_add(sectors).is_none_or(|end| end > last + 1) {
        return Err(format!("the entry array at LBA {} ({sectors} sectors) is not inside the disk", h.array_lba));
    }
    Ok(())
}

/// Reads the partition table of an image of `size` bytes, verifying the GPT's signatures,
/// CRCs and backup copy.
pub fn read_table(file: &File, size: u64) -> Result<Table, DiskError> {
    let read = |lba: u64, count: u64| -> Result<Vec<u8>, DiskError> {
        let mut buf = vec![0u8; (count * SECTOR) as usize];
        file.read_exact_at(&mut buf, lba * SECTOR)
            .map_err(|e| DiskError::Corrupt(format!("cannot read {count} sectors at LBA {lba}: {e}")))?;
        Ok(buf)
    };
    if size < 2 * SECTOR {
        return Err(DiskError::Corrupt(format!("a {size} byte image has no room for a table")));
    }
    let lba0 = read(0, 1)?;
    let mbr = mbr::parse(&lba0).map_err(DiskError::Corrupt)?;
    if !mbr.partitions.iter().any(|p| p.kind == mbr::PROTECTIVE) {
        return Ok(Table::Mbr(mbr));
    }
    let primary = parse_header(&read(1, 1)?).map_err(|e| DiskError::Corrupt(format!("primary GPT header: {e}")))?;
    let last = size / SECTOR - 1;
    if primary.my_lba != 1 || primary.alternate_lba != last {
        return Err(DiskError::Corrupt(format!(
            "primary GPT header says the backup is at LBA {} but the disk ends at LBA {last}",
            primary.alternate_lba
        )));
    }
    let backup = parse_header(&read(last, 1)?).map_err(|e| DiskError::Corrupt(format!("backup GPT header: {e}")))?;
    let array_for = |h: &gpt::Header, which: &str| -> Result<Vec<u8>, DiskError> {
        check_array(h, last).map_err(|e| DiskError::Corrupt(format!("{which} GPT header: {e}")))?;
        let bytes = u64::from(h.entries) * u64::from(h.entry_size);
        let array = read(h.array_lba, bytes.div_ceil(SECTOR))?;
        let array = array[..bytes as usize].to_vec();
        if crc32fast::hash(&array) != h.array_crc {
            return Err(DiskError::Corrupt(format!("{which} GPT entry array CRC32 does not match")));
        }
        Ok(array)
    };
    let array = array_for(&primary, "primary")?;
    if array != array_for(&backup, "backup")? || backup.disk_guid != primary.disk_guid {
        return Err(DiskError::Corrupt("primary and backup GPT differ".into()));
    }
    let partitions = parse_entries(&array, primary.entry_size as usize);
    if partitions.iter().enumerate().any(|(n, (i, _))| n != *i) {
        return Err(DiskError::Corrupt("GPT has empty entries between partitions".into()));
    }
    for (i, p) in &partitions {
        if p.last_lba < p.first_lba || p.last_lba > u64::MAX / SECTOR - 1 {
            return Err(DiskError::Corrupt(format!(
                "GPT partition {} runs from LBA {} to LBA {}: no such extent",
                i + 1,
                p.first_lba,
                p.last_lba
            )));
        }
    }
    Ok(Table::Gpt(gpt::Table {
        disk_guid: primary.disk_guid,
        partitions: partitions.into_iter().map(|(_, p)| p).collect(),
    }))
}
