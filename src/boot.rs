//! UEFI boot with systemd-boot: the loader, its configuration, the kernel and initrd go
//! on the ESP; the kernel finds its root by the root partition's PARTUUID.

use anyhow::{bail, Context, Result};
use ingot_recipe::{Arch, Boot, Recipe};
use ingot_tree::{Content, Kind, Meta, Tree};
use std::path::Path;

/// Where Debian's systemd-boot-efi package puts the loader, in the root tree.
fn loader_path(arch: Arch) -> String {
    format!("/usr/lib/systemd/boot/efi/systemd-boot{}.efi", arch.efi_suffix())
}

/// The content of the file at `path` in partition `root`'s tree; `key` names the recipe
/// key that asked for it in errors.
pub(crate) fn file_in(tree: &Tree, path: &str, key: &str, root: usize) -> Result<Content> {
    match tree.lookup(path).map(|id| &tree.node(id).kind) {
        Some(Kind::File(c)) => Ok(c.clone()),
        Some(other) => bail!("{key}: {path} is a {} in partition[{root}]'s tree, not a file", other.name()),
        None => bail!("{key}: {path} is not in partition[{root}]'s tree; check the path or the partition's contents"),
    }
}

/// Puts systemd-boot, its configuration, the kernel and the initrd into `esp`, taking the
/// files from `root`.
pub(crate) fn install_uefi(recipe: &Recipe, boot: &Boot, esp: &mut Tree, root: &Tree, spool: &Path) -> Result<()> {
    let kernel = file_in(root, &boot.kernel, "boot.kernel", boot.root)?;
    let initrd = boot.initrd.as_ref().map(|p| file_in(root, p, "boot.initrd", boot.root)).transpose()?;
    let loader = file_in(root, &loader_path(boot.arch), "boot.uefi = \"systemd-boot\"", boot.root)
        .context("the systemd-boot EFI binary comes from the root tree (Debian: systemd-boot-efi)")?;
    let time = recipe.source_date_epoch;
    let meta = || Meta::root(0o644, time);
    let add = |esp: &mut Tree, path: &str, content: Content| -> Result<()> {
        esp.add_content(path, content, meta()).map_err(anyhow::Error::msg).with_context(|| format!("ESP: {path}"))?;
        Ok(())
    };
    let efi = format!("/EFI/BOOT/BOOT{}.EFI", boot.arch.efi_suffix().to_uppercase());
    add(esp, &efi, loader)?;
    add(esp, "/ingot/linux", kernel)?;
    let mut entry = format!("title {}\nlinux /ingot/linux\n", recipe.name);
    if let Some(i) = initrd {
        add(esp, "/ingot/initrd", i)?;
        entry += "initrd /ingot/initrd\n";
    }
    let partuuid = recipe.partuuid(boot.root + 1);
    entry += &format!("options {} root=PARTUUID={partuuid} rootfstype=ext4\n", boot.cmdline);
    let bytes = |s: &str| Content::from_bytes(s.as_bytes(), spool).context("cannot spool a boot loader file");
    add(esp, "/loader/loader.conf", bytes("timeout 0\ndefault ingot.conf\neditor no\n")?)?;
    add(esp, "/loader/entries/ingot.conf", bytes(&entry)?)?;
    Ok(())
}

/// Puts an EFI image (GRUB's, or a UKI) on the ESP as the removable-media boot path,
/// `/EFI/BOOT/BOOTX64.EFI` (`BOOTAA64.EFI`).
pub(crate) fn install_removable(
    recipe: &Recipe,
    boot: &Boot,
    esp: &mut Tree,
    image: Vec<u8>,
    spool: &Path,
) -> Result<()> {
    let path = format!("/EFI/BOOT/BOOT{}.EFI", boot.arch.efi_suffix().to_uppercase());
    let content = Content::from_bytes(&image, spool).context("cannot spool the EFI image")?;
    esp.add_content(&path, content, Meta::root(0o644, recipe.source_date_epoch))
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("ESP: {path}"))?;
    Ok(())
}
