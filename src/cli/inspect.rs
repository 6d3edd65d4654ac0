//! `ingot inspect` for a person: the disk, then each partition with its type's name,
//! sizes in units, its filesystem's label, UUID and space, and the EFI binaries on it.

use ingot::Inspection;
use ingot_recipe::format_size;
use std::path::Path;

/// The lines `ingot inspect` prints for image `image`.
pub fn lines(image: &Path, i: &Inspection) -> String {
    let mut out = format!("{}: {}, {} table, disk id {}", image.display(), format_size(i.size), i.table, i.disk_id);
    if let Some(code) = &i.bios_boot_code {
        out += &format!("\n  BIOS boot code in the MBR: {code}");
    }
    for p in &i.partitions {
        out += &format!(
            "\n  {:>2}  {:<12} {:>10} at {:<10}{}",
            p.number,
            p.type_name.as_deref().unwrap_or(&p.kind),
            format_size(p.size),
            format_size(p.offset),
            p.label.as_ref().map(|l| format!("  name {l:?}")).unwrap_or_default(),
        );
        if let Some(guid) = &p.guid {
            out += &format!("\n      PARTUUID {guid}");
        }
        if p.bootable == Some(true) {
            out += "\n      bootable (active)";
        }
        match (&p.filesystem, &p.filesystem_info) {
            (Some(fs), Some(f)) => {
                out += &format!(
                    "\n      {fs}  label {:?}  UUID {}  {} used, {} free of {}",
                    f.label,
                    f.uuid,
                    format_size(f.used),
                    format_size(f.free),
                    format_size(f.size)
                );
                if let Some(c) = &f.compression {
                    out += &format!("  compression {c}");
                }
            }
            (Some(fs), None) => out += &format!("\n      {fs} (not readable)"),
            (None, _) => {}
        }
        if let Some(v) = &p.verity {
            out += &format!(
                "\n      dm-verity hash device  {}  {}/{}-byte blocks  {} data blocks ({})  salt {}  UUID {}",
                v.algorithm,
                v.data_block_size,
                v.hash_block_size,
                v.data_blocks,
                format_size(v.data_blocks.saturating_mul(u64::from(v.data_block_size))),
                if v.salt.is_empty() { "none" } else { &v.salt },
                v.uuid
            );
        }
        if let Some(e) = &p.efi_error {
            out += &format!("\n      (EFI binaries not read: {e})");
        }
        for w in &p.warnings {
            out += &format!("\n      warning: {w}");
        }
        for b in &p.efi_binaries {
            let signed = match b.signed_by.as_slice() {
                [] => "unsigned".to_string(),
                subjects => format!("signed by {}", subjects.join("; ")),
            };
            out += &format!("\n      {}  {}  {signed}", b.path, b.architecture.as_deref().unwrap_or("unknown"));
        }
    }
    out
}

/// The lines `ingot inspect --verify` adds: one per hash partition checked.
pub fn verify_lines(checks: &[ingot::VerityCheck]) -> String {
    let mut out = String::new();
    for c in checks {
        let data = c.data_partition.map_or_else(|| "no data partition".to_string(), |d| format!("partition {d}"));
        out += &format!("\ndm-verity: partition {} over {data}: ", c.hash_partition);
        match (&c.first_bad, &c.root_hash) {
            (Some(bad), _) => out += &format!("BAD: {bad}"),
            (None, Some(root)) => {
                out += &format!("ok, root hash {root}");
                if !c.partuuids_match {
                    out += " (the PARTUUIDs are not its halves)";
                }
            }
            (None, None) => out += "no data partition of its type or size",
        }
    }
    out
}
