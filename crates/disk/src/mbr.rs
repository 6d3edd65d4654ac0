//! The master boot record: four primary partition entries at byte 446, the disk signature
//! at byte 440 and the 0x55AA boot signature at byte 510.

use crate::{DiskError, Image, SECTOR};

/// MBR type byte of a GPT protective partition.
pub const PROTECTIVE: u8 = 0xEE;

/// The PARTUUID the kernel knows MBR partition `number` (1-based) of a disk with
/// `signature` by: `SSSSSSSS-PP`.
///
/// ```
/// assert_eq!(ingot_disk::mbr::partuuid(0xde93da23, 1), "de93da23-01");
/// ```
pub fn partuuid(signature: u32, number: usize) -> String {
    format!("{signature:08x}-{number:02x}")
}

/// One primary partition of an MBR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Its slot in the table, 0 to 3: Linux numbers it slot + 1 (sfdisk, the kernel, the
    /// PARTUUID's suffix), whatever slots before it are empty.
    pub slot: usize,
    /// The partition type byte.
    pub kind: u8,
    /// True for the active (bootable, 0x80) partition.
    pub bootable: bool,
    /// First sector.
    pub first_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

/// A whole MBR table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The 32-bit disk signature at byte 440.
    pub disk_signature: u32,
    /// At most four primary partitions.
    pub partitions: Vec<Partition>,
}

/// Writes the MBR's disk signature, entries and boot signature; the 440 bytes of boot
/// code before them are left as they are.
pub fn write(image: &mut Image, table: &Table) -> Result<(), DiskError> {
    if table.partitions.len() > 4 {
        return Err(DiskError::Layout("an MBR holds at most 4 primary partitions".into()));
    }
    let sectors = image.size() / SECTOR;
    let mut tail = [0u8; 72];
    tail[0..4].copy_from_slice(&table.disk_signature.to_le_bytes());
    for (n, p) in table.partitions.iter().enumerate() {
        let i = p.slot;
        if i > 3 || table.partitions[..n].iter().any(|q| q.slot == i) {
            return Err(DiskError::Layout(format!("MBR slot {i} is not one of four free slots")));
        }
        if p.first_lba == 0 || u64::from(p.first_lba) + u64::from(p.sectors) > sectors {
            return Err(DiskError::Layout(format!("MBR partition {} lies outside the disk", i + 1)));
        }
        let e = entry(p.bootable, p.kind, p.first_lba, p.sectors);
        tail[6 + 16 * i..22 + 16 * i].copy_from_slice(&e);
    }
    tail[70] = 0x55;
    tail[71] = 0xAA;
    image.write_at(&tail, 440)
}

/// The protective MBR of a GPT disk of `sectors` sectors.
pub(crate) fn protective(sectors: u64) -> Vec<u8> {
    let mut s = vec![0u8; SECTOR as usize];
    let size = (sectors - 1).min(u64::from(u32::MAX)) as u32;
    let mut e = entry(false, PROTECTIVE, 1, size);
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
    s[446..462].copy_from_slice(&e);
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

fn entry(bootable: bool, kind: u8, first: u32, sectors: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = if bootable { 0x80 } else { 0 };
    e[1..4].copy_from_slice(&chs(u64::from(first)));
    e[4] = kind;
    e[5..8].copy_from_slice(&chs((u64::from(first) + u64::from(sectors)).saturating_sub(1)));
    e[8..12].copy_from_slice(&first.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    e
}

/// Cylinder-head-sector address with 255 heads and 63 sectors per track, saturating at
/// the largest address CHS can hold, as fdisk writes it.
fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SPT: u64 = 63;
    if lba >= 1024 * HEADS * SPT {
        return [0xFE, 0xFF, 0xFF];
    }
    let c = lba / (HEADS * SPT);
    let h = (lba / SPT) % HEADS;
    let s = lba % SPT + 1;
    [h as u8, (s as u8) | (((c >> 8) as u8) << 6), c as u8]
}

/// Parses the four primary entries of an MBR sector, skipping empty ones.
pub(crate) fn parse(sector: &[u8]) -> Result<Table, String> {
    if sector[510] != 0x55 || sector[511] != 0xAA {
        return Err("no 0x55AA boot signature in sector 0".into());
    }
    let mut partitions = Vec::new();
    for i in 0..4 {
        let e = &sector[446 + 16 * i..462 + 16 * i];
        if e[4] == 0 {
            continue;
        }
        partitions.push(Partition {
            slot: i,
            kind: e[4],
            bootable: e[0] == 0x80,
            first_lba: u32::from_le_bytes([e[8], e[9], e[10], e[11]]),
            sectors: u32::from_le_bytes([e[12], e[13], e[14], e[15]]),
        });
    }
    Ok(Table { disk_signature: u32::from_le_bytes([sector[440], sector[441], sector[442], sector[443]]), partitions })
}

#[cfg(test)]
mod tests {
    use super::chs;

    #[test]
    fn chs_matches_fdisk() {
        assert_eq!(chs(2048), [32, 33, 0]);
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(1 << 40), [0xFE, 0xFF, 0xFF]);
    }
}
