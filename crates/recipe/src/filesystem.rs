//! The `filesystem` of a partition and its options (`[partition.vfat]`,
//! `[partition.ext4]`).

use crate::error::Locator;
use crate::schema::RawPartition;
use crate::validate::size_value;
use crate::{RecipeError, SizeSpec};

/// The filesystem a partition gets (`filesystem`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filesystem {
    /// `"none"`: raw content (an `image` source) or nothing.
    None,
    /// `"vfat"`: FAT12/16/32.
    Vfat(Vfat),
    /// `"ext4"`: ext4 with mke2fs's default features.
    Ext4(Ext4),
}

impl Filesystem {
    /// The name the recipe's `filesystem` and the reports give it.
    pub fn name(&self) -> &'static str {
        match self {
            Filesystem::None => "none",
            Filesystem::Vfat(_) => "vfat",
            Filesystem::Ext4(_) => "ext4",
        }
    }
}

/// ext4 options (`[partition.ext4]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext4 {
    /// Volume label, at most 16 bytes (`label`; default: the partition label if it fits).
    pub label: String,
    /// 1024, 2048 or 4096 (`block_size`; default as mke2fs: 1024 below 512 MiB).
    pub block_size: Option<u32>,
    /// Bytes per inode (`inode_ratio`).
    pub inode_ratio: Option<u64>,
    /// A fixed inode count (`inode_count`).
    pub inode_count: Option<u64>,
    /// Blocks reserved for root in percent (`reserved_percent`, default 5).
    pub reserved_percent: u8,
    /// Write a journal (`journal`, or the `has_journal` feature; default true).
    pub journal: bool,
    /// dir_index (default on).
    pub dir_index: bool,
    /// ext_attr (default on).
    pub ext_attr: bool,
    /// metadata_csum_seed (default off: GRUB 2.06 refuses it).
    pub metadata_csum_seed: bool,
    /// Free space the filesystem must keep after the content (`free_space`); added to
    /// the content's size for `size = "auto"`.
    pub free_space: u64,
}

impl Ext4 {
    /// The writer's defaults (mke2fs's, owned by [`ingot_ext4::Options::new`]) with `label`.
    fn defaults(label: String) -> Ext4 {
        let d = ingot_ext4::Options::new(uuid::Uuid::nil(), uuid::Uuid::nil(), 0);
        Ext4 {
            label,
            block_size: d.block_size,
            inode_ratio: d.inode_ratio,
            inode_count: d.inode_count,
            reserved_percent: d.reserved_percent,
            journal: d.journal,
            dir_index: d.dir_index,
            ext_attr: d.ext_attr,
            metadata_csum_seed: d.metadata_csum_seed,
            free_space: 0,
        }
    }
}

/// FAT options (`[partition.vfat]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vfat {
    /// Volume label, at most 11 characters (`label`; default: the partition label).
    pub label: String,
    /// Force FAT12, 16 or 32 (`fat`; default: FAT32 where the size allows).
    pub fat: Option<u8>,
}

pub(crate) fn vfat(loc: &Locator, key: &str, p: &RawPartition, label: &str) -> Result<Vfat, RecipeError> {
    let raw = p.vfat.as_ref();
    let label_value = raw.and_then(|v| v.label.as_ref());
    let vlabel = match label_value {
        Some(l) => l.get_ref().clone(),
        None if label.is_ascii() && !label.is_empty() && label.len() <= 11 => label.to_ascii_uppercase(),
        None => ingot_fat::NO_LABEL.to_owned(),
    };
    if vlabel.len() > 11 || !vlabel.bytes().all(|b| (0x20..0x7f).contains(&b) && !b"\"*+,./:;<=>?[\\]|".contains(&b)) {
        const RULE: &str = "at most 11 ASCII characters, none of \"*+,./:;<=>?[\\]|";
        return Err(match label_value {
            Some(l) => loc.at(l.span().start, format!("{key}.label: {vlabel:?} is not a FAT volume label ({RULE})")),
            // Derived from the partition's label: point there, and say how to choose another.
            None => {
                let partition = key.strip_suffix(".vfat").unwrap_or(key);
                let at = p.label.as_ref().map_or(0, |l| l.span().start);
                loc.at(at, format!("{partition}.label: {label:?} becomes the FAT volume label, which allows {RULE}; give `label` under [partition.vfat] another"))
            }
        });
    }
    let fat = raw.and_then(|v| v.fat.as_ref());
    if let Some(f) = fat {
        if ![12, 16, 32].contains(f.get_ref()) {
            return Err(loc.at(f.span().start, format!("{key}.fat: must be 12, 16 or 32")));
        }
    }
    Ok(Vfat { label: vlabel, fat: fat.map(|f| *f.get_ref()) })
}

pub(crate) fn ext4(loc: &Locator, key: &str, p: &RawPartition, label: &str) -> Result<Ext4, RecipeError> {
    let Some(raw) = p.ext4.as_ref() else {
        let label = if label.len() <= 16 { label.to_owned() } else { String::new() };
        return Ok(Ext4::defaults(label));
    };
    let elabel = match &raw.label {
        Some(l) if l.get_ref().len() > 16 => {
            return Err(loc.at(l.span().start, format!("{key}.label: {:?} is longer than ext4's 16 bytes", l.get_ref())))
        }
        Some(l) => l.get_ref().clone(),
        None if label.len() <= 16 => label.to_owned(),
        None => String::new(),
    };
    if let Some(b) = &raw.block_size {
        if ![1024, 2048, 4096].contains(b.get_ref()) {
            return Err(loc.at(
                b.span().start,
                format!(
                    "{key}.block_size: Linux mounts ext4 with 1024, 2048 or 4096-byte blocks on 4 KiB pages, not {}",
                    b.get_ref()
                ),
            ));
        }
    }
    if let Some(r) = &raw.inode_ratio {
        if !(1024..=(64 << 20)).contains(r.get_ref()) {
            return Err(
                loc.at(r.span().start, format!("{key}.inode_ratio: bytes per inode must be between 1024 and 67108864"))
            );
        }
    }
    if let Some(c) = &raw.inode_count {
        if *c.get_ref() < 16 || *c.get_ref() > u64::from(u32::MAX) {
            return Err(loc.at(c.span().start, format!("{key}.inode_count: must be between 16 and 2^32 - 1")));
        }
    }
    let reserved = match &raw.reserved_percent {
        Some(r) if *r.get_ref() > 50 => {
            return Err(loc.at(r.span().start, format!("{key}.reserved_percent: at most 50")))
        }
        r => r.as_ref().map(|r| *r.get_ref()),
    };
    let mut e = Ext4 {
        block_size: raw.block_size.as_ref().map(|b| *b.get_ref()),
        inode_ratio: raw.inode_ratio.as_ref().map(|r| *r.get_ref()),
        inode_count: raw.inode_count.as_ref().map(|c| *c.get_ref()),
        ..Ext4::defaults(elabel)
    };
    if let Some(r) = reserved {
        e.reserved_percent = r;
    }
    if let Some(j) = raw.journal {
        e.journal = j;
    }
    for f in &raw.features {
        let (on, name) = match f.get_ref().strip_prefix('^') {
            Some(n) => (false, n),
            None => (true, f.get_ref().as_str()),
        };
        match name {
            "has_journal" => e.journal = on,
            "dir_index" => e.dir_index = on,
            "ext_attr" => e.ext_attr = on,
            "metadata_csum_seed" => e.metadata_csum_seed = on,
            _ => {
                return Err(loc.at(f.span().start, format!(
                    "{key}.features: {name:?} can't be toggled; ingot toggles has_journal, dir_index, ext_attr and metadata_csum_seed (\"^name\" turns one off)"
                )))
            }
        }
    }
    if let Some(v) = &raw.free_space {
        e.free_space = match size_value(loc, &format!("{key}.free_space"), v, false)? {
            SizeSpec::Bytes(n) => n,
            _ => return Err(loc.at(v.span().start, format!("{key}.free_space: expected a size like \"1 GiB\""))),
        };
    }
    Ok(e)
}
