//! Partition types: the names a recipe spells (`type = "esp"`), their GPT type GUIDs and
//! MBR type bytes, in one table that the recipe's validation, the build, the boot chain
//! and `ingot inspect` all read. GUIDs: UEFI 2.10 §5.3.3 (EFI system partition) and the
//! UAPI Group's Discoverable Partitions Specification (root, XBOOTLDR, swap, Linux data);
//! BIOS boot is GRUB's; MBR bytes as fdisk and the kernel's partition code know them.
//!
//! ```
//! use ingot_types::{PartitionType, TableKind};
//! let esp = PartitionType::named("esp", TableKind::Gpt).unwrap();
//! assert_eq!(esp.name(), Some("esp"));
//! assert_eq!(PartitionType::Mbr(0x83).name(), Some("linux"));
//! assert_eq!(PartitionType::named("bios-boot", TableKind::Mbr), None);
//! assert_eq!(PartitionType::Mbr(0x83).to_string(), "0x83");
//! ```

use crate::TableKind;
use uuid::{uuid, Uuid};

/// GPT partition type GUIDs.
pub mod gpt {
    use super::{uuid, Uuid};

    /// EFI system partition.
    pub const EFI_SYSTEM: Uuid = uuid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    /// BIOS boot partition (GRUB's core.img on GPT disks).
    pub const BIOS_BOOT: Uuid = uuid!("21686148-6449-6e6f-744e-656564454649");
    /// Linux filesystem data.
    pub const LINUX_FILESYSTEM: Uuid = uuid!("0fc63daf-8483-4772-8e79-3d69d8477de4");
    /// Root partition for x86-64.
    pub const ROOT_X86_64: Uuid = uuid!("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
    /// Root partition for 64-bit ARM.
    pub const ROOT_ARM64: Uuid = uuid!("b921b045-1df0-41c3-af44-4c6f280d3fae");
    /// `/usr` partition for x86-64.
    pub const USR_X86_64: Uuid = uuid!("8484680c-9521-48c6-9c11-b0720656f69e");
    /// `/usr` partition for 64-bit ARM.
    pub const USR_ARM64: Uuid = uuid!("b0e01050-ee5f-4390-949a-9101b17104e9");
    /// dm-verity hash partition of an x86-64 root partition.
    pub const ROOT_X86_64_VERITY: Uuid = uuid!("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5");
    /// dm-verity hash partition of a 64-bit ARM root partition.
    pub const ROOT_ARM64_VERITY: Uuid = uuid!("df3300ce-d69f-4c92-978c-9bfb0f38d820");
    /// dm-verity hash partition of an x86-64 `/usr` partition.
    pub const USR_X86_64_VERITY: Uuid = uuid!("77ff5f63-e7b6-4633-acf4-1565b864c0e6");
    /// dm-verity hash partition of a 64-bit ARM `/usr` partition.
    pub const USR_ARM64_VERITY: Uuid = uuid!("6e11a4e7-fbca-4ded-b9e9-e1a512bb664e");
    /// Extended boot loader partition.
    pub const XBOOTLDR: Uuid = uuid!("bc13c2ff-59e6-4262-a352-b275fd6f7172");
    /// Linux swap.
    pub const LINUX_SWAP: Uuid = uuid!("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f");
}

/// MBR partition type bytes.
pub mod mbr {
    /// EFI system partition.
    pub const EFI_SYSTEM: u8 = 0xEF;
    /// Linux filesystem.
    pub const LINUX: u8 = 0x83;
    /// Linux swap.
    pub const LINUX_SWAP: u8 = 0x82;
    /// Extended boot loader partition (the Boot Loader Specification's byte).
    pub const XBOOTLDR: u8 = 0xEA;
}

/// A partition type resolved for a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartitionType {
    /// A GPT partition type GUID.
    Gpt(Uuid),
    /// An MBR partition type byte.
    Mbr(u8),
}

/// Every named type: its name, GPT type GUID and MBR type byte (where it has one). On MBR
/// several names share a byte (0x83); the first is the one [`PartitionType::name`] gives.
/// The dm-verity hash partitions exist on GPT only.
pub const PARTITION_TYPES: [(&str, Option<Uuid>, Option<u8>); 13] = [
    ("esp", Some(gpt::EFI_SYSTEM), Some(mbr::EFI_SYSTEM)),
    ("bios-boot", Some(gpt::BIOS_BOOT), None),
    ("linux", Some(gpt::LINUX_FILESYSTEM), Some(mbr::LINUX)),
    ("root-x86-64", Some(gpt::ROOT_X86_64), Some(mbr::LINUX)),
    ("root-arm64", Some(gpt::ROOT_ARM64), Some(mbr::LINUX)),
    ("usr-x86-64", Some(gpt::USR_X86_64), Some(mbr::LINUX)),
    ("usr-arm64", Some(gpt::USR_ARM64), Some(mbr::LINUX)),
    ("root-x86-64-verity", Some(gpt::ROOT_X86_64_VERITY), None),
    ("root-arm64-verity", Some(gpt::ROOT_ARM64_VERITY), None),
    ("usr-x86-64-verity", Some(gpt::USR_X86_64_VERITY), None),
    ("usr-arm64-verity", Some(gpt::USR_ARM64_VERITY), None),
    ("xbootldr", Some(gpt::XBOOTLDR), Some(mbr::XBOOTLDR)),
    ("swap", Some(gpt::LINUX_SWAP), Some(mbr::LINUX_SWAP)),
];

/// The Discoverable Partitions Specification's dm-verity hash types and the data type
/// each protects.
const VERITY_PAIRS: [(Uuid, Uuid); 4] = [
    (gpt::ROOT_X86_64_VERITY, gpt::ROOT_X86_64),
    (gpt::ROOT_ARM64_VERITY, gpt::ROOT_ARM64),
    (gpt::USR_X86_64_VERITY, gpt::USR_X86_64),
    (gpt::USR_ARM64_VERITY, gpt::USR_ARM64),
];

/// The type as tables and reports write it: the GUID, or `0xNN`.
impl std::fmt::Display for PartitionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionType::Gpt(g) => write!(f, "{g}"),
            PartitionType::Mbr(b) => write!(f, "0x{b:02x}"),
        }
    }
}

impl PartitionType {
    /// The name a recipe spells this type by, if it has one.
    pub fn name(self) -> Option<&'static str> {
        PARTITION_TYPES
            .iter()
            .find(|(_, g, m)| match self {
                PartitionType::Gpt(u) => *g == Some(u),
                PartitionType::Mbr(b) => *m == Some(b),
            })
            .map(|(name, _, _)| *name)
    }

    /// The type `name` stands for on a `table`, if it is a name of the table and the type
    /// has a form there.
    pub fn named(name: &str, table: TableKind) -> Option<PartitionType> {
        let &(_, g, m) = PARTITION_TYPES.iter().find(|(n, _, _)| *n == name)?;
        match table {
            TableKind::Gpt => g.map(PartitionType::Gpt),
            TableKind::Mbr => m.map(PartitionType::Mbr),
        }
    }

    /// The root partition type of `arch` (Discoverable Partitions Specification).
    pub fn root(arch: crate::Arch) -> PartitionType {
        PartitionType::Gpt(match arch {
            crate::Arch::X86_64 => gpt::ROOT_X86_64,
            crate::Arch::Arm64 => gpt::ROOT_ARM64,
        })
    }

    /// For a dm-verity hash type (`root-x86-64-verity` …), the data type it protects
    /// (`root-x86-64` …); `None` for every other type.
    pub fn verity_data(self) -> Option<PartitionType> {
        let PartitionType::Gpt(g) = self else { return None };
        VERITY_PAIRS.iter().find(|(hash, _)| *hash == g).map(|&(_, data)| PartitionType::Gpt(data))
    }

    /// For a data type with a dm-verity hash type (`root-x86-64` …), that hash type.
    pub fn verity_hash(self) -> Option<PartitionType> {
        let PartitionType::Gpt(g) = self else { return None };
        VERITY_PAIRS.iter().find(|(_, data)| *data == g).map(|&(hash, _)| PartitionType::Gpt(hash))
    }

    /// The GPT type GUID: the type's own, or Linux data for an MBR byte (a hybrid
    /// table's GPT side).
    pub fn gpt_guid(self) -> Uuid {
        match self {
            PartitionType::Gpt(g) => g,
            PartitionType::Mbr(_) => gpt::LINUX_FILESYSTEM,
        }
    }

    /// The MBR type byte: the type's own, or Linux for a GUID (a hybrid table's MBR side).
    pub fn mbr_byte(self) -> u8 {
        match self {
            PartitionType::Mbr(b) => b,
            PartitionType::Gpt(_) => mbr::LINUX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_verity_types_are_gpt_only() {
        for (i, (name, g, _)) in PARTITION_TYPES.iter().enumerate() {
            assert!(PARTITION_TYPES[i + 1..].iter().all(|(n, other, _)| n != name && other != g), "{name}");
        }
        let verity = PartitionType::named("root-x86-64-verity", TableKind::Gpt);
        assert_eq!(verity, Some(PartitionType::Gpt(gpt::ROOT_X86_64_VERITY)));
        assert_eq!(verity.and_then(PartitionType::name), Some("root-x86-64-verity"));
        assert_eq!(PartitionType::named("usr-arm64-verity", TableKind::Mbr), None);
        let root = PartitionType::Gpt(gpt::ROOT_X86_64);
        assert_eq!(verity.and_then(PartitionType::verity_data), Some(root));
        assert_eq!(root.verity_hash(), verity);
        assert_eq!(root.verity_data(), None);
        assert_eq!(PartitionType::Mbr(mbr::LINUX).verity_hash(), None);
    }
}
