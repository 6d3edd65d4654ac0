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
                    first_lba: p.first_lba,
                    sectors: p.last_lba + 1 - p.first_lba,
                })
                .collect(),
            Table::Mbr(t) => t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| TableEntry {
                    number: i + 1,
                    first_lba: u64::from(p.first_lba),
                    sectors: u64::from(p.sectors),
                })
                .collect(),
        }
    }
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
        if h.entry_size < 128 || h.entries == 0 || h.entries > 1024 {
            return Err(DiskError::Corrupt(format!("{which} GPT header has an implausible entry array")));
        }
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
    Ok(Table::Gpt(gpt::Table {
        disk_guid: primary.disk_guid,
        partitions: partitions.into_iter().map(|(_, p)| p).collect(),
    }))
}
