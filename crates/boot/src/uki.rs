//! Unified kernel images: systemd-stub with the kernel, initrd, command line and
//! os-release added as PE sections (by the host's `objcopy`, as UKIs were assembled
//! before ukify), put on the ESP as the default (removable media) boot path.

use crate::{file_in, BootError, Config};
use ingot_tree::{Content, Kind, Tree};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Sections start at 16 MiB, above the stub's own, each on a 1 MiB boundary.
const FIRST_VMA: u64 = 0x100_0000;
/// The alignment of each added section's address.
const ALIGN: u64 = 0x10_0000;

/// Copies `content` to `dir/name`.
fn put(dir: &Path, name: &str, content: &Content) -> Result<PathBuf, BootError> {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).map_err(BootError::io_at(&path))?;
    let mut reader = content.reader().map_err(BootError::io(format!("reading the UKI's {name}")))?;
    std::io::copy(&mut reader, &mut file).map_err(BootError::io_at(&path))?;
    Ok(path)
}

/// Writes `bytes` to `dir/name`.
fn put_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, BootError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(BootError::io_at(&path))?;
    Ok(path)
}

/// Writes `text` to `dir/name`.
fn put_text(dir: &Path, name: &str, text: &str) -> Result<PathBuf, BootError> {
    put_bytes(dir, name, text.as_bytes())
}

/// The root tree's os-release, if it has one.
fn os_release(root: &Tree) -> Option<Content> {
    ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|p| match root.lookup(p).map(|id| &root.node(id).kind) {
        Some(Kind::File(c)) => Some(c.clone()),
        _ => None,
    })
}

/// Builds the UKI from the root tree's systemd-stub, kernel and initrd.
pub(crate) fn make(config: &Config, root: &Tree, spool: &Path) -> Result<Vec<u8>, BootError> {
    let stub_path = format!("/usr/lib/systemd/boot/efi/linux{}.efi.stub", config.arch.efi_suffix());
    let hint = " (the stub comes from the root tree; Debian: systemd-boot-efi)";
    let stub = file_in(config, root, &stub_path, "boot.uefi = \"uki\"", hint)?;
    let kernel = file_in(config, root, &config.kernel, "boot.kernel", "")?;
    let initrd = config.initrd.as_ref().map(|p| file_in(config, root, p, "boot.initrd", "")).transpose()?;
    let work = tempfile::tempdir_in(spool).map_err(BootError::io("cannot make a directory for the UKI"))?;
    let dir = work.path();
    let osrel = match os_release(root) {
        Some(c) => put(dir, "osrel", &c)?,
        None => put_text(dir, "osrel", &format!("ID=ingot\nNAME={0}\nPRETTY_NAME={0}\n", config.title))?,
    };
    let cmdline = put_text(dir, "cmdline", &config.kernel_cmdline())?;
    let mut sections = vec![(".osrel", osrel), (".cmdline", cmdline), (".linux", put(dir, "linux", &kernel)?)];
    if let Some(i) = &initrd {
        sections.push((".initrd", put(dir, "initrd", i)?));
    }
    let mut objcopy = Command::new("objcopy");
    let mut vma = FIRST_VMA;
    for (name, path) in &sections {
        let len = std::fs::metadata(path).map_err(BootError::io_at(path))?.len();
        objcopy.arg("--add-section").arg(format!("{name}={}", path.display()));
        objcopy.arg("--change-section-vma").arg(format!("{name}={vma:#x}"));
        vma = (vma + len).next_multiple_of(ALIGN);
    }
    let out = dir.join("uki.efi");
    // The stub is read once: objcopy gets a copy, restamp its time stamp.
    let mut stub_bytes = Vec::new();
    stub.reader()
        .and_then(|mut r| std::io::Read::read_to_end(&mut r, &mut stub_bytes))
        .map_err(BootError::io(stub_path.clone()))?;
    let stub_file = put_bytes(dir, "stub.efi", &stub_bytes)?;
    objcopy.arg(stub_file).arg(&out);
    let status = objcopy.status().map_err(|source| BootError::ToolMissing {
        what: "a UKI is assembled",
        tool: "objcopy",
        package: "binutils",
        source,
    })?;
    if !status.success() {
        return Err(BootError::ToolFailed {
            tool: "objcopy".into(),
            status,
            doing: format!("adding the kernel, initrd and command line to {stub_path}"),
        });
    }
    let mut uki = std::fs::read(&out).map_err(BootError::io_at(&out))?;
    restamp(&mut uki, &stub_bytes).ok_or(BootError::NotPe { path: stub_path })?;
    Ok(uki)
}

/// objcopy stamps the PE file it writes with the time it ran (COFF `TimeDateStamp`),
/// which would make every build's UKI different: give the UKI the stub's stamp back and
/// recompute the optional header's `CheckSum` over the result. `None` when either is not
/// a PE file.
fn restamp(uki: &mut [u8], stub: &[u8]) -> Option<()> {
    let stamp = |pe: &[u8]| -> Option<usize> {
        let at = u32::from_le_bytes(pe.get(0x3c..0x40)?.try_into().ok()?) as usize;
        (pe.get(at..at + 4)? == b"PE\0\0" && pe.len() >= at + 24 + 68).then_some(at)
    };
    let (s, u) = (stamp(stub)?, stamp(uki)?);
    let time = stub.get(s + 8..s + 12)?.to_vec();
    uki[u + 8..u + 12].copy_from_slice(&time);
    let field = u + 24 + 64;
    uki[field..field + 4].fill(0);
    let sum = pe_checksum(uki);
    uki[field..field + 4].copy_from_slice(&sum.to_le_bytes());
    Some(())
}

/// The PE image checksum (as `CheckSumMappedFile` computes it): the 16-bit words of the
/// file, the checksum field zeroed, added with end-around carry, plus the file's length.
fn pe_checksum(data: &[u8]) -> u32 {
    let mut sum: u64 = 0;
    for chunk in data.chunks(2) {
        let word = u64::from(chunk[0]) | chunk.get(1).map_or(0, |&b| u64::from(b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    (sum as u32).wrapping_add(data.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE header: `MZ`, e_lfanew = 0x40, `PE\0\0`, a COFF header and room for
    /// the optional header's checksum.
    fn pe(stamp: u32) -> Vec<u8> {
        let mut v = vec![0u8; 0x40 + 24 + 96];
        v[..2].copy_from_slice(b"MZ");
        v[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        v[0x40..0x44].copy_from_slice(b"PE\0\0");
        v[0x48..0x4c].copy_from_slice(&stamp.to_le_bytes());
        v
    }

    #[test]
    fn the_uki_gets_the_stub_stamp_and_a_valid_checksum() {
        let stub = pe(1_600_000_000);
        let mut a = pe(1_700_000_001);
        let mut b = pe(1_700_000_002);
        restamp(&mut a, &stub).unwrap();
        restamp(&mut b, &stub).unwrap();
        assert_eq!(a, b, "the time objcopy ran is gone");
        assert_eq!(&a[0x48..0x4c], &1_600_000_000u32.to_le_bytes());
        let field = 0x40 + 24 + 64;
        let stored = u32::from_le_bytes(a[field..field + 4].try_into().unwrap());
        a[field..field + 4].fill(0);
        assert_eq!(stored, pe_checksum(&a));
        assert!(restamp(&mut [0u8; 16], &stub).is_none(), "not a PE file");
    }

    #[test]
    fn checksum_folds_carries_and_adds_the_length() {
        assert_eq!(pe_checksum(&[0xff, 0xff, 0x01, 0x00]), 1 + 4);
        assert_eq!(pe_checksum(&[0x01]), 1 + 1);
    }
}
