//! The GUID Partition Table (UEFI 2.10, section 5.3): protective MBR, primary header and
//! entry array at LBA 1–33, backup entry array and header at the end of the disk.

use crate::{mbr, DiskError, Image, SECTOR};
use uuid::Uuid;

/// Number of entries in the partition entry array.
pub const ENTRIES: u64 = 128;
/// Size of one partition entry in bytes.
pub const ENTRY_SIZE: u64 = 128;
/// Sectors taken by the entry array (128 × 128 bytes).
pub const ARRAY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;
/// Sectors at the end of the disk taken by the backup array and header.
pub const BACKUP_SECTORS: u64 = ARRAY_SECTORS + 1;
/// First LBA a partition may use (protective MBR, header, entry array before it).
pub const FIRST_USABLE_LBA: u64 = 2 + ARRAY_SECTORS;

/// One partition of a GPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// PartitionTypeGUID.
    pub type_guid: Uuid,
    /// UniquePartitionGUID.
    pub guid: Uuid,
    /// StartingLBA.
    pub first_lba: u64,
    /// EndingLBA (inclusive).
    pub last_lba: u64,
    /// Attributes (bit 0 required, bit 2 legacy BIOS bootable, 48–63 type-specific).
    pub attributes: u64,
    /// PartitionName: at most 36 UTF-16 code units.
    pub name: String,
}

/// A whole GPT: the disk GUID and its partitions, in entry order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// DiskGUID.
    pub disk_guid: Uuid,
    /// Partitions, written to entries 0, 1, … in this order.
    pub partitions: Vec<Partition>,
}

/// The last LBA a partition may use on a disk of `disk_bytes`.
pub fn last_usable_lba(disk_bytes: u64) -> u64 {
    (disk_bytes / SECTOR).saturating_sub(BACKUP_SECTORS + 1)
}

/// Writes the protective MBR, both headers and both entry arrays.
pub fn write(image: &mut Image, table: &Table) -> Result<(), DiskError> {
    let sectors = image.size() / SECTOR;
    if sectors < FIRST_USABLE_LBA + BACKUP_SECTORS + 1 {
        return Err(DiskError::Layout(format!("a {} byte disk is too small for a GPT", image.size())));
    }
    let entries = entry_array(table, image.size())?;
    let entries_crc = crc32fast::hash(&entries);
    let last = sectors - 1;
    let primary = header(table, 1, last, 2, entries_crc, image.size());
    let backup = header(table, last, 1, last - ARRAY_SECTORS, entries_crc, image.size());

    image.write_at(&mbr::protective(sectors), 0)?;
    image.write_at(&primary, SECTOR)?;
    image.write_at(&entries, 2 * SECTOR)?;
    image.write_at(&entries, (last - ARRAY_SECTORS) * SECTOR)?;
    image.write_at(&backup, last * SECTOR)?;
    Ok(())
}

fn entry_array(table: &Table, disk_bytes: u64) -> Result<Vec<u8>, DiskError> {
    if table.partitions.len() as u64 > ENTRIES {
        return Err(DiskError::Layout(format!("a GPT holds at most {ENTRIES} partitions")));
    }
    let last_usable = last_usable_lba(disk_bytes);
    let mut out = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    for (i, p) in table.partitions.iter().enumerate() {
        if p.first_lba < FIRST_USABLE_LBA || p.last_lba > last_usable || p.first_lba > p.last_lba {
            return Err(DiskError::Layout(format!(
                "partition {} (LBA {}–{}) lies outside the usable LBAs {FIRST_USABLE_LBA}–{last_usable}",
                i + 1,
                p.first_lba,
                p.last_lba
            )));
        }
        let e = &mut out[i * ENTRY_SIZE as usize..(i + 1) * ENTRY_SIZE as usize];
        e[0..16].copy_from_slice(&p.type_guid.to_bytes_le());
        e[16..32].copy_from_slice(&p.guid.to_bytes_le());
        e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
        e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
        e[48..56].copy_from_slice(&p.attributes.to_le_bytes());
        let units: Vec<u16> = p.name.encode_utf16().collect();
        if units.len() > 36 {
            return Err(DiskError::Layout(format!("partition name {:?} is longer than 36 UTF-16 code units", p.name)));
        }
        for (j, u) in units.iter().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    Ok(out)
}

fn header(table: &Table, my_lba: u64, alternate: u64, array_lba: u64, crc: u32, size: u64) -> Vec<u8> {
    let mut h = vec![0u8; SECTOR as usize];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&my_lba.to_le_bytes());
    h[32..40].copy_from_slice(&alternate.to_le_bytes());
    h[40..48].copy_from_slice(&FIRST_USABLE_LBA.to_le_bytes());
    h[48..56].copy_from_slice(&last_usable_lba(size).to_le_bytes());
    h[56..72].copy_from_slice(&table.disk_guid.to_bytes_le());
    h[72..80].copy_from_slice(&array_lba.to_le_bytes());
    h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
    h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    h[88..92].copy_from_slice(&crc.to_le_bytes());
    let header_crc = crc32fast::hash(&h[..92]);
    h[16..20].copy_from_slice(&header_crc.to_le_bytes());
    h
}

/// Parses a GPT header sector, checking its signature and CRC.
pub(crate) fn parse_header(h: &[u8]) -> Result<Header, String> {
    if &h[0..8] != b"EFI PART" {
        return Err("no \"EFI PART\" signature".into());
    }
    let size = u32le(h, 12) as usize;
    if !(92..=SECTOR as usize).contains(&size) {
        return Err(format!("header size {size} is invalid"));
    }
    let mut copy = h[..size].to_vec();
    copy[16..20].fill(0);
    if crc32fast::hash(&copy) != u32le(h, 16) {
        return Err("header CRC32 does not match".into());
    }
    Ok(Header {
        my_lba: u64le(h, 24),
        alternate_lba: u64le(h, 32),
        disk_guid: Uuid::from_bytes_le(h[56..72].try_into().map_err(|_| "short header")?),
        array_lba: u64le(h, 72),
        entries: u32le(h, 80),
        entry_size: u32le(h, 84),
        array_crc: u32le(h, 88),
    })
}

/// The fields of a GPT header that reading a table needs.
#[derive(Debug)]
pub(crate) struct Header {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub disk_guid: Uuid,
    pub array_lba: u64,
    pub entries: u32,
    pub entry_size: u32,
    pub array_crc: u32,
}

/// Parses the non-empty entries of an entry array.
pub(crate) fn parse_entries(array: &[u8], entry_size: usize) -> Vec<(usize, Partition)> {
    let mut out = Vec::new();
    for (i, e) in array.chunks_exact(entry_size).enumerate() {
        let type_bytes: [u8; 16] = e[0..16].try_into().unwrap_or([0; 16]);
        if type_bytes == [0; 16] {
            continue;
        }
        let units: Vec<u16> =
            e[56..128].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        out.push((
            i,
            Partition {
                type_guid: Uuid::from_bytes_le(type_bytes),
                guid: Uuid::from_bytes_le(e[16..32].try_into().unwrap_or([0; 16])),
                first_lba: u64le(e, 32),
                last_lba: u64le(e, 40),
                attributes: u64le(e, 48),
                name: String::from_utf16_lossy(&units),
            },
        ));
    }
    out
}

pub(crate) fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn u64le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
