//! Partition types: the names a recipe spells (`type = "esp"`), their GPT type GUIDs and
//! MBR type bytes, in one table that the recipe's validation and `ingot inspect` both read.

use ingot_disk::{gpt, mbr};
use ingot_types::TableKind;
use toml::Value;
use uuid::Uuid;

/// A partition type resolved for the recipe's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionType {
    /// A GPT partition type GUID.
    Gpt(Uuid),
    /// An MBR partition type byte.
    Mbr(u8),
}

/// Every named type: its name, GPT type GUID and MBR type byte (where it has one). On MBR
/// several names share a byte (0x83); the first is the one [`PartitionType::name`] gives.
pub const PARTITION_TYPES: [(&str, Option<Uuid>, Option<u8>); 7] = [
    ("esp", Some(gpt::EFI_SYSTEM), Some(mbr::EFI_SYSTEM)),
    ("bios-boot", Some(gpt::BIOS_BOOT), None),
    ("linux", Some(gpt::LINUX_FILESYSTEM), Some(mbr::LINUX)),
    ("root-x86-64", Some(gpt::ROOT_X86_64), Some(mbr::LINUX)),
    ("root-arm64", Some(gpt::ROOT_ARM64), Some(mbr::LINUX)),
    ("xbootldr", Some(gpt::XBOOTLDR), Some(0xEA)),
    ("swap", Some(gpt::LINUX_SWAP), Some(mbr::LINUX_SWAP)),
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
    ///
    /// ```
    /// use ingot_recipe::PartitionType;
    /// assert_eq!(PartitionType::Mbr(0x83).name(), Some("linux"));
    /// assert_eq!(PartitionType::Gpt(uuid::Uuid::nil()).name(), None);
    /// ```
    pub fn name(self) -> Option<&'static str> {
        PARTITION_TYPES
            .iter()
            .find(|(_, g, m)| match self {
                PartitionType::Gpt(u) => *g == Some(u),
                PartitionType::Mbr(b) => *m == Some(b),
            })
            .map(|(name, _, _)| *name)
    }
}

/// The partition type `v` (`type = …`) names for `table`.
pub(crate) fn partition_type(table: TableKind, v: &Value) -> Result<PartitionType, String> {
    let names = PARTITION_TYPES.map(|(n, _, _)| n).join(", ");
    let (g, m) = match v {
        Value::String(s) => match PARTITION_TYPES.iter().find(|(n, _, _)| n == s) {
            Some(&(_, g, m)) => (g, m),
            None if s.starts_with("0x") && s.len() <= 4 => {
                let b = u8::from_str_radix(&s[2..], 16).map_err(|_| format!("{s:?} is not a type byte"))?;
                (None, Some(b))
            }
            None => match Uuid::parse_str(s) {
                Ok(u) => (Some(u), None),
                Err(_) => {
                    return Err(format!(
                        "{s:?} is not a partition type: use one of {names}, a GUID, or an MBR type byte like \"0x83\""
                    ))
                }
            },
        },
        Value::Integer(n) if (1..=255).contains(n) => (None, Some(*n as u8)),
        _ => return Err(format!("expected a type name ({names}), a GUID or an MBR type byte")),
    };
    match table {
        TableKind::Gpt => g
            .map(PartitionType::Gpt)
            .ok_or_else(|| "an MBR type byte can't be used on a GPT disk: use a name or a GUID".into()),
        TableKind::Mbr => m
            .map(PartitionType::Mbr)
            .ok_or_else(|| "this type has no MBR equivalent: use table = \"gpt\" or an MBR type byte".into()),
    }
}
