//! The `filesystem` of a partition and its options (`[partition.vfat]`,
//! `[partition.ext4]`).

use crate::error::Locator;
use crate::schema::RawPartition;
use crate::units::size_value;
use crate::{Erofs, Ext4, RecipeError, SizeSpec, Vfat};
use ingot_types::filesystem::Compression;

pub(crate) fn vfat(loc: &Locator, key: &str, p: &RawPartition, label: &str) -> Result<Vfat, RecipeError> {
    let raw = p.vfat.as_ref();
    let label_value = raw.and_then(|v| v.label.as_ref());
    let vlabel = match label_value {
        Some(l) => l.get_ref().clone(),
        None if label.is_ascii() && !label.is_empty() && label.len() <= 11 => label.to_ascii_uppercase(),
        None => return Ok(Vfat { label: None, fat: fat_bits(loc, key, p)? }),
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
    Ok(Vfat { label: Some(vlabel), fat: fat_bits(loc, key, p)? })
}

/// `[partition.vfat] fat`: 12, 16 or 32, if given.
fn fat_bits(loc: &Locator, key: &str, p: &RawPartition) -> Result<Option<u8>, RecipeError> {
    let fat = p.vfat.as_ref().and_then(|v| v.fat.as_ref());
    if let Some(f) = fat {
        if ![12, 16, 32].contains(f.get_ref()) {
            return Err(loc.at(f.span().start, format!("{key}.fat: must be 12, 16 or 32")));
        }
    }
    Ok(fat.map(|f| *f.get_ref()))
}

pub(crate) fn ext4(loc: &Locator, key: &str, p: &RawPartition, label: &str) -> Result<Ext4, RecipeError> {
    let Some(raw) = p.ext4.as_ref() else {
        let label = if label.len() <= 16 { label.to_owned() } else { String::new() };
        return Ok(Ext4 { label, ..Ext4::default() });
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
    let reserved_percent = match &raw.reserved_percent {
        Some(r) if *r.get_ref() > 50 => {
            return Err(loc.at(r.span().start, format!("{key}.reserved_percent: at most 50")))
        }
        r => r.as_ref().map(|r| *r.get_ref()),
    };
    let mut e = Ext4 {
        label: elabel,
        block_size: raw.block_size.as_ref().map(|b| *b.get_ref()),
        inode_ratio: raw.inode_ratio.as_ref().map(|r| *r.get_ref()),
        inode_count: raw.inode_count.as_ref().map(|c| *c.get_ref()),
        reserved_percent,
        journal: raw.journal,
        ..Ext4::default()
    };
    for f in &raw.features {
        let (on, name) = match f.get_ref().strip_prefix('^') {
            Some(n) => (false, n),
            None => (true, f.get_ref().as_str()),
        };
        match name {
            "has_journal" => e.journal = Some(on),
            "dir_index" => e.dir_index = Some(on),
            "ext_attr" => e.ext_attr = Some(on),
            "metadata_csum_seed" => e.metadata_csum_seed = Some(on),
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

/// `[partition.erofs]` of the EROFS partition `partition` (`partition[i]`): its volume
/// name and compression. The ext4 and FAT options are errors on it.
pub(crate) fn erofs(loc: &Locator, partition: &str, p: &RawPartition, label: &str) -> Result<Erofs, RecipeError> {
    let at = p.filesystem.as_ref().map_or(0, |f| f.span().start);
    if p.ext4.is_some() || p.vfat.is_some() {
        let (other, why) = if p.ext4.is_some() {
            ("ext4", "EROFS is written once and read-only, with no journal, inode table or reserved blocks to size")
        } else {
            ("vfat", "they are FAT's")
        };
        return Err(loc.at(at, format!("{partition}.{other}: an EROFS partition takes no [partition.{other}] options: {why}; use [partition.erofs]")));
    }
    let raw = p.erofs.as_ref();
    let elabel = match raw.and_then(|r| r.label.as_ref()) {
        Some(l) if l.get_ref().len() > 16 => {
            let message = format!("{partition}.erofs.label: {:?} is longer than EROFS's 16 bytes", l.get_ref());
            return Err(loc.at(l.span().start, message));
        }
        Some(l) => l.get_ref().clone(),
        None if label.len() <= 16 => label.to_owned(),
        None => String::new(),
    };
    let mut compression = Compression::None;
    if let Some(c) = raw.and_then(|r| r.compression.as_ref()) {
        let why = match c.get_ref().as_str() {
            "lz4hc" => "use \"lz4\", which compresses at LZ4HC's default level",
            "lzma" | "deflate" | "zstd" => "Debian 12's kernels read EROFS compressed with LZ4 only (CONFIG_EROFS_FS_ZIP_LZMA is not set), so the root would not mount; use \"lz4\"",
            other => match other.parse() {
                Ok(c) => {
                    compression = c;
                    ""
                }
                Err(_) => "use \"none\" or \"lz4\"",
            },
        };
        if !why.is_empty() {
            return Err(loc.at(c.span().start, format!("{partition}.erofs.compression: {:?}: {why}", c.get_ref())));
        }
    }
    Ok(Erofs { label: elabel, compression })
}
