use crate::error::{Result, ResultExt};
use ingot_disk::{read_table, Table, SECTOR};
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A partition table read back from an image.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Image size in bytes.
    pub size: u64,
    /// "gpt" or "mbr".
    pub table: String,
    /// GPT disk GUID or MBR disk signature (8 hex digits).
    pub disk_id: String,
    /// Partitions in table order.
    pub partitions: Vec<InspectedPartition>,
}

/// One partition found by [`inspect`].
#[derive(Clone, Debug, Serialize)]
pub struct InspectedPartition {
    /// 1-based number.
    pub number: usize,
    /// Byte offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Type GUID or `0xNN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Partition GUID (GPT only).
    pub guid: Option<String>,
    /// GPT partition name.
    pub label: Option<String>,
    /// MBR active flag.
    pub bootable: Option<bool>,
    /// The filesystem found at its start: "vfat", "ext4" or none.
    pub filesystem: Option<String>,
    /// On a FAT volume: every EFI (PE/COFF) binary, by path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub efi_binaries: Vec<EfiBinary>,
    /// Why the FAT volume could not be read for EFI binaries (a damaged volume); the
    /// partition is still reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efi_error: Option<String>,
}

/// An EFI binary found on a FAT volume.
#[derive(Clone, Debug, Serialize)]
pub struct EfiBinary {
    /// Its path on the volume.
    pub path: String,
    /// `x86_64`, `arm64`, or the PE `Machine` of another architecture.
    pub architecture: Option<String>,
    /// The subjects of the certificates that signed it (Authenticode); empty if unsigned.
    pub signed_by: Vec<String>,
}

/// The EFI binaries of the FAT volume at `offset`: files that start with `MZ`. The FAT
/// reader (the fatfs crate) may panic on a hostile volume's cluster numbers; that is an
/// error of this partition, not of the whole inspection.
fn efi_binaries(file: &File, offset: u64, size: u64) -> Result<Vec<EfiBinary>> {
    let read = || ingot_fat::files(file, offset, size, |_, head| head.starts_with(b"MZ"));
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .map_err(|_| std::io::Error::other("the FAT volume is damaged (its cluster numbers are out of range)"))??;
    Ok(found
        .into_iter()
        .map(|(path, bytes)| EfiBinary {
            architecture: ingot_boot::architecture(&bytes),
            signed_by: ingot_boot::authenticode::signers(&bytes)
                .unwrap_or_else(|e| vec![format!("(malformed signature: {e})")]),
            path,
        })
        .collect())
}

/// Reads an image's partition table (verifying GPT CRCs and the backup header) and
/// recognises the filesystem at the start of each partition.
pub fn inspect(path: &Path) -> Result<Inspection> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata()?.len();
    let table = read_table(&file, size).with_context(|| format!("{}", path.display()))?;
    let mut partitions = Vec::new();
    for e in table.partitions() {
        let (kind, guid, label, bootable) = match &table {
            Table::Gpt(t) => {
                let p = &t.partitions[e.number - 1];
                (p.type_guid.to_string(), Some(p.guid.to_string()), Some(p.name.clone()), None)
            }
            Table::Mbr(t) => {
                let p = &t.partitions[e.number - 1];
                (format!("0x{:02x}", p.kind), None, None, Some(p.bootable))
            }
        };
        let (offset, size) = (e.first_lba * SECTOR, e.sectors * SECTOR);
        let filesystem = sniff(&file, offset, size);
        let (efi_binaries, efi_error) = match filesystem.as_deref() {
            Some("vfat") => match efi_binaries(&file, offset, size) {
                Ok(found) => (found, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            },
            _ => (Vec::new(), None),
        };
        partitions.push(InspectedPartition {
            number: e.number,
            offset,
            size,
            kind,
            guid,
            label,
            bootable,
            filesystem,
            efi_binaries,
            efi_error,
        });
    }
    let (name, disk_id) = match &table {
        Table::Gpt(t) => ("gpt", t.disk_guid.to_string()),
        Table::Mbr(t) => ("mbr", format!("{:08x}", t.disk_signature)),
    };
    Ok(Inspection { size, table: name.into(), disk_id, partitions })
}

fn sniff(file: &File, offset: u64, size: u64) -> Option<String> {
    let mut b = vec![0u8; 2048];
    if size < 2048 || file.read_exact_at(&mut b, offset).is_err() {
        return None;
    }
    if b[1080..1082] == [0x53, 0xEF] {
        return Some("ext4".into());
    }
    if b[510..512] == [0x55, 0xAA] && (&b[82..87] == b"FAT32" || &b[54..59] == b"FAT16" || &b[54..59] == b"FAT12") {
        return Some("vfat".into());
    }
    None
}
