//! `ingot measure`: the TPM measurements of an image's boot (UKI or systemd-boot), for a person, as JSON, or in
//! AWS's nitro-tpm-pcr-compute form.

use anyhow::{Context, Result};
use std::path::Path;

/// What `ingot measure` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Every bank, PCR and event.
    Ingot,
    /// `{"Measurements": {"HashAlgorithm": "SHA384", "PCR4": …, "PCR7": …, "PCR12": …}}`.
    Nitrotpm,
}

/// `ingot measure IMAGE`: the store from `uefi_data`, else from the image's build report.
pub fn run(image: &Path, uefi_data: Option<&Path>, format: Format, json: bool) -> Result<()> {
    super::quiet_fat_reader_panics();
    let store = match uefi_data {
        Some(path) => Some(
            ingot_types::input::read_to_string(path, ingot_types::input::SIGNATURE_LIST_MAX)
                .with_context(|| format!("--uefi-data {}", path.display()))?,
        ),
        None => ingot::Report::read(image)?.and_then(|r| r.uefi_data),
    };
    let scope = if format == Format::Nitrotpm { ingot::MeasureScope::NitroTpm } else { ingot::MeasureScope::All };
    let m = ingot::measure(image, store.as_deref(), scope)?;
    match format {
        Format::Nitrotpm => super::out(&serde_json::to_string_pretty(&m.nitro_tpm())?),
        Format::Ingot => super::print(json, &m, &lines(image, &m)),
    }
}

/// The lines for a person: the images booted, then each bank's PCRs with their events.
fn lines(image: &Path, m: &ingot::Measurements) -> String {
    let sb = if m.secure_boot { "with Secure Boot" } else { "without Secure Boot" };
    let mut out = format!("{}: {} booted by UEFI {sb}", image.display(), m.images.join(" then "));
    if let Some(options) = &m.load_options {
        out += &format!("\n  load options: {options}");
    }
    for bank in &m.banks {
        for p in &bank.pcrs {
            out += &format!("\n  {} PCR{:<2} {}", bank.algorithm, p.index, p.value);
            for e in &p.events {
                out += &format!("\n      {:<34} {}  {}", e.kind, e.digest, e.description);
            }
        }
    }
    out
}
