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
            let bytes = std::fs::read(p).with_context(|| at("dbx"))?;
            if bytes.is_empty() || efi_signature_list::certificates(&bytes).is_none() {
                bail!("{}: {} is not a series of EFI signature lists", at("dbx"), p.display());
            }
            Some(bytes)
        }
        None => None,
    };
    let variables = aws_uefi_data::secure_boot(pk, kek, db, dbx, recipe.source_date_epoch);
    let text = aws_uefi_data::encode(&variables).map_err(|e| std::io::Error::other(e.to_string()));
    Ok(Some(
        text.with_context(|| format!("{}: secure_boot: compressing the UEFI variable store", recipe.path().display()))?,
    ))
}

/// Checks that the store an AMI is registered with, `registering` (from the recipe now),
/// is the one the image at `image` was built with (its report's `uefi_data`): an image is
/// signed by the db key its build read, so a store made from certificates changed since
/// would not boot it, and one without a store would boot it with Secure Boot off.
pub fn check_built(image: &std::path::Path, report: Option<&crate::Report>, registering: Option<&str>) -> Result<()> {
    let Some(built) = report.and_then(|r| r.uefi_data.as_deref()) else { return Ok(()) };
    let sha = |t: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()));
    match registering {
        Some(now) if now == built => Ok(()),
        Some(now) => bail!(
            "{}.json: the image was built with UEFI variable store {}, but the recipe's [secure_boot] now gives {}: a certificate changed since the build; rebuild the image, or publish with the certificates it was built with",
            image.display(),
            sha(built),
            sha(now)
        ),
        None => bail!(
            "{}.json: the image was built with [secure_boot], but the recipe has no [secure_boot] (nor ami.uefi_data): the AMI would boot with Secure Boot off; publish with the recipe the image was built from",
            image.display()
        ),
    }
}
