//! What goes on the EFI system partition: systemd-boot with its configuration, the kernel
//! and the initrd; or one EFI image (GRUB's, a UKI) at the removable-media boot path.

use crate::{arch, file_in, BootError, Config};
use ingot_tree::{Content, Meta, Tree};
use std::path::Path;

/// Where Debian's systemd-boot-efi package puts the loader, in the root tree.
fn loader_path(config: &Config) -> String {
    format!("/usr/lib/systemd/boot/efi/systemd-boot{}.efi", config.arch.efi_suffix())
}

/// Adds `content` at `path` on the ESP, owned by root, mode 0644.
fn add(config: &Config, esp: &mut Tree, path: &str, content: Content) -> Result<(), BootError> {
    esp.add_content(path, content, Meta::root(0o644, config.source_date_epoch))
        .map_err(|source| BootError::Tree { tree: "ESP", source })?;
    Ok(())
}

/// `text` as tree content, spooled to a file in `spool`.
pub(crate) fn text(text: &str, spool: &Path, what: &str) -> Result<Content, BootError> {
    Content::from_bytes(text.as_bytes(), spool).map_err(BootError::io(format!("cannot spool {what}")))
}

/// Puts systemd-boot, its configuration, the kernel and the initrd into `esp`, taking the
/// files from `root`.
pub(crate) fn install_systemd_boot(
    config: &Config,
    esp: &mut Tree,
    root: &Tree,
    spool: &Path,
) -> Result<(), BootError> {
    let kernel = file_in(config, root, &config.kernel, "boot.kernel", "")?;
    let initrd = config.initrd.as_ref().map(|p| file_in(config, root, p, "boot.initrd", "")).transpose()?;
    let loader_path = loader_path(config);
    let loader = file_in(
        config,
        root,
        &loader_path,
        "boot.uefi = \"systemd-boot\"",
        " (the systemd-boot EFI binary comes from the root tree; Debian: systemd-boot-efi)",
    )?;
    arch::check(config, &loader_path, &arch::head(&loader, &loader_path)?)?;
    add(config, esp, &config.removable_path(), signed(config, loader, &loader_path, spool)?)?;
    add(config, esp, "/ingot/linux", signed(config, kernel, &config.kernel, spool)?)?;
    let mut entry = format!("title {}\nlinux /ingot/linux\n", config.title);
    if let Some(i) = initrd {
        add(config, esp, "/ingot/initrd", i)?;
        entry += "initrd /ingot/initrd\n";
    }
    entry += &format!("options {}\n", config.kernel_cmdline());
    let loader_conf = text("timeout 0\ndefault ingot.conf\neditor no\n", spool, "a boot loader file")?;
    add(config, esp, "/loader/loader.conf", loader_conf)?;
    add(config, esp, "/loader/entries/ingot.conf", text(&entry, spool, "a boot loader file")?)?;
    Ok(())
}

/// `content` (the file at `path` in the root tree) signed with the db key when the recipe
/// has `[secure_boot]`, spooled; else `content` itself.
fn signed(config: &Config, content: Content, path: &str, spool: &Path) -> Result<Content, BootError> {
    if config.signer.is_none() {
        return Ok(content);
    }
    let bytes = crate::sign(config, crate::uki::read(&content, &format!("{path} in the root tree"))?, path)?;
    Content::from_bytes(&bytes, spool).map_err(BootError::io(format!("cannot spool the signed {path}")))
}

/// Puts an EFI image (GRUB's, or a UKI) on the ESP as the removable-media boot path.
pub(crate) fn install_removable(config: &Config, esp: &mut Tree, image: &[u8], spool: &Path) -> Result<(), BootError> {
    let content = Content::from_bytes(image, spool).map_err(BootError::io("cannot spool the EFI image"))?;
    add(config, esp, &config.removable_path(), content)
}
