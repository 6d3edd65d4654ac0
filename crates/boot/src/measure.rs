//! The TPM measurements a UEFI boot of a unified kernel image makes, predicted from the
//! UKI (or systemd-boot and its kernel) and the Secure Boot variables: what EC2's NitroTPM records, and what AWS's
//! `nitro-tpm-pcr-compute` predicts, for attestable AMIs (docs/attestation.md).
//!
//! Follows the TCG PC Client Platform Firmware Profile (PFP) 1.05: "PCR Usage" (PCR[4]:
//! boot manager code and boot attempts; PCR[7]: the Secure Boot policy), "Event Types"
//! (`EV_SEPARATOR`, `EV_EFI_ACTION`, `EV_EFI_BOOT_SERVICES_APPLICATION`,
//! `EV_EFI_VARIABLE_DRIVER_CONFIG`, `EV_EFI_VARIABLE_AUTHORITY`), "UEFI_VARIABLE_DATA"
//! and the extend operation (a PCR starts at zeros; extending with a digest sets it to
//! H(PCR ‖ digest)); UEFI 2.10 §32.2.4 for the PE image hash an
//! `EV_EFI_BOOT_SERVICES_APPLICATION` carries (the Authenticode hash, in the bank's
//! algorithm); systemd-stub(7) for what the stub measures.
//!
//! The sequence is `nitro-tpm-pcr-compute`'s (1.1.2), so that the values are the ones
//! EC2's policy tooling expects:
//! - PCR4: `EV_EFI_ACTION` "Calling EFI Application from Boot Option", the separator, the
//!   UKI's image hash, then the kernel in its `.linux` section as systemd-stub loads it
//!   through the firmware, unless the stub is 258 or later, or 252 or later with Secure
//!   Boot (those stubs start the kernel without the firmware's LoadImage);
//! - PCR7: `SecureBoot`, `PK`, `KEK`, `db`, `dbx` as `EV_EFI_VARIABLE_DRIVER_CONFIG`, the
//!   separator, and with Secure Boot the db entry that authorized the UKI;
//! - PCR11 (not in AWS's tool): systemd-stub's measurement of the UKI's sections, each
//!   name then content, as `systemd-measure calculate` predicts it before the boot phases
//!   (for systemd-stub 252, Debian 12's; later stubs measure more sections);
//! - PCR12: the stub measures a command line only when one is passed to it, and none is:
//!   the PCR stays at zeros.
//!
//! For systemd-boot (252) and a kernel ([`systemd_boot`]), checked against a TPM under
//! OVMF and AAVMF: PCR4 holds systemd-boot's and the kernel's image hashes, PCR7 the db
//! entries that authorized them, PCR12 the loader entry's command line.

use crate::{authenticode, efi_signature_list, pe, BootError};
use uuid::{uuid, Uuid};

/// `EFI_GLOBAL_VARIABLE`: `SecureBoot`, `PK`, `KEK`.
const EFI_GLOBAL_VARIABLE: Uuid = uuid!("8be4df61-93ca-11d2-aa0d-00e098032b8c");
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`: `db`, `dbx`.
const EFI_IMAGE_SECURITY_DATABASE: Uuid = uuid!("d719b2cb-3d3a-4596-a3bc-dad00e67656f");
/// The `EV_EFI_ACTION` of a boot option's application (PFP, "PCR[4]").
const CALLING_BOOT_OPTION: &[u8] = b"Calling EFI Application from Boot Option";
/// An `EV_SEPARATOR`'s data: four zero bytes.
const SEPARATOR: [u8; 4] = [0; 4];
/// The sections systemd-stub 252 measures into PCR11, in its order (systemd v252,
/// src/fundamental/tpm-pcr.h `unified_sections`; `.pcrsig` is never measured).
const STUB_252_SECTIONS: [&str; 7] = [".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"];
/// The stub version whose PCR11 is predicted: later ones measure more sections.
const PCR11_STUB: u32 = 252;
/// The stub's `.sdmagic` text around its version.
const SDMAGIC: (&str, &str) = ("#### LoaderInfo: systemd-stub ", " ####");

/// A PCR bank: the hash algorithm its PCRs and events use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bank {
    /// SHA-256.
    Sha256,
    /// SHA-384: the bank EC2's attestation documents carry.
    Sha384,
}

impl Bank {
    /// The name AWS's tool and the TCG give it: `SHA256`, `SHA384`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bank::Sha256 => "SHA256",
            Bank::Sha384 => "SHA384",
        }
    }

    /// The digest of `parts`, one after another.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut h = aws_lc_rs::digest::Context::new(match self {
            Bank::Sha256 => &aws_lc_rs::digest::SHA256,
            Bank::Sha384 => &aws_lc_rs::digest::SHA384,
        });
        parts.iter().for_each(|p| h.update(p));
        h.finish().as_ref().to_vec()
    }

    /// The Authenticode image hash of `image` in this bank's algorithm.
    fn image_hash(self, image: &[u8]) -> Result<Vec<u8>, pe::PeError> {
        Ok(self.digest(&authenticode::hashed_parts(image)?))
    }
}

/// A TCG event type (PFP, "Event Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `EV_SEPARATOR` (0x4).
    Separator,
    /// `EV_IPL` (0xD): what systemd-stub measures of the UKI's sections.
    Ipl,
    /// `EV_EFI_VARIABLE_DRIVER_CONFIG` (0x80000001).
    VariableDriverConfig,
    /// `EV_EFI_BOOT_SERVICES_APPLICATION` (0x80000003).
    BootServicesApplication,
    /// `EV_EFI_ACTION` (0x80000007).
    Action,
    /// `EV_EFI_VARIABLE_AUTHORITY` (0x800000E0).
    VariableAuthority,
}

impl EventType {
    /// The name the TCG (and `tpm2_eventlog`) gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Separator => "EV_SEPARATOR",
            EventType::Ipl => "EV_IPL",
            EventType::VariableDriverConfig => "EV_EFI_VARIABLE_DRIVER_CONFIG",
            EventType::BootServicesApplication => "EV_EFI_BOOT_SERVICES_APPLICATION",
            EventType::Action => "EV_EFI_ACTION",
            EventType::VariableAuthority => "EV_EFI_VARIABLE_AUTHORITY",
        }
    }
}

/// One measurement: what an instance's event log shows for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its type.
    pub kind: EventType,
    /// What was measured, for a person: the action's text, the variable's name, the
    /// image's path.
    pub description: String,
    /// The digest extended into the PCR.
    pub digest: Vec<u8>,
}

/// One PCR's predicted value and the events behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcr {
    /// The PCR's index.
    pub index: u32,
    /// Its value after the boot's events.
    pub value: Vec<u8>,
    /// The events, in the order they are extended.
    pub events: Vec<Event>,
}

impl Pcr {
    fn new(index: u32, bank: Bank, events: Vec<Event>) -> Pcr {
        let start = vec![0u8; bank.digest(&[]).len()];
        let value = events.iter().fold(start, |pcr, e| bank.digest(&[&pcr, &e.digest]));
        Pcr { index, value, events }
    }
}

/// The Secure Boot variables the firmware boots with, each the variable's data (EFI
/// signature lists; empty when the variable is not set).
#[derive(Clone, Copy, Debug, Default)]
pub struct SecureBootVariables<'a> {
    /// `PK`.
    pub pk: &'a [u8],
    /// `KEK`.
    pub kek: &'a [u8],
    /// `db`.
    pub db: &'a [u8],
    /// `dbx`.
    pub dbx: &'a [u8],
}

/// An EFI image the boot loads: its path on the ESP (for events and errors) and bytes.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    /// Its path on the ESP, as `/EFI/BOOT/BOOTX64.EFI`.
    pub path: &'a str,
    /// The PE image.
    pub bytes: &'a [u8],
}

/// The PCRs 4, 7, 11 (for systemd-stub 252, Debian 12's, when `with_pcr11`: a second
/// pass over the UKI, for a PCR EC2's policy keys leave out) and 12 in `bank` of a UEFI
/// boot of `uki` (the ESP's default boot path), with Secure Boot enforced under
/// `secure_boot`, or off when it is `None`. The kernel's image hash, when the firmware
/// measures it, and PCR11 are computed on threads of their own beside the UKI's hash.
pub fn uki(
    uki: Image,
    secure_boot: Option<&SecureBootVariables>,
    bank: Bank,
    with_pcr11: bool,
) -> Result<Vec<Pcr>, BootError> {
    let bad = |why: String| BootError::Measure { path: uki.path.to_owned(), why };
    let stub = stub_version(uki.bytes).map_err(bad)?;
    let kernel = pe::section(uki.bytes, ".linux").ok_or_else(|| bad("it has no .linux section".into()))?;
    let kernel_measured = !(stub >= 258 || stub >= 252 && secure_boot.is_some());
    let path = format!("{} .linux", uki.path);
    let (pcr4, kernel, pcr11) = std::thread::scope(|s| {
        let kernel = kernel_measured.then(|| s.spawn(|| application(Image { path: &path, bytes: kernel }, bank)));
        let pcr11 = (with_pcr11 && stub == PCR11_STUB).then(|| s.spawn(|| sections(uki.bytes, bank)));
        let pcr4 = boot_option(uki, bank);
        (pcr4, kernel.map(joined), pcr11.map(joined))
    });
    let pcr4: Vec<Event> = pcr4?.into_iter().chain(kernel.transpose()?).collect();
    let pcr7 = secure_boot_policy(&[uki], secure_boot, bank)?;
    let mut pcrs = vec![Pcr::new(4, bank, pcr4), Pcr::new(7, bank, pcr7)];
    pcrs.extend(pcr11.map(|events| Pcr::new(11, bank, events)));
    pcrs.push(Pcr::new(12, bank, Vec::new()));
    Ok(pcrs)
}

/// The PCRs 4, 7, 11 and 12 in `bank` of a UEFI boot of systemd-boot 252 (`loader`, the
/// ESP's default boot path) starting the Linux kernel `kernel` of its entry with the load
/// options `options` ([`systemd_boot_entry`]). PCR4 holds both images, each loaded
/// through the firmware; PCR7 the db entries that authorized them (each once); nothing
/// measures PCR11; systemd-boot measures the load options into PCR12 (systemd-boot(7),
/// "TPM PCR Notes": the kernel command line, as UTF-16 with its NUL, an `EV_IPL`).
pub fn systemd_boot(
    loader: Image,
    kernel: Image,
    options: &str,
    secure_boot: Option<&SecureBootVariables>,
    bank: Bank,
) -> Result<Vec<Pcr>, BootError> {
    let mut pcr4 = boot_option(loader, bank)?;
    pcr4.push(application(kernel, bank)?);
    let utf16: Vec<u8> = options.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
    let pcr12 = Event { kind: EventType::Ipl, description: options.to_owned(), digest: bank.digest(&[&utf16]) };
    Ok(vec![
        Pcr::new(4, bank, pcr4),
        Pcr::new(7, bank, secure_boot_policy(&[loader, kernel], secure_boot, bank)?),
        Pcr::new(11, bank, Vec::new()),
        Pcr::new(12, bank, vec![pcr12]),
    ])
}

/// The path of the kernel a systemd-boot 252 loader entry (boot loader specification,
/// type #1) starts, and the load options systemd-boot passes it: an `initrd=\PATH` for
/// each `initrd` line (slashes turned to backslashes), then the `options` lines, joined
/// by spaces (systemd v252, src/boot/efi/boot.c, `config_entry_add_type1`). `None`
/// without a `linux` line.
pub fn systemd_boot_entry(entry: &str) -> Option<(String, String)> {
    let (mut linux, mut initrds, mut options) = (None, Vec::new(), Vec::new());
    for line in entry.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match (key, value.trim()) {
            ("linux", v) => linux = Some(v.to_owned()),
            ("initrd", v) => initrds.push(format!("initrd={}", v.replace('/', "\\"))),
            ("options", v) => options.push(v.to_owned()),
            _ => {}
        }
    }
    let options = initrds.into_iter().chain(options).collect::<Vec<_>>().join(" ");
    Some((linux?, options))
}

/// PCR4's events for the boot option's application `image`: the action, the separator
/// (the firmware's, before its first boot attempt), the image.
fn boot_option(image: Image, bank: Bank) -> Result<Vec<Event>, BootError> {
    let action = Event {
        kind: EventType::Action,
        description: text(CALLING_BOOT_OPTION),
        digest: bank.digest(&[CALLING_BOOT_OPTION]),
    };
    Ok(vec![action, separator(bank), application(image, bank)?])
}

/// The firmware's measurement of `image` as it loads it: its Authenticode hash.
fn application(image: Image, bank: Bank) -> Result<Event, BootError> {
    let digest = bank
        .image_hash(image.bytes)
        .map_err(|e| BootError::Measure { path: image.path.to_owned(), why: e.to_string() })?;
    Ok(Event { kind: EventType::BootServicesApplication, description: image.path.to_owned(), digest })
}

/// A scoped thread's result; its panic goes on in this thread.
fn joined<T>(t: std::thread::ScopedJoinHandle<'_, T>) -> T {
    t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// PCR11's events from systemd-stub 252 (systemd-stub(7)): for each of its sections the
/// UKI has, in its order, the section's name with its NUL, then its content as loaded
/// (`VirtualSize` bytes), each an `EV_IPL`. What `systemd-measure calculate` predicts
/// before any boot phase is measured.
fn sections(uki: &[u8], bank: Bank) -> Vec<Event> {
    let mut events = Vec::new();
    for name in STUB_252_SECTIONS {
        let Some((data, size)) = pe::section_with_size(uki, name) else { continue };
        let named = [name.as_bytes(), b"\0"].concat();
        events.push(Event { kind: EventType::Ipl, description: name.to_owned(), digest: bank.digest(&[&named]) });
        let padding = vec![0u8; size.saturating_sub(data.len())];
        let description = format!("{name} content");
        events.push(Event { kind: EventType::Ipl, description, digest: bank.digest(&[data, &padding]) });
    }
    events
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn separator(bank: Bank) -> Event {
    Event { kind: EventType::Separator, description: "separator".into(), digest: bank.digest(&[&SEPARATOR]) }
}

/// The major version of the stub, from its `.sdmagic` section
/// (`#### LoaderInfo: systemd-stub 252.39-1~deb12u1 ####`).
fn stub_version(uki: &[u8]) -> Result<u32, String> {
    let magic = pe::section(uki, ".sdmagic")
        .ok_or("it has no .sdmagic section: the stub's version decides whether the kernel is measured")?;
    let magic = String::from_utf8_lossy(magic);
    let version = magic
        .trim_end_matches('\0')
        .strip_prefix(SDMAGIC.0)
        .and_then(|v| v.strip_suffix(SDMAGIC.1))
        .ok_or_else(|| format!("its .sdmagic section {magic:?} does not name a systemd-stub version"))?;
    let major: String = version.chars().take_while(char::is_ascii_digit).collect();
    major.parse().map_err(|_| format!("its .sdmagic section names no version number: {version:?}"))
}

/// A `UEFI_VARIABLE_DATA` event's digest: the variable's GUID, the lengths of its name (in
/// characters) and of its data as 64-bit numbers, its name in UTF-16 without a NUL, its
/// data.
fn variable(bank: Bank, kind: EventType, guid: Uuid, name: &str, data: &[u8]) -> Event {
    let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let digest = bank.digest(&[
        &guid.to_bytes_le(),
        &(name.encode_utf16().count() as u64).to_le_bytes(),
        &(data.len() as u64).to_le_bytes(),
        &utf16,
        data,
    ]);
    Event { kind, description: name.to_owned(), digest }
}

/// PCR7's events: the policy variables, the separator, and with Secure Boot the db entry
/// (owner and certificate, an `EFI_SIGNATURE_DATA`) whose certificate is in the
/// signature of each of `images`, in order, each entry once.
fn secure_boot_policy(images: &[Image], sb: Option<&SecureBootVariables>, bank: Bank) -> Result<Vec<Event>, BootError> {
    let v = sb.copied().unwrap_or_default();
    let config = EventType::VariableDriverConfig;
    let mut events = vec![
        variable(bank, config, EFI_GLOBAL_VARIABLE, "SecureBoot", &[u8::from(sb.is_some())]),
        variable(bank, config, EFI_GLOBAL_VARIABLE, "PK", v.pk),
        variable(bank, config, EFI_GLOBAL_VARIABLE, "KEK", v.kek),
        variable(bank, config, EFI_IMAGE_SECURITY_DATABASE, "db", v.db),
        variable(bank, config, EFI_IMAGE_SECURITY_DATABASE, "dbx", v.dbx),
        separator(bank),
    ];
    if sb.is_none() {
        return Ok(events);
    }
    let bad = |path: &str, why: String| BootError::Measure { path: path.to_owned(), why };
    let db = efi_signature_list::x509_entries(v.db)
        .ok_or_else(|| bad(images[0].path, "the db is not a list of EFI signature lists".into()))?;
    let mut measured: Vec<Vec<u8>> = Vec::new();
    for image in images {
        let signed_with = authenticode::certificates(image.bytes).map_err(|e| bad(image.path, e.to_string()))?;
        let authority = signed_with.iter().find_map(|certs| {
            certs
                .iter()
                .find_map(|c| db.iter().find(|(_, der)| der == c))
                .map(|(owner, der)| [&owner[..], der].concat())
        });
        let Some(data) = authority.filter(|d| !measured.contains(d)) else { continue };
        let mut e = variable(bank, EventType::VariableAuthority, EFI_IMAGE_SECURITY_DATABASE, "db", &data);
        e.description = format!("db (the entry that authorized {})", image.path);
        events.push(e);
        measured.push(data);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_free_pcr_stays_at_zeros_and_extends_chain() {
        let bank = Bank::Sha384;
        assert_eq!(Pcr::new(12, bank, Vec::new()).value, vec![0; 48]);
        let e = separator(bank);
        let once = Pcr::new(4, bank, vec![e.clone()]).value;
        assert_eq!(once, bank.digest(&[&[0; 48], &e.digest]));
        assert_eq!(Pcr::new(4, Bank::Sha256, vec![separator(Bank::Sha256)]).value.len(), 32);
    }

    #[test]
    fn a_systemd_boot_entry_gives_the_kernel_and_its_load_options() {
        let entry =
            "title x\nlinux /ingot/linux\ninitrd /ingot/initrd\n# note\noptions console=ttyS0 ro\noptions quiet\n";
        let (linux, options) = systemd_boot_entry(entry).unwrap();
        assert_eq!(linux, "/ingot/linux");
        assert_eq!(options, "initrd=\\ingot\\initrd console=ttyS0 ro quiet");
        assert_eq!(systemd_boot_entry("options x\n"), None);
    }

    #[test]
    fn a_variable_event_hashes_the_uefi_variable_data() {
        let e = variable(Bank::Sha256, EventType::VariableDriverConfig, EFI_GLOBAL_VARIABLE, "PK", &[9, 9]);
        let mut data = EFI_GLOBAL_VARIABLE.to_bytes_le().to_vec();
        data.extend_from_slice(&2u64.to_le_bytes());
        data.extend_from_slice(&2u64.to_le_bytes());
        data.extend_from_slice(&[b'P', 0, b'K', 0, 9, 9]);
        assert_eq!(e.digest, Bank::Sha256.digest(&[&data]));
    }
}
