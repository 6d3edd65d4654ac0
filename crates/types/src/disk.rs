//! The words of a disk's layout that the recipe, the boot chain and the reports share.
//!
//! ```
//! use ingot_types::TableKind;
//! assert_eq!("mbr".parse::<TableKind>()?, TableKind::Mbr);
//! assert_eq!(TableKind::Gpt.to_string(), "gpt");
//! # Ok::<(), ingot_types::Unknown>(())
//! ```

/// The partition table kind (`table = "gpt" | "mbr"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID Partition Table with a protective MBR (UEFI 2.10 §5.3).
    Gpt,
    /// Classic MBR, at most four primary partitions (UEFI 2.10 §5.2.1).
    Mbr,
}

impl TableKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: &'static [TableKind] = &[TableKind::Gpt, TableKind::Mbr];

    /// The name the recipe's `table` and the reports give it: `gpt` or `mbr`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Gpt => "gpt",
            TableKind::Mbr => "mbr",
        }
    }
}

crate::names::text_forms!(TableKind, "gpt or mbr");
