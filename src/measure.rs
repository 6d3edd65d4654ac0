//! The TPM measurements of a UKI or systemd-boot image's boot (`ingot measure`, and
//! OUT.json's `measurements`): `ingot_boot::measure` applied to what the ESP boots, with
//! the Secure Boot variables of the image's UEFI variable store (docs/attestation.md).

use crate::error::{bail, Result, ResultExt};
use ingot_boot::measure::{self, Bank, Image, SecureBootVariables};
use ingot_types::UefiLoader;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The tags `ingot publish` puts on an AMI and its snapshot: each PCR's SHA-384 value
/// (what an EC2 attestation document holds), so that a KMS policy can be written from
/// the AMI alone.
pub const PCR_TAGS: [(u32, &str); 3] = [(4, "ingot:pcr4"), (7, "ingot:pcr7"), (12, "ingot:pcr12")];

/// The banks measured, EC2's first.
const BANKS: [Bank; 2] = [Bank::Sha384, Bank::Sha256];

/// What [`measure`] predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Both banks, PCRs 4, 7, 11 and 12, with their events: OUT.json's `measurements`.
    All,
    /// What EC2's attestation documents and AWS's nitro-tpm-pcr-compute hold: the
    /// SHA-384 bank's PCRs 4, 7 and 12 (no second pass over the UKI for PCR11, no
    /// SHA-256).
    NitroTpm,
}

/// A boot's measurements, bank by bank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurements {
    /// What the ESP boots: a UKI, or systemd-boot and a kernel.
    pub loader: UefiLoader,
    /// The EFI images the firmware loads, in order: their paths on the ESP.
    pub images: Vec<String>,
    /// The command line systemd-boot passes the kernel (PCR12's event); none for a UKI,
    /// which has its own.
    pub load_options: Option<String>,
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
    /// PCRs 4, 7, 11 and 12.
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

/// What the ESP's default boot path starts: a UKI, or systemd-boot with its default
/// entry's kernel and load options.
enum Boot {
    Uki { path: String, bytes: Vec<u8> },
    SystemdBoot { loader: (String, Vec<u8>), kernel: (String, Vec<u8>), options: String },
}

/// The Secure Boot variables of the EC2 UefiData store `uefi_data`, decoded.
fn store(uefi_data: Option<&str>) -> Result<Option<Vec<ingot_boot::aws_uefi_data::Variable>>> {
    let decode = |text| ingot_boot::aws_uefi_data::decode(text);
    uefi_data.map(decode).transpose().map_err(|e| crate::Error::invalid(format!("the UEFI variable store is {e}")))
}

/// The measurements of `boot` in `scope`, with Secure Boot under the EC2 UefiData store
/// `uefi_data` when there is one.
fn of_boot(boot: &Boot, uefi_data: Option<&str>, scope: Scope) -> Result<Measurements> {
    let store = store(uefi_data)?;
    let var = |name: &str| -> &[u8] {
        let found = store.iter().flatten().find(|v| v.name == name);
        found.map_or(&[][..], |v| &v.data[..])
    };
    let variables = SecureBootVariables { pk: var("PK"), kek: var("KEK"), db: var("db"), dbx: var("dbx") };
    let secure_boot = store.is_some().then_some(&variables);
    let pcrs = |bank| match boot {
        Boot::Uki { path, bytes } => measure::uki(Image { path, bytes }, secure_boot, bank, scope == Scope::All),
        Boot::SystemdBoot { loader, kernel, options } => {
            measure::systemd_boot(image(loader), image(kernel), options, secure_boot, bank)
        }
    };
    let banks = if scope == Scope::All { &BANKS[..] } else { &BANKS[..1] };
    // One thread per bank: each hashes the images (tens of MiB) on its own.
    let banks = std::thread::scope(|s| {
        let running: Vec<_> = banks.iter().map(|&bank| s.spawn(move || pcrs(bank))).collect();
        running
            .into_iter()
            .zip(banks)
            .map(|(t, bank)| {
                let pcrs = t.join().map_err(|_| std::io::Error::other("a measuring thread panicked"))??;
                let pcrs = pcrs.into_iter().map(pcr_value).collect();
                Ok(BankMeasurements { algorithm: bank.as_str().into(), pcrs })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let (loader, images, load_options) = match boot {
        Boot::Uki { path, .. } => (UefiLoader::Uki, vec![path.clone()], None),
        Boot::SystemdBoot { loader, kernel, options } => {
            (UefiLoader::SystemdBoot, vec![loader.0.clone(), kernel.0.clone()], Some(options.clone()))
        }
    };
    Ok(Measurements { loader, images, load_options, secure_boot: secure_boot.is_some(), banks })
}

fn image((path, bytes): &(String, Vec<u8>)) -> Image<'_> {
    Image { path, bytes }
}

fn pcr_value(p: measure::Pcr) -> PcrValue {
    let events = p.events.into_iter().map(|e| EventValue {
        kind: e.kind.as_str().into(),
        description: e.description,
        digest: hex::encode(e.digest),
    });
    PcrValue { index: p.index, value: hex::encode(p.value), events: events.collect() }
}

/// systemd-boot's configuration, whose default entry names the kernel.
const LOADER_CONF: &str = "/loader/loader.conf";

/// What the FAT volume at `offset` (`size` bytes) of `file` boots from its removable
/// path: `None` without an EFI binary there.
fn boot_of_esp(file: &std::fs::File, offset: u64, size: u64) -> Result<Option<Boot>> {
    let read = |wanted: &dyn Fn(&str) -> bool| -> Result<Vec<(String, Vec<u8>)>> {
        crate::inspect::caught(|| ingot_fat::files(file, offset, size, |p, _| wanted(p)))
            .ok_or_else(|| std::io::Error::other("the FAT volume is damaged (its cluster numbers are out of range)"))?
            .map_err(|e| std::io::Error::other(e).into())
    };
    let removable: Vec<String> = ingot_types::Arch::ALL.iter().map(|&a| ingot_boot::removable_path(a)).collect();
    let mut found = read(&|p| removable.iter().any(|r| r == p) || p.starts_with("/loader/"))?;
    let Some(at) = found.iter().position(|(p, _)| removable.contains(p)) else { return Ok(None) };
    let (path, bytes) = found.swap_remove(at);
    if ingot_boot::pe::section(&bytes, ".linux").is_some() {
        return Ok(Some(Boot::Uki { path, bytes }));
    }
    let text = |name: &str| found.iter().find(|(p, _)| p == name).map(|(_, b)| String::from_utf8_lossy(b).into_owned());
    let Some(conf) = text(LOADER_CONF) else {
        bail!("{path} is neither a UKI (it has no .linux section) nor systemd-boot with a {LOADER_CONF}")
    };
    let default = conf.lines().find_map(|l| l.trim().strip_prefix("default")).map(str::trim);
    let entry = default.and_then(|d| text(&format!("/loader/entries/{d}")));
    let entry = entry.ok_or_else(|| crate::Error::invalid(format!("{LOADER_CONF} names no default entry ingot can read: ingot measures the entry its `default` line names exactly")))?;
    let (linux, options) = measure::systemd_boot_entry(&entry)
        .ok_or_else(|| crate::Error::invalid(format!("the default entry of {LOADER_CONF} has no linux line")))?;
    let kernel = read(&|p| p == linux)?.into_iter().next();
    let kernel =
        kernel.ok_or_else(|| crate::Error::invalid(format!("the default entry's kernel {linux} is not on the ESP")))?;
    Ok(Some(Boot::SystemdBoot { loader: (path, bytes), kernel, options }))
}

/// The measurements of booting the ESP at `offset` (`size` bytes) of `file`, with Secure
/// Boot under `uefi_data` when given: `None` when its removable path holds no EFI binary.
pub(crate) fn of_esp(
    file: &std::fs::File,
    offset: u64,
    size: u64,
    uefi_data: Option<&str>,
    scope: Scope,
) -> Result<Option<Measurements>> {
    boot_of_esp(file, offset, size)?.map(|boot| of_boot(&boot, uefi_data, scope)).transpose()
}

/// `ingot measure IMAGE`: the measurements of booting the UKI, or systemd-boot and its
/// kernel, on the image's ESP, with Secure Boot under `uefi_data` (an EC2 UefiData store,
/// as the build report holds it) when given, in `scope`.
pub fn measure(image: &Path, uefi_data: Option<&str>, scope: Scope) -> Result<Measurements> {
    // Checked before opening: opening a FIFO blocks until something writes to it.
    ingot_types::input::regular_len(image).context("ingot measure reads an image file")?;
    let file = std::fs::File::open(image).with_context(|| format!("cannot open {}", image.display()))?;
    let table =
        ingot_disk::read_table(&file, file.metadata()?.len()).with_context(|| format!("{}", image.display()))?;
    let esp = |e: &ingot_disk::TableEntry| match &table {
        ingot_disk::Table::Gpt(t) => t.partitions[e.index].type_guid == ingot_types::partition::gpt::EFI_SYSTEM,
        ingot_disk::Table::Mbr(t) => t.partitions[e.index].kind == ingot_types::partition::mbr::EFI_SYSTEM,
    };
    for e in table.partitions().iter().filter(|e| esp(e)) {
        let (offset, size) = (e.first_lba * ingot_disk::SECTOR, e.sectors * ingot_disk::SECTOR);
        let found = of_esp(&file, offset, size, uefi_data, scope)
            .with_context(|| format!("{}: partition {}", image.display(), e.number))?;
        if let Some(m) = found {
            return Ok(m);
        }
    }
    let paths: Vec<String> = ingot_types::Arch::ALL.iter().map(|&a| ingot_boot::removable_path(a)).collect();
    bail!(
        "{}: no EFI system partition with a UKI or systemd-boot at {}: ingot measures images built with [boot] uefi = \"uki\" or \"systemd-boot\"",
        image.display(),
        paths.join(" or ")
    )
}
