//! The firmware QEMU boots with: for UEFI, its code (read-only flash) and a fresh copy of
//! a variable store (writable flash), from Debian's packages.

use crate::{io, Arch, Options, QemuError};
use std::path::Path;
use std::process::Command;

/// Which firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// UEFI: OVMF (x86_64) or AAVMF (arm64).
    Uefi,
    /// UEFI enforcing Secure Boot with the keys of the variable store given: OVMF's
    /// Secure Boot build (which needs SMM) or AAVMF (which has Secure Boot).
    SecureBoot,
    /// SeaBIOS, QEMU's default (x86_64 only).
    Bios,
}

/// A UEFI firmware's files and the Debian package that installs them.
#[derive(Clone, Copy, Debug)]
pub struct FirmwareFiles {
    /// The code, attached read-only.
    pub code: &'static str,
    /// The empty variable store, copied for each boot.
    pub vars: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

/// OVMF for x86_64, the 4 MiB flash layout (Debian's ovmf).
pub const OVMF: FirmwareFiles =
    FirmwareFiles { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd", package: "ovmf" };
/// OVMF's Secure Boot build (SMM, enforcing when the store holds a PK).
pub const OVMF_SECURE_BOOT: FirmwareFiles = FirmwareFiles {
    code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
    vars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
    package: "ovmf",
};
/// AAVMF for arm64 (Debian's qemu-efi-aarch64); its code has Secure Boot.
pub const AAVMF: FirmwareFiles = FirmwareFiles {
    code: "/usr/share/AAVMF/AAVMF_CODE.fd",
    vars: "/usr/share/AAVMF/AAVMF_VARS.fd",
    package: "qemu-efi-aarch64",
};

/// Adds the firmware `options` asks for to `qemu`, copying the variable store into `work`.
pub(crate) fn attach(qemu: &mut Command, options: &Options, work: &Path) -> Result<(), QemuError> {
    let files = match (options.arch, options.firmware) {
        (Arch::X86_64, Firmware::Bios) => return Ok(()),
        (Arch::Arm64, Firmware::Bios) => {
            return Err(QemuError::Io {
                context: "--bios".into(),
                source: std::io::Error::other("arm64 machines boot with UEFI only"),
            })
        }
        (Arch::X86_64, Firmware::Uefi) => OVMF,
        (Arch::X86_64, Firmware::SecureBoot) => OVMF_SECURE_BOOT,
        (Arch::Arm64, _) => AAVMF,
    };
    if options.firmware == Firmware::SecureBoot && options.vars.is_none() {
        return Err(QemuError::Io {
            context: "Secure Boot".into(),
            source: std::io::Error::other("the firmware needs a variable store holding PK, KEK and db"),
        });
    }
    for path in [files.code, files.vars] {
        if !Path::new(path).exists() {
            return Err(QemuError::Missing { what: "UEFI firmware".into(), path: path.into(), package: files.package });
        }
    }
    let vars = options.vars.as_deref().unwrap_or(Path::new(files.vars));
    let copy = work.join("VARS.fd");
    std::fs::copy(vars, &copy).map_err(io(format!("copying the variable store {}", vars.display())))?;
    qemu.arg("-drive").arg(format!("if=pflash,format=raw,readonly=on,file={}", files.code));
    qemu.arg("-drive").arg(format!("if=pflash,format=raw,file={}", copy.display()));
    Ok(())
}
