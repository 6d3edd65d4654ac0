//! `ingot boot IMAGE`: the image under QEMU (ingot-qemu), its serial console on the
//! terminal; with `--expect`, an exit status scripts can use.

use anyhow::{bail, Context, Result};
use ingot_qemu::{Arch, Disk, Firmware, Options, Outcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status when the time limit passes, as timeout(1) exits.
pub const EXIT_TIMEOUT: u8 = 124;

/// `ingot boot`'s flags.
#[derive(clap::Args, Debug)]
pub struct BootFlags {
    /// The raw disk image.
    pub image: PathBuf,
    /// The guest's architecture (default: from the EFI binaries on the image's ESP).
    #[arg(long, value_parser = ["x86_64", "arm64"])]
    pub arch: Option<String>,
    /// Boot with SeaBIOS instead of UEFI (x86_64).
    #[arg(long, conflicts_with = "secure_boot")]
    pub bios: bool,
    /// Attach the disk on NVMe (as Nitro instances do) instead of virtio-blk.
    #[arg(long)]
    pub nvme: bool,
    /// UEFI enforcing Secure Boot with the keys in --vars (OVMF's Secure Boot build, or AAVMF).
    #[arg(long, requires = "vars")]
    pub secure_boot: bool,
    /// A UEFI variable store to start from (copied; the file is not changed), e.g. one
    /// `uefivars -i aws -o edk2` made from the build's uefi_data (docs/secure-boot.md).
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
    /// Guest memory in MiB.
    #[arg(long, default_value_t = ingot_qemu::DEFAULT_MEMORY_MIB)]
    pub memory: u32,
}

/// The architecture of the image's EFI binaries (arm64 if any is), else x86_64.
fn image_arch(image: &Path) -> Result<Arch> {
    let inspected = ingot::inspect(image)?;
    let arm64 = inspected.partitions.iter().flat_map(|p| &p.efi_binaries).any(|b| b.architecture.as_deref() == Some("arm64"));
    Ok(if arm64 { Arch::Arm64 } else { Arch::X86_64 })
}

/// Runs `ingot boot`.
pub fn boot(flags: &BootFlags) -> Result<ExitCode> {
    if !flags.image.is_file() {
        bail!("{}: no such image", flags.image.display());
    }
    let arch = match flags.arch.as_deref() {
        Some("arm64") => Arch::Arm64,
        Some(_) => Arch::X86_64,
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
    options.disk = if flags.nvme { Disk::Nvme } else { Disk::VirtioBlk };
    options.tpm = flags.tpm;
    options.write = flags.write;
    options.memory_mib = flags.memory;
    let Some(expect) = &flags.expect else {
        options.timeout = flags.timeout.map_or(Duration::MAX, Duration::from_secs);
        return Ok(match ingot_qemu::interactive(&options)? {
            Some(0) => ExitCode::SUCCESS,
            Some(_) => ExitCode::FAILURE,
            None => ExitCode::from(EXIT_TIMEOUT),
        });
    };
    let pattern = regex_lite::Regex::new(expect).with_context(|| format!("--expect {expect:?}"))?;
    options.timeout = flags.timeout.map_or(ingot_qemu::DEFAULT_TIMEOUT, Duration::from_secs);
    let outcome = ingot_qemu::run(&options, Some(&pattern), |line| println!("{line}"))?;
    Ok(match outcome {
        Outcome::Matched(_) => ExitCode::SUCCESS,
        Outcome::Panic(line) => {
            eprintln!("ingot boot: the kernel panicked: {line}");
            ExitCode::FAILURE
        }
        Outcome::Timeout => {
            eprintln!("ingot boot: no line matched {expect:?} within {} s", options.timeout.as_secs());
            ExitCode::from(EXIT_TIMEOUT)
        }
        Outcome::Exited(status) => {
            eprintln!("ingot boot: QEMU exited ({status:?}) before a line matched {expect:?}");
            ExitCode::FAILURE
        }
    })
}
