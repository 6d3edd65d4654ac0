use crate::RecipeError;
use crate::{PartitionSpec, Recipe, SizeSpec, Verity};
use ingot_disk::{gpt, SECTOR};
use ingot_types::{PartitionType, TableKind};
use uuid::Uuid;

/// A recipe placed on a disk: every size, offset and identifier resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The image name.
    pub name: String,
    /// The disk size in bytes.
    pub disk_size: u64,
    /// The partition table.
    pub table: TableKind,
    /// Disk GUID (GPT).
    pub disk_guid: Uuid,
    /// Disk signature (MBR).
    pub disk_signature: u32,
    /// Every timestamp is clamped to this.
    pub source_date_epoch: i64,
    /// The partitions in table order.
    pub partitions: Vec<PlannedPartition>,
}

/// One partition placed on the disk.
#[derive(Clone, Debug)]
pub struct PlannedPartition {
    /// 1-based partition number.
    pub number: usize,
    /// Byte offset of its first sector.
    pub offset: u64,
    /// Size in bytes (a multiple of 512).
    pub size: u64,
    /// Unique partition GUID (GPT PARTUUID), derived from the seed.
    pub guid: Uuid,
    /// The recipe's description of it.
    pub spec: PartitionSpec,
}

impl PlannedPartition {
    /// The partition's type GUID or byte.
    pub fn kind(&self) -> PartitionType {
        self.spec.kind
    }
}

fn align_up(n: u64, a: u64) -> u64 {
    n.div_ceil(a) * a
}

impl Recipe {
    /// The unique GUID (PARTUUID) of partition `number` (1-based), from the seed.
    pub fn partition_guid(&self, number: usize) -> Uuid {
        self.seed.uuid(&format!("partition/{number}/guid"))
    }

    /// The PARTUUID the kernel knows partition `number` (1-based) by: its GPT unique GUID,
    /// or on MBR disks the disk signature and the partition number (`SSSSSSSS-PP`).
    pub fn partuuid(&self, number: usize) -> String {
        match self.table {
            TableKind::Gpt => self.partition_guid(number).to_string(),
            TableKind::Mbr => ingot_disk::mbr::partuuid(self.disk_signature(), number),
        }
    }

    /// The filesystem UUID of ext4 partition `number` (1-based), from the seed.
    pub fn ext4_uuid(&self, number: usize) -> Uuid {
        self.seed.uuid(&format!("partition/{number}/ext4-uuid"))
    }

    /// The filesystem UUID of EROFS partition `number` (1-based), from the seed.
    pub fn erofs_uuid(&self, number: usize) -> Uuid {
        self.seed.uuid(&format!("partition/{number}/erofs-uuid"))
    }

    /// The ext4 directory hash seed of partition `number` (1-based), from the seed.
    pub fn ext4_hash_seed(&self, number: usize) -> Uuid {
        self.seed.uuid(&format!("partition/{number}/ext4-hash-seed"))
    }

    /// The dm-verity salt of data partition `number` (1-based), from the seed: 32 bytes,
    /// as `veritysetup format` makes by default.
    pub fn verity_salt(&self, number: usize) -> [u8; 32] {
        self.seed.bytes(&format!("partition/{number}/verity-salt"))
    }

    /// The UUID in the dm-verity superblock of hash partition `number` (1-based), from
    /// the seed.
    pub fn verity_uuid(&self, number: usize) -> Uuid {
        self.seed.uuid(&format!("partition/{number}/verity-uuid"))
    }

    /// The FAT volume serial of partition `number` (1-based), from the seed.
    pub fn vfat_serial(&self, number: usize) -> u32 {
        self.seed.u32(&format!("partition/{number}/vfat-serial"))
    }

    /// The disk's identifier as reports print it: the GPT disk GUID, or the MBR disk
    /// signature as 8 hex digits.
    pub fn disk_id(&self) -> String {
        match self.table {
            TableKind::Gpt => self.disk_guid().to_string(),
            TableKind::Mbr => format!("{:08x}", self.disk_signature()),
        }
    }

    /// The GPT disk GUID, from the seed.
    pub fn disk_guid(&self) -> Uuid {
        self.seed.uuid("disk/guid")
    }

    /// The MBR disk signature, from the seed.
    pub fn disk_signature(&self) -> u32 {
        self.seed.u32("disk/mbr-signature")
    }

    /// Places the partitions. `content[i]` is the size partition `i`'s content needs,
    /// required for `size = "auto"` partitions (and for `fill` when the disk size is
    /// `auto`).
    pub fn layout(&self, content: &[Option<u64>]) -> Result<Plan, RecipeError> {
        let a = self.alignment;
        let backup = if self.table == TableKind::Gpt { gpt::BACKUP_SECTORS * SECTOR } else { 0 };
        let first_usable = if self.table == TableKind::Gpt { gpt::FIRST_USABLE_LBA * SECTOR } else { SECTOR };
        let limit = match self.size {
            SizeSpec::Bytes(n) if n % SECTOR != 0 => {
                return Err(self.loc.at(self.size_span.start, "size: the disk size must be a multiple of 512 bytes"));
            }
            SizeSpec::Bytes(n) => Some(n.saturating_sub(backup)),
            _ => None,
        };
        let sizes = self.partition_sizes(content)?;
        let mut placed: Vec<(u64, u64)> = Vec::new();
        let mut cursor = first_usable;
        for (i, p) in self.partitions.iter().enumerate() {
            let start = match p.start {
                Some(s) => self.check_start(i, s, cursor, first_usable)?,
                None => align_up(cursor, a),
            };
            let size = match sizes[i] {
                Some(s) => s,
                None => {
                    let tail: u64 = sizes[i + 1..].iter().map(|s| align_up(s.unwrap_or(0), a)).sum();
                    let mut room = limit.unwrap_or(0).saturating_sub(start).saturating_sub(tail) / a * a;
                    if matches!(p.verity, Verity::Data { .. }) {
                        room -= room % crate::verity::BLOCK;
                    }
                    if room == 0 {
                        return Err(self.loc.at(p.size_span.start, format!(
                            "partition[{i}].size: \"fill\" has no room left: the other partitions take the whole disk; make the disk `size` larger"
                        )));
                    }
                    room
                }
            };
            placed.push((start, size));
            cursor = start + size;
        }
        self.check_hash_sizes(&placed)?;
        let disk_size = match limit {
            Some(limit) => {
                if cursor > limit {
                    return Err(self.loc.at(
                        self.size_span.start,
                        format!(
                            "size: the partitions need {} but the disk has {} for them; make `size` at least {}",
                            human(cursor),
                            human(limit),
                            human(align_up(cursor + backup, 1 << 20))
                        ),
                    ));
                }
                limit + backup
            }
            None => align_up(cursor + backup, a.max(1 << 20)),
        };
        if self.table == TableKind::Mbr && disk_size / SECTOR > u64::from(u32::MAX) {
            return Err(self
                .loc
                .at(self.size_span.start, "size: an MBR disk can't address more than 2 TiB; use table = \"gpt\""));
        }
        let partitions = self.partitions.iter().zip(placed).enumerate().map(|(i, (spec, (offset, size)))| {
            PlannedPartition { number: i + 1, offset, size, guid: self.partition_guid(i + 1), spec: spec.clone() }
        });
        Ok(Plan {
            name: self.name.clone(),
            disk_size,
            table: self.table,
            disk_guid: self.disk_guid(),
            disk_signature: self.disk_signature(),
            source_date_epoch: self.source_date_epoch,
            partitions: partitions.collect(),
        })
    }

    /// Each partition's size, or `None` for the one `fill` partition on a fixed-size disk.
    fn partition_sizes(&self, content: &[Option<u64>]) -> Result<Vec<Option<u64>>, RecipeError> {
        let disk_auto = self.size == SizeSpec::Auto;
        let mut sizes = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| match p.size {
                SizeSpec::Bytes(n) => Ok(Some(n)),
                SizeSpec::Fill if !disk_auto => Ok(None),
                // Sized below, from its data partition's size.
                _ if matches!(p.verity, Verity::Hash { .. }) => Ok(Some(0)),
                _ => match content.get(i).copied().flatten() {
                    // Whole alignment units, so that the partition ends where the next
                    // may start (sgdisk -v cautions against an end between them).
                    Some(n) => Ok(Some(align_up(n.max(SECTOR), self.alignment))),
                    None => Err(self.loc.at(
                        p.size_span.start,
                        format!("partition[{i}].size: \"auto\" needs content to measure; give a size"),
                    )),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (data, hash) in self.verity_pairs() {
            if sizes[hash] != Some(0) {
                continue;
            }
            let data_size = sizes[data].ok_or_else(|| {
                self.loc.at(self.partitions[hash].size_span.start, format!(
                    "partition[{hash}].size: \"auto\" sizes a hash tree from its data partition's size, and partition[{data}] is \"fill\": give one of them a size"
                ))
            })?;
            let data_size = align_up(data_size, crate::verity::BLOCK);
            sizes[data] = Some(data_size);
            sizes[hash] = Some(align_up(crate::verity::hash_size(data_size), self.alignment));
        }
        Ok(sizes)
    }

    /// Checks that each hash partition holds its data partition's tree, once both are
    /// placed (`placed[i]` is partition `i`'s offset and size).
    fn check_hash_sizes(&self, placed: &[(u64, u64)]) -> Result<(), RecipeError> {
        for (data, hash) in self.verity_pairs() {
            let need = crate::verity::hash_size(placed[data].1);
            if placed[hash].1 < need {
                return Err(self.loc.at(self.partitions[hash].size_span.start, format!(
                    "partition[{hash}].size: the hash tree of partition[{data}] ({} of data) needs {}; make `size` at least that, or \"auto\"",
                    human(placed[data].1),
                    human(need)
                )));
            }
        }
        Ok(())
    }

    fn check_start(&self, i: usize, start: u64, cursor: u64, first_usable: u64) -> Result<u64, RecipeError> {
        let at = self.partitions[i].start_span.start;
        if start % self.alignment != 0 {
            return Err(self.loc.at(
                at,
                format!(
                    "partition[{i}].start: {} is not a multiple of the alignment {}",
                    human(start),
                    human(self.alignment)
                ),
            ));
        }
        if start < first_usable {
            return Err(self.loc.at(
                at,
                format!(
                    "partition[{i}].start: {} overlaps the partition table, which ends at {}",
                    human(start),
                    human(first_usable)
                ),
            ));
        }
        if start < cursor {
            return Err(self.loc.at(
                at,
                format!(
                    "partition[{i}].start: {} overlaps partition {i}, which ends at {}",
                    human(start),
                    human(cursor)
                ),
            ));
        }
        Ok(start)
    }
}

/// Bytes as a human reads them: `"1.5 GiB (1610612736 bytes)"`.
fn human(n: u64) -> String {
    match crate::format_size(n) {
        short if n >= 1024 => format!("{short} ({n} bytes)"),
        short => short,
    }
}
