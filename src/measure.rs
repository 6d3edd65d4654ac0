//! The TPM measurements of a UKI image's boot (`ingot measure`, and OUT.json's
//! `measurements`): `ingot_boot::measure` applied to the UKI on the ESP, with the
//! Secure Boot variables of the image's UEFI variable store (docs/attestation.md).

use crate::error::{bail, Result, ResultExt};
use ingot_boot::measure::{self, Bank, SecureBootVariables};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The tags `ingot publish` puts on an AMI and its snapshot: each PCR's SHA-384 value
/// (what an EC2 attestation document holds), so that a KMS policy can be written from
/// the AMI alone.
pub const PCR_TAGS: [(u32, &str); 3] = [(4, "ingot:pcr4"), (7, "ingot:pcr7"), (12, "ingot:pcr12")];

/// The banks measured, EC2's first.
const BANKS: [Bank; 2] = [Bank::Sha384, Bank::Sha256];

/// A UKI boot's measurements, bank by bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurements {
    /// The UKI measured: its path on the ESP.
    pub uki: String,
    /// Whether they are Secure Boot's (with the image's store), or a boot without it.
    pub secure_boot: bool,
    /// Each bank: SHA-384 (EC2's), SHA-256.
    pub banks: Vec<BankMeasurements>,
}

/// One bank's PCRs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankMeasurements {
    /// `SHA384` or `SHA256`.
    pub algorithm: String,
    /// PCRs 4, 7 and 12.
    pub pcrs: Vec<PcrValue>,
}

/// One PCR's value and the events behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcrValue {
    /// The PCR's index.
    pub index: u32,
    /// Its value, lowercase hex.
    pub value: String,
    /// The events extended into it, in order.
    pub events: Vec<EventValue>,
}

/// One event as an instance's event log shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventValue {
    /// The TCG event type (`EV_EFI_ACTION`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// What was measured.
    pub description: String,
    /// The digest extended, lowercase hex.
    pub digest: String,
}

/// The measurements as AWS's `nitro-tpm-pcr-compute` prints them: `{"Measurements":
/// {"HashAlgorithm": "SHA384", "PCR4": …, "PCR7": …, "PCR12": …}}`.
#[derive(Clone, Debug, Serialize)]
pub struct NitroTpm {
    /// The measurements.
    #[serde(rename = "Measurements")]
    pub measurements: NitroTpmMeasurements,
}

/// [`NitroTpm`]'s content, in its order.
#[derive(Clone, Debug, Serialize)]
#[allow(non_snake_case)]
pub struct NitroTpmMeasurements {
    /// `SHA384`.
    pub HashAlgorithm: String,
    /// PCR4, lowercase hex.
    pub PCR4: String,
    /// PCR7.
    pub PCR7: String,
    /// PCR12.
    pub PCR12: String,
}

impl Measurements {
    /// The SHA-384 values in `nitro-tpm-pcr-compute`'s form.
    pub fn nitro_tpm(&self) -> NitroTpm {
        let value = |i: u32| self.sha384(i).unwrap_or_default().to_string();
        NitroTpm {
            measurements: NitroTpmMeasurements {
                HashAlgorithm: Bank::Sha384.as_str().into(),
                PCR4: value(4),
                PCR7: value(7),
                PCR12: value(12),
            },
        }
    }
}

impl Measurements {
    /// The SHA-384 value of PCR `index`, lowercase hex.
    fn sha384(&self, index: u32) -> Option<&str> {
        let bank = self.banks.iter().find(|b| b.algorithm == Bank::Sha384.as_str())?;
        bank.pcrs.iter().find(|p| p.index == index).map(|p| p.value.as_str())
    }

    /// [`PCR_TAGS`] with their values.
    pub fn tags(&self) -> Vec<(String, String)> {
        PCR_TAGS.iter().filter_map(|&(i, tag)| Some((tag.to_string(), self.sha384(i)?.to_string()))).collect()
    }
}

/// The measurements of booting the UKI `uki` (at `path` on the ESP), with Secure Boot
/// under the EC2 UefiData store `uefi_data` when there is one.
pub(crate) fn of_uki(uki: &[u8], path: &str, uefi_data: Option<&str>) -> Result<Measurements> {
    let store = match uefi_data {
        Some(text) => Some(
            ingot_boot::aws_uefi_data::decode(text)
                .map_err(|e| crate::Error::invalid(format!("the UEFI variable store is {e}")))?,
        ),
        None => None,
    };
    let var = |name: &str| -> &[u8] {
        let found = store.iter().flatten().find(|v| v.name == name);
        found.map_or(&[][..], |v| &v.data[..])
    };
    let variables = SecureBootVariables { pk: var("PK"), kek: var("KEK"), db: var("db"), dbx: var("dbx") };
    let secure_boot = store.is_some().then_some(&variables);
    // One thread per bank: each hashes the UKI (tens of MiB) on its own.
    let banks = std::thread::scope(|s| {
        let running = BANKS.map(|bank| s.spawn(move || measure::uki(uki, path, secure_boot, bank)));
        running
            .into_iter()
            .zip(BANKS)
            .map(|(t, bank)| {
                let pcrs = t.join().map_err(|_| std::io::Error::other("a measuring thread panicked"))??;
                let pcrs = pcrs.into_iter().map(pcr_value).collect();
                Ok(BankMeasurements { algorithm: bank.as_str().into(), pcrs })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(Measurements { uki: path.into(), secure_boot: secure_boot.is_some(), banks })
}

fn pcr_value(p: measure::Pcr) -> PcrValue {
    let events = p.events.into_iter().map(|e| EventValue {
        kind: e.kind.as_str().into(),
        description: e.description,
        digest: hex::encode(e.digest),
    });
    PcrValue { index: p.index, value: hex::encode(p.value), events: events.collect() }
}

/// `ingot measure IMAGE`: the measurements of the UKI on the image's ESP, with Secure
/// Boot under `uefi_data` (an EC2 UefiData store, as the build report holds it) when
/// given.
pub fn measure(image: &Path, uefi_data: Option<&str>) -> Result<Measurements> {
    // Checked before opening: opening a FIFO blocks until something writes to it.
    ingot_types::input::regular_len(image).context("ingot measure reads an image file")?;
    let file = std::fs::File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let table =
        ingot_disk::read_table(&file, file.metadata()?.len()).with_context(|| format!("{}", image.display()))?;
    let esp = |e: &ingot_disk::TableEntry| match &table {
        ingot_disk::Table::Gpt(t) => t.partitions[e.index].type_guid == ingot_types::partition::gpt::EFI_SYSTEM,
        ingot_disk::Table::Mbr(t) => t.partitions[e.index].kind == ingot_types::partition::mbr::EFI_SYSTEM,
    };
    // The paths a UKI boots from: the ESP's removable-media boot paths.
    let uki_paths: Vec<String> = ingot_types::Arch::ALL.iter().map(|&a| ingot_boot::removable_path(a)).collect();
    for e in table.partitions().iter().filter(|e| esp(e)) {
        let (offset, size) = (e.first_lba * ingot_disk::SECTOR, e.sectors * ingot_disk::SECTOR);
        let wanted = |path: &str, _: &[u8]| uki_paths.iter().any(|u| u == path);
        let found = crate::inspect::caught(|| ingot_fat::files(&file, offset, size, wanted))
            .ok_or_else(|| std::io::Error::other("the FAT volume is damaged (its cluster numbers are out of range)"))
            .and_then(|r| r.map_err(std::io::Error::other))
            .with_context(|| format!("{}: partition {}", image.display(), e.number))?;
        if let Some((path, bytes)) = found.into_iter().next() {
            return of_uki(&bytes, &path, uefi_data).with_context(|| format!("{}", image.display()));
        }
    }
    bail!(
        "{}: no EFI system partition with a UKI at {}: ingot measures images built with [boot] uefi = \"uki\"",
        image.display(),
        uki_paths.join(" or ")
    )
}
