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

/// Writes `text` to `dir/name`.
fn put_text(dir: &Path, name: &str, text: &str) -> Result<PathBuf, BootError> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(BootError::io_at(&path))?;
    Ok(path)
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
    objcopy.arg(put(dir, "stub.efi", &stub)?).arg(&out);
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
    std::fs::read(&out).map_err(BootError::io_at(&out))
}
