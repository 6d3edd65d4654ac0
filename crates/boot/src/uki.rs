//! Unified kernel images: systemd-stub with the os-release, command line, kernel version,
//! initrd and kernel added as PE sections, as systemd's ukify adds them (see [`crate::pe`]),
//! put on the ESP as the default (removable media) boot path. Assembled in Rust, with no
//! host tool, so the same recipe gives the same UKI on any host and for any architecture.

use crate::pe::{self, PeImage};
use crate::{arch, file_in, BootError, Config};
use ingot_tree::{Content, Kind, Tree};

/// The whole content of a file of the tree; `what` names it in errors.
pub(crate) fn read(content: &Content, what: &str) -> Result<Vec<u8>, BootError> {
    let mut bytes = Vec::new();
    content
        .reader()
        .and_then(|mut r| std::io::Read::read_to_end(&mut r, &mut bytes))
        .map_err(BootError::io(format!("reading {what}")))?;
    Ok(bytes)
}

/// The root tree's os-release, if it has one.
fn os_release(root: &Tree) -> Option<Content> {
    ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|p| match root.lookup(p).map(|id| &root.node(id).kind) {
        Some(Kind::File(c)) => Some(c.clone()),
        _ => None,
    })
}

/// The kernel's version as `uname -r` prints it, found as systemd's ukify finds it: from an
/// x86 boot image's setup header (`kernel_version` at 0x20E points at a NUL-terminated
/// string, 0x200 bytes before it), else from the banner `Linux version VERSION (` in an
/// uncompressed kernel (an arm64 `Image`); `None` when neither is there.
fn uname(kernel: &[u8]) -> Option<String> {
    uname_x86(kernel).or_else(|| uname_banner(kernel))
}

fn uname_x86(kernel: &[u8]) -> Option<String> {
    if kernel.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let at = u16::from_le_bytes(kernel.get(0x20e..0x210)?.try_into().ok()?) as usize + 0x200;
    let text = kernel.get(at..)?.split(|&b| b == 0).next()?;
    let version = std::str::from_utf8(text).ok()?.split_whitespace().next()?;
    (!version.is_empty()).then(|| version.to_string())
}

/// ukify's pattern: `Linux version (\d\S+) \(`.
fn uname_banner(kernel: &[u8]) -> Option<String> {
    const BANNER: &[u8] = b"Linux version ";
    let mut rest = kernel;
    while let Some(at) = rest.windows(BANNER.len()).position(|w| w == BANNER) {
        rest = &rest[at + BANNER.len()..];
        let end = rest.iter().take(256).position(|b| b.is_ascii_whitespace() || !b.is_ascii_graphic());
        if let Some(end) = end.filter(|&e| e > 0 && rest[0].is_ascii_digit() && rest[e..].starts_with(b" (")) {
            return std::str::from_utf8(&rest[..end]).ok().map(str::to_string);
        }
    }
    None
}

/// The stub's `.sdmagic` (its version, which AWS's nitro-tpm-pcr-compute reads to know
/// what the stub measures) and `.sbat` (what shim checks), when the stub has them only in
/// bytes after its sections that no section header describes (Debian 12's arm64 stub,
/// laid out by gnu-efi's `objcopy -O binary`): each NUL-terminated text, to be added as
/// a section of its own, as a stub linked by a newer systemd has them. Empty when the
/// stub describes its `.sdmagic`.
fn undescribed_sections(stub: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    const TEXTS: [(&str, &[u8]); 2] = [(".sdmagic", b"#### LoaderInfo: systemd-stub "), (".sbat", b"sbat,1,")];
    let Ok(layout) = pe::Layout::read(stub) else { return Vec::new() };
    if pe::section(stub, ".sdmagic").is_some() {
        return Vec::new();
    }
    let end = layout.sections.iter().map(|&(at, size)| at + size).max().unwrap_or(0).max(layout.size_of_headers);
    let tail = stub.get(end..).unwrap_or_default();
    let text = |start: &[u8]| -> Option<Vec<u8>> {
        let at = tail.windows(start.len()).position(|w| w == start)?;
        let len = tail[at..].iter().position(|&b| b == 0)?;
        Some(tail[at..=at + len].to_vec())
    };
    TEXTS.iter().filter_map(|&(name, start)| Some((name, text(start)?))).collect()
}

/// Builds the UKI from the root tree's systemd-stub, kernel and initrd.
pub(crate) fn make(config: &Config, root: &Tree) -> Result<Vec<u8>, BootError> {
    let stub_path = format!("/usr/lib/systemd/boot/efi/linux{}.efi.stub", config.arch.efi_suffix());
    let hint = " (the stub comes from the root tree; Debian: systemd-boot-efi)";
    let stub = read(&file_in(config, root, &stub_path, "boot.uefi = \"uki\"", hint)?, "the UKI's stub")?;
    arch::check(config, &stub_path, &stub)?;
    let kernel = read(&file_in(config, root, &config.kernel, "boot.kernel", "")?, "the UKI's kernel")?;
    let initrd = match &config.initrd {
        Some(p) => Some(read(&file_in(config, root, p, "boot.initrd", "")?, "the UKI's initrd")?),
        None => None,
    };
    let osrel = match os_release(root) {
        Some(c) => read(&c, "the UKI's os-release")?,
        None => format!("ID=ingot\nNAME={0}\nPRETTY_NAME={0}\n", config.title).into_bytes(),
    };
    let bad = |e: pe::PeError| BootError::BadStub { path: stub_path.clone(), why: e.to_string() };
    let undescribed = undescribed_sections(&stub);
    let mut uki = PeImage::parse(stub).map_err(bad)?;
    uki.drop_trailing_bytes().map_err(bad)?;
    for (name, data) in &undescribed {
        uki.add_section(name, data).map_err(bad)?;
    }
    uki.add_section(".osrel", &osrel).map_err(bad)?;
    uki.add_section(".cmdline", config.kernel_cmdline().as_bytes()).map_err(bad)?;
    if let Some(version) = uname(&kernel) {
        uki.add_section(".uname", version.as_bytes()).map_err(bad)?;
    }
    if let Some(initrd) = &initrd {
        uki.add_section(".initrd", initrd).map_err(bad)?;
    }
    uki.add_section(".linux", &kernel).map_err(bad)?;
    crate::sign(config, uki.finish(), &config.removable_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_after_the_sections_become_sections_and_described_ones_stay() {
        let mut stub = vec![0u8; 0x400];
        stub[..2].copy_from_slice(b"MZ");
        stub[0x3c] = 0x40;
        stub[0x40..0x44].copy_from_slice(b"PE\0\0");
        stub[0x44..0x46].copy_from_slice(&pe::IMAGE_FILE_MACHINE_ARM64.to_le_bytes());
        stub[0x54..0x56].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader
        stub[0x58..0x5a].copy_from_slice(&0x20bu16.to_le_bytes());
        stub[0x58 + 60..0x58 + 64].copy_from_slice(&0x200u32.to_le_bytes()); // SizeOfHeaders
        stub[0x58 + 108..0x58 + 112].copy_from_slice(&16u32.to_le_bytes());
        stub.extend_from_slice(b"junk\0sbat,1,SBAT Version\n\0xx#### LoaderInfo: systemd-stub 252.39 ####\0");
        let found = undescribed_sections(&stub);
        assert_eq!(found[0], (".sdmagic", b"#### LoaderInfo: systemd-stub 252.39 ####\0".to_vec()));
        assert_eq!(found[1], (".sbat", b"sbat,1,SBAT Version\n\0".to_vec()));
        assert!(undescribed_sections(&stub[..0x400]).is_empty());
    }

    #[test]
    fn the_kernel_version_is_read_from_an_x86_setup_header() {
        let mut k = vec![0u8; 0x1000];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        k[0x500..0x520].copy_from_slice(b"6.1.0-18-amd64 (debian@x) #1 S\0\0");
        assert_eq!(uname(&k).as_deref(), Some("6.1.0-18-amd64"));
        assert_eq!(uname(&k[..0x400]), None, "the string is cut off");
        assert_eq!(uname(&[0u8; 0x1000]), None, "not a bzImage");
    }

    #[test]
    fn the_kernel_version_is_read_from_the_banner_of_an_uncompressed_kernel() {
        let mut k = b"\0Linux version %s (nope)\0Linux version 6.1.0-57-cloud-arm64 (debian-kernel@".to_vec();
        k.splice(0..0, vec![7u8; 100]);
        assert_eq!(uname(&k).as_deref(), Some("6.1.0-57-cloud-arm64"), "the printf format is skipped");
        assert_eq!(uname(b"Linux version 6.1.0-57-cloud-arm64"), None, "no ' (' after it");
        assert_eq!(uname(b"nothing here"), None);
    }
}
