//! `ingot boot IMAGE`: the image under QEMU (ingot-qemu), its serial console on the
//! terminal; with `--expect`, an exit status scripts can use.

use anyhow::{bail, Context, Result};
use ingot_qemu::{Accel, Arch, Disk, Firmware, Options, Outcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status when the time limit passes, as timeout(1) exits.
pub const EXIT_TIMEOUT: u8 = 124;

/// `--arch`: the guest's architecture, as the recipe's `boot.arch` spells it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchChoice {
    /// x86_64 (OVMF or SeaBIOS).
    #[value(name = "x86_64")]
    X86_64,
    /// arm64 (AAVMF).
    Arm64,
}

impl From<ArchChoice> for Arch {
    fn from(a: ArchChoice) -> Arch {
        match a {
            ArchChoice::X86_64 => Arch::X86_64,
            ArchChoice::Arm64 => Arch::Arm64,
        }
    }
}

/// `--accel`: how QEMU runs the guest.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM where /dev/kvm is usable, TCG again when KVM fails or stalls the guest.
    Auto,
    /// KVM only.
    Kvm,
    /// TCG (emulation) only.
    Tcg,
}

impl From<AccelChoice> for Accel {
    fn from(a: AccelChoice) -> Accel {
        match a {
            AccelChoice::Auto => Accel::Auto,
            AccelChoice::Kvm => Accel::Kvm,
            AccelChoice::Tcg => Accel::Tcg,
        }
    }
}

/// `ingot boot`'s flags.
#[derive(clap::Args, Debug)]
pub struct BootFlags {
    /// The raw disk image.
    pub image: PathBuf,
    /// The guest's architecture (default: from the EFI binaries on the image's ESP).
    #[arg(long, value_enum)]
    pub arch: Option<ArchChoice>,
    /// Boot with SeaBIOS instead of UEFI (x86_64).
    #[arg(long, conflicts_with = "secure_boot")]
    pub bios: bool,
    /// Attach the disk on NVMe (as Nitro instances do) instead of virtio-blk.
    #[arg(long)]
    pub nvme: bool,
    /// UEFI enforcing Secure Boot (OVMF's Secure Boot build, or AAVMF) with the keys the
    /// build wrote into IMAGE.json (its uefi_data), or those in --vars.
    #[arg(long)]
    pub secure_boot: bool,
    /// A UEFI variable store (edk2 flash) to start the firmware from instead (copied; the
    /// file is not changed).
    #[arg(long)]
    pub vars: Option<PathBuf>,
    /// Attach a TPM 2.0 emulated by swtpm.
    #[arg(long)]
    pub tpm: bool,
    /// Let the guest write to the image (default: every write is discarded).
    #[arg(long)]
    pub write: bool,
    /// Stop after this many seconds (default: 300 with --expect, none without).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Stop when a console line matches this regular expression: exit 0; 1 on a kernel
    /// panic or when QEMU exits first; 124 on timeout.
    #[arg(long)]
    pub expect: Option<String>,
    /// KVM or TCG: auto uses KVM when /dev/kvm is usable for the guest's architecture and
    /// boots again under TCG if KVM fails the guest.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = ingot_qemu::DEFAULT_MEMORY_MIB)]
    pub memory: u32,
}

/// The architecture of the image's EFI binaries (arm64 if any is), else x86_64.
fn image_arch(image: &Path) -> Result<Arch> {
    let inspected = ingot::inspect(image)?;
    let arm64 = inspected
        .partitions
        .iter()
        .flat_map(|p| &p.efi_binaries)
        .any(|b| b.architecture.as_deref() == Some(Arch::Arm64.as_str()));
    Ok(if arm64 { Arch::Arm64 } else { Arch::X86_64 })
}

/// The image's variable store (from its report) in the Secure Boot firmware's flash format,
/// in a temporary file.
fn build_store(image: &Path, arch: Arch) -> Result<tempfile::NamedTempFile> {
    let files = ingot_qemu::files(arch, Firmware::SecureBoot)?.context("Secure Boot needs UEFI")?;
    ingot_qemu::installed(&files)?;
    let flash = ingot::secure_boot::firmware_store(image, Path::new(files.vars))?;
    let mut file = tempfile::Builder::new().prefix("ingot-vars.").tempfile().context("making the variable store")?;
    std::io::Write::write_all(&mut file, &flash).context("writing the variable store")?;
    Ok(file)
}

/// Runs `ingot boot`.
pub fn boot(flags: &BootFlags) -> Result<ExitCode> {
    super::quiet_fat_reader_panics();
    if let Err(e) = ingot_types::input::regular_len(&flags.image) {
        bail!("{e}: ingot boot takes an image file");
    }
    let arch = match flags.arch {
        Some(a) => a.into(),
        None => image_arch(&flags.image)?,
    };
    let mut options = Options::new(flags.image.clone(), arch);
    options.firmware = if flags.bios {
        Firmware::Bios
    } else if flags.secure_boot {
        Firmware::SecureBoot
    } else {
        Firmware::Uefi
    };
    options.vars = flags.vars.clone();
    // The store the build wrote, in the firmware's own format; removed when `_store` drops.
    let _store = match (&options.vars, options.firmware) {
        (None, Firmware::SecureBoot) => Some(build_store(&flags.image, arch)?),
        _ => None,
    };
    if let Some(store) = &_store {
        options.vars = Some(store.path().to_path_buf());
    }
    options.disk = if flags.nvme { Disk::Nvme } else { Disk::VirtioBlk };
    options.accel = flags.accel.into();
    options.tpm = flags.tpm;
    options.write = flags.write;
    options.memory_mib = flags.memory;
    let Some(expect) = &flags.expect else {
        options.timeout = flags.timeout.map_or(Duration::MAX, Duration::from_secs);
        return Ok(exit_code(ingot_qemu::interactive(&options)?, None, &options));
    };
    let pattern = regex_lite::Regex::new(expect).with_context(|| format!("--expect {expect:?}"))?;
    options.timeout = flags.timeout.map_or(ingot_qemu::DEFAULT_TIMEOUT, Duration::from_secs);
    let outcome = ingot_qemu::run(&options, Some(&pattern), |line| {
        // The console goes on whether or not anyone reads it (a closed pipe, a full disk).
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{line}\n").as_bytes());
    })?;
    Ok(exit_code(outcome, Some(expect), &options))
}

/// The exit status for how a boot ended (with `expect`, what it waited for), saying why
/// on standard error unless the boot did what was asked.
fn exit_code(outcome: Outcome, expect: Option<&str>, options: &Options) -> ExitCode {
    let waited = expect.map_or(String::new(), |e| format!(" before a line matched {e:?}"));
    match outcome {
        Outcome::Matched(_) => ExitCode::SUCCESS,
        Outcome::Exited(Some(0)) if expect.is_none() => ExitCode::SUCCESS,
        Outcome::Panic(line) => {
            eprintln!("ingot boot: the kernel panicked: {line}");
            ExitCode::FAILURE
        }
        Outcome::Timeout => {
            eprintln!("ingot boot: stopped after {} s{waited}", options.timeout.as_secs());
            ExitCode::from(EXIT_TIMEOUT)
        }
        Outcome::Exited(status) => {
            let status = status.map_or("killed by a signal".to_string(), |c| format!("exit status {c}"));
            eprintln!("ingot boot: QEMU ended ({status}){waited}");
            ExitCode::FAILURE
        }
        Outcome::KvmFailed(why) => {
            eprintln!("ingot boot: KVM failed the guest ({why}); boot with --accel tcg or --accel auto");
            ExitCode::FAILURE
        }
    }
}
