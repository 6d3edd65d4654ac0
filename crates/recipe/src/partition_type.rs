//! A partition's `type = …` read for the recipe's table: a name of the one table
//! ([`ingot_types::PARTITION_TYPES`]), a GUID, or an MBR type byte.

use ingot_types::{PartitionType, TableKind, PARTITION_TYPES};
use toml::Value;
use uuid::Uuid;

/// The partition type `v` (`type = …`) names for `table`.
pub(crate) fn partition_type(table: TableKind, v: &Value) -> Result<PartitionType, String> {
    let names = PARTITION_TYPES.map(|(n, _, _)| n).join(", ");
    let wrong_table = || match table {
        TableKind::Gpt => "an MBR type byte can't be used on a GPT disk: use a name or a GUID".to_string(),
        TableKind::Mbr => "this type has no MBR equivalent: use table = \"gpt\" or an MBR type byte".to_string(),
    };
    let kind = match v {
        Value::String(s) if PARTITION_TYPES.iter().any(|(n, _, _)| n == s) => {
            PartitionType::named(s, table).ok_or_else(wrong_table)?
        }
        Value::String(s) if s.starts_with("0x") && s.len() <= 4 => {
            PartitionType::Mbr(u8::from_str_radix(&s[2..], 16).map_err(|_| format!("{s:?} is not a type byte"))?)
        }
        Value::String(s) => match Uuid::parse_str(s) {
            Ok(u) => PartitionType::Gpt(u),
            Err(_) => {
                return Err(format!(
                    "{s:?} is not a partition type: use one of {names}, a GUID, or an MBR type byte like \"0x83\""
                ))
            }
        },
        Value::Integer(n) if (1..=255).contains(n) => PartitionType::Mbr(*n as u8),
        _ => return Err(format!("expected a type name ({names}), a GUID or an MBR type byte")),
    };
    match (table, kind) {
        (TableKind::Gpt, PartitionType::Mbr(_)) | (TableKind::Mbr, PartitionType::Gpt(_)) => Err(wrong_table()),
        _ => Ok(kind),
    }
}
