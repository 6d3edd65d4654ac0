use crate::error::{Result, ResultExt};
use ingot_disk::{read_table, Table, SECTOR};
use ingot_types::PartitionType;
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
    /// The BIOS boot code in the MBR's first 440 bytes: `"grub"` (GRUB's boot.img), `"other"`,
    /// or none when they are all zero.
    pub bios_boot_code: Option<String>,
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
    /// The type's name as a recipe spells it (`esp`, `root-x86-64`, …), if it has one.
    pub type_name: Option<String>,
    /// The PARTUUID: the unique partition GUID (GPT), or the disk signature and the
    /// partition number (MBR: `SSSSSSSS-PP`).
    pub guid: Option<String>,
    /// GPT partition name.
    pub label: Option<String>,
    /// MBR active flag.
    pub bootable: Option<bool>,
    /// The filesystem found at its start: "vfat", "ext4", "erofs" or none.
    pub filesystem: Option<String>,
    /// Its label, UUID and space, read from its superblock or boot sector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem_info: Option<FilesystemInfo>,
    /// The dm-verity superblock at its start, when it holds a hash device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity: Option<VerityInfo>,
    /// On a FAT volume: every EFI (PE/COFF) binary, by path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub efi_binaries: Vec<EfiBinary>,
    /// Why the FAT volume could not be read for EFI binaries (a damaged volume); the
    /// partition is still reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efi_error: Option<String>,
    /// What is wrong with where the table puts it: past the end of the disk, or over
    /// another partition. Its filesystem is not read then.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A dm-verity hash device's superblock, as `veritysetup dump` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct VerityInfo {
    /// The hash device's UUID.
    pub uuid: String,
    /// 1 (the normal format) or 0 (Chrome OS's).
    pub hash_type: u32,
    /// The hash algorithm (`sha256`).
    pub algorithm: String,
    /// Data block size in bytes.
    pub data_block_size: u32,
    /// Hash block size in bytes.
    pub hash_block_size: u32,
    /// Data blocks the tree covers.
    pub data_blocks: u64,
    /// The salt, lowercase hex.
    pub salt: String,
}

/// The verity superblock at the start of a partition (`head`), if there is one.
fn verity_info(head: &[u8]) -> Option<VerityInfo> {
    let sb = ingot_verity::Superblock::parse(head)?;
    Some(VerityInfo {
        uuid: sb.uuid.to_string(),
        hash_type: sb.hash_type,
        algorithm: sb.algorithm,
        data_block_size: sb.data_block_size,
        hash_block_size: sb.hash_block_size,
        data_blocks: sb.data_blocks,
        salt: hex::encode(sb.salt),
    })
}

/// A filesystem's identity and space, as `dumpe2fs -h` and `fsck.fat -v` report them.
#[derive(Clone, Debug, Serialize)]
pub struct FilesystemInfo {
    /// The volume label (ext4 `s_volume_name`, FAT `BS_VolLab`); empty if none.
    pub label: String,
    /// ext4: the filesystem UUID; FAT: the volume serial as `XXXX-XXXX` (what `blkid`
    /// calls its UUID).
    pub uuid: String,
    /// The allocation unit in bytes: the ext4 block or the FAT cluster.
    pub unit: u64,
    /// Units in the filesystem (ext4 `s_blocks_count`; FAT data clusters).
    pub units: u64,
    /// Free units (ext4 `s_free_blocks_count`; FAT free clusters).
    pub free_units: u64,
    /// The filesystem's size in bytes: units × unit.
    pub size: u64,
    /// Bytes in use: (units - free units) × unit.
    pub used: u64,
    /// Bytes free: free units × unit.
    pub free: u64,
    /// EROFS: how its files are stored, `none` or `lz4`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// The [`FilesystemInfo`] of the `filesystem` at `offset`, if it can be read and its
/// figures are possible (a damaged or hostile superblock may claim more than the
/// partition holds: then there is none).
fn filesystem_info(file: &File, offset: u64, size: u64, filesystem: &str) -> Option<FilesystemInfo> {
    let info = |label: String, uuid: String, unit: u64, units: u64, free_units: u64| {
        let total = units.checked_mul(unit).filter(|&t| t <= size && free_units <= units)?;
        Some(FilesystemInfo {
            label,
            uuid,
            unit,
            units,
            free_units,
            size: total,
            used: (units - free_units) * unit,
            free: free_units * unit,
            compression: None,
        })
    };
    match filesystem {
        "ext4" => {
            let mut sb = [0u8; 1024];
            file.read_exact_at(&mut sb, offset + 1024).ok()?;
            let s = ingot_ext4::summary(&sb)?;
            let uuid = uuid::Uuid::from_bytes(s.s_uuid).to_string();
            info(s.s_volume_name, uuid, s.block_size, s.s_blocks_count, s.s_free_blocks_count)
        }
        "erofs" => {
            let mut block0 = vec![0u8; ingot_erofs::BLOCK_SIZE as usize];
            file.read_exact_at(&mut block0, offset).ok()?;
            let s = ingot_erofs::summary(&block0)?;
            let uuid = uuid::Uuid::from_bytes(s.uuid).to_string();
            // Read-only: every block is in use.
            let compression = if s.lz4 { "lz4" } else { "none" };
            info(s.volume_name, uuid, s.block_size, s.blocks, 0)
                .map(|i| FilesystemInfo { compression: Some(compression.into()), ..i })
        }
        "vfat" => {
            let s = caught(|| ingot_fat::summary(file, offset, size))?.ok()?;
            let serial = ingot_fat::volume_serial(s.volume_id);
            let label = if s.volume_label == ingot_fat::NO_LABEL { String::new() } else { s.volume_label };
            info(label, serial, u64::from(s.cluster_size), s.total_clusters.into(), s.free_clusters.into())
        }
        _ => None,
    }
}

/// `read()`, or `None` if it panicked: the FAT reader (the fatfs crate) may panic on a
/// hostile volume's cluster numbers, which is a finding about that partition, not a crash.
/// The panic hook is the process's own and is left alone (a library holds no process-wide
/// state); the `ingot` binary's hook keeps fatfs's panics quiet ([`is_fat_reader_panic`]).
pub(crate) fn caught<T>(read: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).ok()
}

/// Whether a panic at `file` (a source path, as `std::panic::Location` gives it) is the
/// FAT reader's: [`inspect`] catches those and reports the volume as damaged.
pub fn is_fat_reader_panic(file: &str) -> bool {
    file.contains("fatfs")
}

/// What the MBR's boot code area (its first 440 bytes) holds.
fn bios_boot_code(file: &File) -> Option<String> {
    let mut code = [0u8; 440];
    file.read_exact_at(&mut code, 0).ok()?;
    if code.iter().all(|&b| b == 0) {
        return None;
    }
    // GRUB's boot.img carries its name for its error messages ("GRUB " then "Geom").
    Some(if code.windows(5).any(|w| w == b"GRUB ") { "grub" } else { "other" }.to_string())
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
    let found = caught(|| ingot_fat::files(file, offset, size, |_, head| head.starts_with(b"MZ")))
        .ok_or_else(|| std::io::Error::other("the FAT volume is damaged (its cluster numbers are out of range)"))??;
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
    // Checked before opening: opening a FIFO blocks until something writes to it.
    ingot_types::input::regular_len(path).context("ingot inspect reads an image file")?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata()?.len();
    let size_of_disk = size;
    let table = read_table(&file, size).with_context(|| format!("{}", path.display()))?;
    let mut partitions = Vec::new();
    let entries = table.partitions();
    for e in &entries {
        let (kind, guid, label, bootable) = match &table {
            Table::Gpt(t) => {
                let p = &t.partitions[e.index];
                let kind = PartitionType::Gpt(p.type_guid);
                (kind, Some(p.guid.to_string()), Some(p.name.clone()), None)
            }
            Table::Mbr(t) => {
                let p = &t.partitions[e.index];
                let partuuid = ingot_disk::mbr::partuuid(t.disk_signature, e.number);
                (PartitionType::Mbr(p.kind), Some(partuuid), None, Some(p.bootable))
            }
        };
        // read_table bounds every extent, so these products fit in a u64.
        let (offset, size) = (e.first_lba * SECTOR, e.sectors * SECTOR);
        let warnings = placement_warnings(e, &entries, size_of_disk);
        // What a partition holds is read from its first bytes, once.
        let head = if warnings.is_empty() { head(&file, offset, size) } else { None };
        let filesystem = head.as_deref().and_then(sniff);
        let (efi_binaries, efi_error) = match filesystem.as_deref() {
            Some("vfat") => match efi_binaries(&file, offset, size) {
                Ok(found) => (found, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            },
            _ => (Vec::new(), None),
        };
        let filesystem_info = filesystem.as_deref().and_then(|fs| filesystem_info(&file, offset, size, fs));
        let verity = if filesystem.is_none() { head.as_deref().and_then(verity_info) } else { None };
        partitions.push(InspectedPartition {
            number: e.number,
            offset,
            size,
            kind: kind.to_string(),
            type_name: kind.name().map(String::from),
            guid,
            label,
            bootable,
            filesystem,
            filesystem_info,
            verity,
            efi_binaries,
            efi_error,
            warnings,
        });
    }
    let (name, disk_id) = match &table {
        Table::Gpt(t) => ("gpt", t.disk_guid.to_string()),
        Table::Mbr(t) => ("mbr", format!("{:08x}", t.disk_signature)),
    };
    Ok(Inspection { size, table: name.into(), disk_id, bios_boot_code: bios_boot_code(&file), partitions })
}

/// What is wrong with where the table puts `e`: past the end of a disk of `disk` bytes,
/// or over another of `all`.
fn placement_warnings(e: &ingot_disk::TableEntry, all: &[ingot_disk::TableEntry], disk: u64) -> Vec<String> {
    let end = |p: &ingot_disk::TableEntry| p.first_lba + p.sectors;
    let mut out = Vec::new();
    if end(e) > disk / SECTOR {
        out.push(format!("ends at LBA {}, past the end of the disk (LBA {})", end(e) - 1, disk / SECTOR - 1));
    }
    for o in all.iter().filter(|o| o.number != e.number && o.first_lba < end(e) && e.first_lba < end(o)) {
        out.push(format!("overlaps partition {}", o.number));
    }
    out
}

/// Bytes read from a partition's start to tell what it holds: ext4's superblock ends
/// below 2048, FAT's boot sector and verity's superblock below 512.
const HEAD: usize = 2048;

/// The first [`HEAD`] bytes of the partition at `offset`, if it has that many.
fn head(file: &File, offset: u64, size: u64) -> Option<Vec<u8>> {
    let mut b = vec![0u8; HEAD];
    (size >= HEAD as u64 && file.read_exact_at(&mut b, offset).is_ok()).then_some(b)
}

/// The filesystem whose signature `b` (a partition's [`head`]) holds.
fn sniff(b: &[u8]) -> Option<String> {
    if b[1080..1082] == [0x53, 0xEF] {
        return Some("ext4".into());
    }
    if b[1024..1028] == [0xE2, 0xE1, 0xF5, 0xE0] {
        return Some("erofs".into());
    }
    if b[510..512] == [0x55, 0xAA] && (&b[82..87] == b"FAT32" || &b[54..59] == b"FAT16" || &b[54..59] == b"FAT12") {
        return Some("vfat".into());
    }
    None
}
