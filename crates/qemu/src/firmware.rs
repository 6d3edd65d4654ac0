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
///
/// For Secure Boot, `vars` is the template a store with the image's keys is written into
/// (`ingot_boot::variable_store::replace`): a formatted store whose own keys are replaced.
#[derive(Clone, Copy, Debug)]
pub struct FirmwareFiles {
    /// The code, attached read-only.
    pub code: &'static str,
    /// The variable store, copied for each boot unless one is given.
    pub vars: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

/// OVMF for x86_64, the 4 MiB flash layout (Debian's ovmf).
pub const OVMF: FirmwareFiles =
    FirmwareFiles { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd", package: "ovmf" };
/// OVMF's Secure Boot build (SMM, enforcing when the store holds a PK); its template is
/// the empty formatted store.
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

/// AAVMF with a formatted store to write keys into: Debian's `AAVMF_VARS.fd` is blank
/// (zeros, formatted by the firmware on its first boot), so the template is the store with
/// Microsoft's keys enrolled, whose keys `ingot_boot::variable_store` replaces.
pub const AAVMF_SECURE_BOOT: FirmwareFiles = FirmwareFiles { vars: "/usr/share/AAVMF/AAVMF_VARS.ms.fd", ..AAVMF };

/// The UEFI firmware for `arch` and `firmware` (`None`: SeaBIOS, no files); SeaBIOS on
/// arm64 is an error.
pub fn files(arch: Arch, firmware: Firmware) -> Result<Option<FirmwareFiles>, QemuError> {
    Ok(Some(match (arch, firmware) {
        (Arch::X86_64, Firmware::Bios) => return Ok(None),
        (Arch::Arm64, Firmware::Bios) => {
            return Err(QemuError::Io {
                context: "SeaBIOS (`bios`)".into(),
                source: std::io::Error::other("arm64 machines boot with UEFI only"),
            })
        }
        (Arch::X86_64, Firmware::Uefi) => OVMF,
        (Arch::X86_64, Firmware::SecureBoot) => OVMF_SECURE_BOOT,
        (Arch::Arm64, Firmware::Uefi) => AAVMF,
        (Arch::Arm64, Firmware::SecureBoot) => AAVMF_SECURE_BOOT,
    }))
}

/// Fails, naming the Debian package, unless every file of `files` is installed.
pub fn installed(files: &FirmwareFiles) -> Result<(), QemuError> {
    for path in [files.code, files.vars] {
        if !Path::new(path).exists() {
            return Err(QemuError::Missing { what: "UEFI firmware".into(), path: path.into(), package: files.package });
        }
    }
    Ok(())
}

/// Adds the firmware `options` asks for to `qemu`, copying the variable store into `work`.
pub(crate) fn attach(qemu: &mut Command, options: &Options, work: &Path) -> Result<(), QemuError> {
    let Some(files) = files(options.arch, options.firmware)? else { return Ok(()) };
    if options.firmware == Firmware::SecureBoot && options.vars.is_none() {
        return Err(QemuError::Io {
            context: "Secure Boot".into(),
            source: std::io::Error::other("the firmware needs a variable store holding PK, KEK and db"),
        });
    }
    installed(&files)?;
    let vars = options.vars.as_deref().unwrap_or(Path::new(files.vars));
    let copy = work.join("VARS.fd");
    std::fs::copy(vars, &copy).map_err(io(format!("copying the variable store {}", vars.display())))?;
    qemu.arg("-drive").arg(format!("if=pflash,format=raw,readonly=on,file={}", files.code));
    qemu.arg("-drive").arg(format!("if=pflash,format=raw,file={}", copy.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_firmware_is_named_with_its_package() {
        let gone = FirmwareFiles { code: "/nonexistent/AAVMF_CODE.fd", ..AAVMF };
        let err = installed(&gone).unwrap_err().to_string();
        assert_eq!(
            err,
            "UEFI firmware not found (/nonexistent/AAVMF_CODE.fd): install Debian's qemu-efi-aarch64 package"
        );
        assert!(files(Arch::Arm64, Firmware::Bios).is_err());
        assert!(files(Arch::X86_64, Firmware::Bios).unwrap().is_none());
        assert_eq!(files(Arch::Arm64, Firmware::SecureBoot).unwrap().unwrap().vars, AAVMF_SECURE_BOOT.vars);
    }
}
