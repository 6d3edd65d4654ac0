//! The UEFI variable store a `[secure_boot]` recipe's AMI boots with: PK, KEK, db (and dbx)
//! from the recipe's certificates, in EC2's `UefiData` format. One function, used by the
//! build (the report carries the store) and by registration (RegisterImage sends it), so
//! both give the same bytes for the same recipe.

use crate::error::{bail, Result, ResultExt};
use ingot_boot::keys::signature_list as list;
use ingot_boot::{aws_uefi_data, efi_signature_list};
use ingot_recipe::Recipe;

/// The store for `recipe` (base64), or `None` without `[secure_boot]`. Its variables are
/// dated the recipe's SOURCE_DATE_EPOCH, so the same recipe gives the same store.
pub fn uefi_data(recipe: &Recipe) -> Result<Option<String>> {
    uefi_data_dated(recipe, recipe.source_date_epoch)
}

/// The SHA-256 of a store's text, lowercase hex: the `uefi_data_sha256` reports give.
pub fn store_sha256(text: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()))
}

/// [`uefi_data`] with the variables dated `epoch`.
fn uefi_data_dated(recipe: &Recipe, epoch: i64) -> Result<Option<String>> {
    let Some(sb) = &recipe.secure_boot else { return Ok(None) };
    let at = |key: &str| format!("{}: secure_boot.{key}", recipe.path().display());
    let pk = list(&sb.pk).with_context(|| at("pk"))?;
    let kek = list(&sb.kek).with_context(|| at("kek"))?;
    let mut db = Vec::new();
    for p in &sb.db {
        db.extend(list(p).with_context(|| at("db"))?);
    }
    let dbx = match &sb.dbx {
        Some(p) => {
            let bytes =
                ingot_types::input::read(p, ingot_types::input::SIGNATURE_LIST_MAX).with_context(|| at("dbx"))?;
            if bytes.is_empty() || efi_signature_list::certificates(&bytes).is_none() {
                bail!("{}: {} is not a series of EFI signature lists", at("dbx"), p.display());
            }
            Some(bytes)
        }
        None => None,
    };
    let variables = aws_uefi_data::secure_boot(pk, kek, db, dbx, epoch);
    let text = aws_uefi_data::encode(&variables).map_err(|e| std::io::Error::other(e.to_string()));
    Ok(Some(
        text.with_context(|| format!("{}: secure_boot: compressing the UEFI variable store", recipe.path().display()))?,
    ))
}

/// Checks an image built earlier against the recipe it is published with, when its
/// report says how it was built, and registers the store it was built with. An image is
/// signed by the db key its build read, so: built with `[secure_boot]`, the recipe must
/// still give the same store (the same certificates; the report's SOURCE_DATE_EPOCH dates
/// it), else the AMI would not boot it, or without a store would boot it with Secure Boot
/// off; built without, the recipe must not add one, else the AMI would enforce Secure
/// Boot on unsigned binaries.
pub fn check_built(
    image: &std::path::Path,
    report: Option<&crate::Report>,
    recipe: &Recipe,
    spec: &mut ingot_aws::AmiSpec,
) -> Result<()> {
    let Some(report) = report else { return Ok(()) };
    let json = crate::Report::path_of(image).display().to_string();
    match (&report.uefi_data, &recipe.secure_boot) {
        (None, None) => Ok(()),
        (None, Some(_)) => bail!(
            "{json}: the image was built without [secure_boot], but {} has it: the AMI would enforce Secure Boot on unsigned binaries; rebuild the image with this recipe",
            recipe.path().display()
        ),
        (Some(_), None) => bail!(
            "{json}: the image was built with [secure_boot], but {} has none: the AMI would boot it with Secure Boot off; publish it with the recipe it was built from",
            recipe.path().display()
        ),
        (Some(built), Some(_)) => {
            let now = uefi_data_dated(recipe, report.source_date_epoch)?;
            if now.as_deref() != Some(built.as_str()) {
                bail!(
                    "{json}: the image was built with UEFI variable store {}, but the certificates of {}'s [secure_boot] now give another: a certificate changed since the build; rebuild the image, or publish it with the certificates it was built with",
                    report.uefi_data_sha256.as_deref().unwrap_or("?"),
                    recipe.path().display()
                );
            }
            spec.uefi_data = Some(built.clone());
            Ok(())
        }
    }
}

/// The variable store `image` was built with (its report's `uefi_data`), written into a
/// copy of the firmware's store `template` (an edk2 flash file, `ingot_qemu::files`):
/// what `ingot boot --secure-boot` starts the firmware from, so the image boots with the
/// keys its AMI will have.
pub fn firmware_store(image: &std::path::Path, template: &std::path::Path) -> Result<Vec<u8>> {
    let json = crate::Report::path_of(image);
    let Some(report) = crate::Report::read(image)? else {
        bail!(
            "{}: no build report beside the image, so no variable store to boot with: boot the image `ingot build` wrote with its report, or give a variable store (`vars`)",
            json.display()
        )
    };
    let Some(text) = report.uefi_data else {
        bail!(
            "{}: the image was built without [secure_boot], so it has no keys for Secure Boot: add [secure_boot] to the recipe (docs/secure-boot.md), or give a variable store (`vars`)",
            json.display()
        )
    };
    let variables = aws_uefi_data::decode(&text)
        .map_err(|e| crate::Error::invalid(format!("{}: uefi_data is {e}", json.display())))?;
    let flash =
        std::fs::read(template).with_context(|| format!("{}: the firmware's variable store", template.display()))?;
    let store = ingot_boot::variable_store::replace(&flash, ingot_boot::variable_store::SECURE_BOOT_KEYS, &variables);
    store.map_err(|e| {
        crate::Error::invalid(format!("{}: writing {}'s keys into it: {e}", template.display(), json.display()))
    })
}
