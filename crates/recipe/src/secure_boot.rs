//! The `[secure_boot]` section: the keys a UEFI Secure Boot image is signed with and the
//! certificates its variable store enrolls (docs/secure-boot.md).

use crate::error::Locator;
use crate::schema::{RawRecipe, RawSecureBoot};
use crate::{RecipeError, SecureBoot};
use ingot_types::BootMode;
use ingot_types::UefiLoader;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A path of the section, resolved and checked.
fn existing(loc: &Locator, base: &Path, key: &str, value: &Spanned<String>) -> Result<PathBuf, RecipeError> {
    let path = base.join(value.get_ref());
    if !path.is_file() {
        return Err(loc.at(value.span().start, format!("secure_boot.{key}: {} is not a file", path.display())));
    }
    Ok(path)
}

/// Validates `[secure_boot]` against `[boot]` and `[ami]`: the image must boot with
/// systemd-boot or a UKI (GRUB needs shim and its own keys), and register with boot mode
/// `uefi`, with no `ami.uefi_data` of its own (the build writes the variable store).
pub(crate) fn secure_boot(
    loc: &Locator,
    raw: &RawRecipe,
    base: &Path,
    uefi: Option<UefiLoader>,
    boot_mode: Option<BootMode>,
) -> Result<Option<SecureBoot>, RecipeError> {
    let Some(section) = &raw.secure_boot else { return Ok(None) };
    let r: &RawSecureBoot = section.get_ref();
    let at_boot =
        || raw.boot.as_ref().and_then(|b| b.get_ref().uefi.as_ref()).map_or(section.span().start, |u| u.span().start);
    match uefi {
        Some(UefiLoader::Uki | UefiLoader::SystemdBoot) => {}
        Some(UefiLoader::Grub) => {
            return Err(loc.at(
                at_boot(),
                "boot.uefi: GRUB cannot boot with [secure_boot] (it needs shim and its own key handling): use \"uki\" or \"systemd-boot\"",
            ))
        }
        None => {
            return Err(loc.at(at_boot(), "secure_boot: needs boot.uefi = \"uki\" or \"systemd-boot\" (what ingot signs)"))
        }
    }
    if let Some(ami) = &raw.ami {
        let ami = ami.get_ref();
        if boot_mode.is_some_and(|m| m != BootMode::Uefi) {
            let at = ami.boot_mode.as_ref().map_or(section.span().start, |m| m.span().start);
            return Err(loc.at(at, "ami.boot_mode: Secure Boot needs boot mode \"uefi\""));
        }
        if ami.uefi_data.is_some() {
            return Err(loc.at(
                section.span().start,
                "ami.uefi_data: with [secure_boot] the build writes the UEFI variable store; remove ami.uefi_data",
            ));
        }
    }
    let db = match r.db.get_ref() {
        crate::schema::OneOrMany::One(p) => vec![Spanned::new(r.db.span(), p.clone())],
        crate::schema::OneOrMany::Many(list) => list.iter().map(|p| Spanned::new(r.db.span(), p.clone())).collect(),
    };
    if db.is_empty() {
        return Err(loc.at(r.db.span().start, "secure_boot.db: give at least the certificate of db_key"));
    }
    Ok(Some(SecureBoot {
        pk: existing(loc, base, "pk", &r.pk)?,
        kek: existing(loc, base, "kek", &r.kek)?,
        db: db.iter().map(|p| existing(loc, base, "db", p)).collect::<Result<_, _>>()?,
        db_key: existing(loc, base, "db_key", &r.db_key)?,
        dbx: r.dbx.as_ref().map(|p| existing(loc, base, "dbx", p)).transpose()?,
    }))
}
