//! `ingot check` for a person: the plan of a recipe, one line per fact.

use ingot::Check;
use ingot_recipe::format_size;

/// The lines `ingot check` prints for `plan`.
pub fn lines(plan: &Check) -> String {
    let size = |n: Option<u64>| n.map_or_else(|| "(from the content)".to_string(), format_size);
    let mut out = format!(
        "{}: valid\n{}: {} disk, {} table, disk id {}, timestamps at {}",
        plan.recipe.display(),
        plan.name,
        size(plan.disk_size),
        plan.table,
        plan.disk_id,
        plan.source_date_epoch
    );
    for p in &plan.partitions {
        out += &format!(
            "\n  {:>2}  {:<12} {:>10} at {:<10}  name {:?}  PARTUUID {}",
            p.number,
            p.type_name.as_deref().unwrap_or(&p.kind),
            size(p.size),
            size(p.offset),
            p.label,
            p.partuuid.as_deref().unwrap_or("(from the root hash)")
        );
        match (&p.filesystem_label, &p.filesystem_uuid) {
            (Some(label), Some(uuid)) => out += &format!("\n      {}  label {label:?}  UUID {uuid}", p.filesystem),
            _ => out += &format!("\n      {}", p.filesystem),
        }
        if let Some(v) = &p.verity {
            out += &format!("\n      dm-verity {v}");
        }
        for s in &p.sources {
            out += &format!("\n      {s}");
        }
    }
    if let Some(b) = &plan.boot {
        let loaders: Vec<String> =
            [b.uefi.as_ref().map(|u| format!("UEFI {u}")), b.bios.as_ref().map(|g| format!("BIOS {g}"))]
                .into_iter()
                .flatten()
                .collect();
        out += &format!("\nboot: {} on {}, kernel {}", loaders.join(" + "), b.arch, b.kernel);
        if let Some(i) = &b.initrd {
            out += &format!(", initrd {i}");
        }
        out += &format!("\n  cmdline: {}", b.cmdline);
        if let Some(s) = &b.signed_by {
            out += &format!("\n  signed by {s}");
        }
    }
    if let Some(sha) = &plan.uefi_data_sha256 {
        out += &format!("\nUEFI variable store (Secure Boot): sha256 {sha}");
    }
    if let Some(a) = &plan.ami {
        out += &format!(
            "\nami: {:?}, {}, boot mode {}, {} volume of {}",
            a.name,
            a.machine.architecture,
            a.machine.boot_mode.as_str(),
            a.root.volume_type,
            a.root.volume_size_gib.map_or_else(|| "the image's size".to_string(), |g| format!("{g} GiB"))
        );
    }
    out
}
