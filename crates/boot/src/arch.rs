//! Which architecture a boot binary is for, read from its headers, so that a kernel, stub
//! or loader built for another architecture than the recipe's `[boot] arch` is refused
//! when the image is built rather than by the firmware of a launched instance.
//!
//! - A PE/COFF image (an EFI application, or a kernel with its EFI stub): `Machine` in the
//!   COFF file header (PE Format, "Machine Types": 0x8664 x86_64, 0xAA64 arm64).
//! - An arm64 kernel `Image`: the magic `ARM\x64` at 0x38 (Linux,
//!   Documentation/arch/arm64/booting.rst, "Call the kernel image", the image header).
//! - An x86 bzImage: `HdrS` at 0x202 (Linux, Documentation/arch/x86/boot.rst, "The real-mode
//!   kernel header").
//!
//! Anything else (a compressed kernel, say) is not judged.

use crate::pe::{self, IMAGE_FILE_MACHINE_AMD64, IMAGE_FILE_MACHINE_ARM64};
use crate::{BootError, Config};
use ingot_tree::Content;
use ingot_types::Arch;

/// Bytes read from the start of a file to judge it: every header above lies in them for
/// the binaries Debian ships (their PE header is at 0x40..0x100).
pub(crate) const HEAD: usize = 4096;

/// The architecture `bytes` (the start of a file) was built for, when its headers say.
pub(crate) fn of(bytes: &[u8]) -> Option<Result<Arch, u16>> {
    if let Some(machine) = pe::machine(bytes) {
        return Some(match machine {
            IMAGE_FILE_MACHINE_AMD64 => Ok(Arch::X86_64),
            IMAGE_FILE_MACHINE_ARM64 => Ok(Arch::Arm64),
            other => Err(other),
        });
    }
    if bytes.get(0x38..0x3c) == Some(b"ARM\x64") {
        return Some(Ok(Arch::Arm64));
    }
    (bytes.get(0x202..0x206) == Some(b"HdrS")).then_some(Ok(Arch::X86_64))
}

/// The architecture named by the headers of `bytes` (the start of a file): `x86_64`,
/// `arm64`, `PE Machine 0x…` for another PE image, `None` when no header says.
pub fn architecture(bytes: &[u8]) -> Option<String> {
    match of(bytes)? {
        Ok(arch) => Some(arch.as_str().to_string()),
        Err(machine) => Some(format!("PE Machine {machine:#06x}")),
    }
}

/// The first [`HEAD`] bytes of a file of the tree (fewer if it is shorter).
pub(crate) fn head(content: &Content, path: &str) -> Result<Vec<u8>, BootError> {
    let mut bytes = Vec::with_capacity(HEAD);
    content
        .reader()
        .and_then(|r| std::io::Read::read_to_end(&mut std::io::Read::take(r, HEAD as u64), &mut bytes))
        .map_err(BootError::io(format!("reading {path} in the root tree")))?;
    Ok(bytes)
}

/// Fails when `bytes` (the start of the file at `path` in the root tree) is a binary for
/// another architecture than the recipe's.
pub(crate) fn check(config: &Config, path: &str, bytes: &[u8]) -> Result<(), BootError> {
    let found = match of(bytes) {
        Some(Ok(arch)) if arch == config.arch => return Ok(()),
        Some(Ok(arch)) => arch.as_str().to_string(),
        Some(Err(machine)) => format!("unknown-architecture (PE Machine {machine:#06x})"),
        None => return Ok(()),
    };
    Err(BootError::WrongArch { path: path.to_string(), found, want: config.arch.as_str() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_header_names_its_architecture() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        pe[0x44..0x46].copy_from_slice(&IMAGE_FILE_MACHINE_ARM64.to_le_bytes());
        assert_eq!(of(&pe), Some(Ok(Arch::Arm64)));
        pe[0x44..0x46].copy_from_slice(&IMAGE_FILE_MACHINE_AMD64.to_le_bytes());
        assert_eq!(of(&pe), Some(Ok(Arch::X86_64)));
        pe[0x44..0x46].copy_from_slice(&0x14cu16.to_le_bytes());
        assert_eq!(of(&pe), Some(Err(0x14c)), "i386");

        let mut image = vec![0u8; 0x40];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(of(&image), Some(Ok(Arch::Arm64)));
        let mut bz = vec![0u8; 0x400];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(of(&bz), Some(Ok(Arch::X86_64)));
        assert_eq!(of(&[0x1f, 0x8b, 8, 0]), None, "gzip: not judged");
    }
}
