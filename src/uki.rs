//! Unified kernel images: systemd-stub with the kernel, initrd, command line and
//! os-release added as PE sections (by the host's `objcopy`, as UKIs were assembled
//! before ukify), put on the ESP as the default (removable media) boot path.

use crate::boot::file_in;
use anyhow::{bail, Context, Result};
use ingot_recipe::{Boot, Recipe};
use ingot_tree::{Kind, Tree};
use std::path::Path;
use std::process::Command;

/// Sections start at 16 MiB, above the stub's own, each on a 1 MiB boundary.
const FIRST_VMA: u64 = 0x100_0000;
const ALIGN: u64 = 0x10_0000;

/// Builds the UKI from the root tree's systemd-stub, kernel and initrd.
pub(crate) fn make(recipe: &Recipe, boot: &Boot, root: &Tree, spool: &Path) -> Result<Vec<u8>> {
    let key = "boot.uefi = \"uki\"";
    let stub_path = format!("/usr/lib/systemd/boot/efi/linux{}.efi.stub", boot.arch.efi_suffix());
    let stub = file_in(root, &stub_path, key, boot.root)
        .context("the stub comes from the root tree (Debian: systemd-boot-efi)")?;
    let kernel = file_in(root, &boot.kernel, "boot.kernel", boot.root)?;
    let initrd = boot.initrd.as_ref().map(|p| file_in(root, p, "boot.initrd", boot.root)).transpose()?;
    let work = tempfile::tempdir_in(spool).context("cannot make a directory for the UKI")?;
    let put = |name: &str, content: &ingot_tree::Content| -> Result<std::path::PathBuf> {
        let path = work.path().join(name);
        let mut file = std::fs::File::create(&path)?;
        std::io::copy(&mut content.reader()?, &mut file)?;
        Ok(path)
    };
    let os_release = ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|p| {
        match root.lookup(p).map(|id| &root.node(id).kind) {
            Some(Kind::File(c)) => Some(c.clone()),
            _ => None,
        }
    });
    let osrel = match os_release {
        Some(c) => put("osrel", &c)?,
        None => {
            let path = work.path().join("osrel");
            std::fs::write(&path, format!("ID=ingot\nNAME={0}\nPRETTY_NAME={0}\n", recipe.name))?;
            path
        }
    };
    let cmdline = work.path().join("cmdline");
    let partuuid = recipe.partuuid(boot.root + 1);
    std::fs::write(&cmdline, format!("{} root=PARTUUID={partuuid} rootfstype=ext4", boot.cmdline))?;
    let mut sections = vec![(".osrel", osrel), (".cmdline", cmdline), (".linux", put("linux", &kernel)?)];
    if let Some(i) = &initrd {
        sections.push((".initrd", put("initrd", i)?));
    }
    let mut objcopy = Command::new("objcopy");
    let mut vma = FIRST_VMA;
    for (name, path) in &sections {
        let len = std::fs::metadata(path)?.len();
        objcopy.arg("--add-section").arg(format!("{name}={}", path.display()));
        objcopy.arg("--change-section-vma").arg(format!("{name}={vma:#x}"));
        vma = (vma + len).next_multiple_of(ALIGN);
    }
    let out = work.path().join("uki.efi");
    objcopy.arg(put("stub.efi", &stub)?).arg(&out);
    let status =
        objcopy.status().context("a UKI is assembled with objcopy, which is not on this machine (Debian: binutils)")?;
    if !status.success() {
        bail!("objcopy failed ({status}) adding the kernel, initrd and command line to {stub_path}");
    }
    Ok(std::fs::read(&out)?)
}
