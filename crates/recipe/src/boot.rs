//! The `[boot]` section: how the disk boots.

use crate::error::Locator;
use crate::schema::RawBoot;
use crate::{Boot, Filesystem, PartitionSpec, RecipeError};
use ingot_types::partition::{gpt, mbr};
use ingot_types::{Arch, CoreLocation, PartitionType, RootFs, TableKind, UefiLoader};
use toml::Spanned;

fn choice(loc: &Locator, key: &str, v: &Option<Spanned<String>>, on: &str) -> Result<bool, RecipeError> {
    match v.as_ref().map(|u| (u.get_ref().as_str(), u.span().start)) {
        None | Some(("none", _)) => Ok(false),
        Some((s, _)) if s == on => Ok(true),
        Some((other, at)) => {
            Err(loc.at(at, format!("boot.{key}: {other:?} is not available: use \"{on}\" or \"none\"")))
        }
    }
}

/// The architecture `[boot] arch` names (x86_64 when not given); it is the AMI's even when
/// the recipe installs no boot loader.
pub(crate) fn arch(loc: &Locator, raw: Option<&Spanned<RawBoot>>) -> Result<Arch, RecipeError> {
    match raw.and_then(|r| r.get_ref().arch.as_ref()) {
        None => Ok(Arch::X86_64),
        Some(a) => a.get_ref().parse().map_err(|_| {
            let other = a.get_ref();
            loc.at(a.span().start, format!("boot.arch: {other:?} is not an architecture: use \"x86_64\" or \"arm64\""))
        }),
    }
}

/// Validates `[boot]` against the partitions: `uefi = "systemd-boot"` or `"grub"`,
/// `bios = "grub"`, or both (a hybrid disk); `"none"` (or no section) leaves booting
/// to the content.
pub(crate) fn boot(
    loc: &Locator,
    raw: &Spanned<RawBoot>,
    parts: &[PartitionSpec],
    table: TableKind,
) -> Result<Option<Boot>, RecipeError> {
    let r = raw.get_ref();
    let uefi = match r.uefi.as_ref().map(|u| (u.get_ref().as_str(), u.span().start)) {
        None | Some(("none", _)) => None,
        Some((name, _)) if name.parse::<UefiLoader>().is_ok() => name.parse().ok(),
        Some((other, at)) => {
            return Err(loc.at(
                at,
                format!("boot.uefi: {other:?} is not available: use \"systemd-boot\", \"grub\", \"uki\" or \"none\""),
            ))
        }
    };
    let bios = choice(loc, "bios", &r.bios, "grub")?;
    if uefi.is_none() && !bios {
        return Ok(None);
    }
    let arch = arch(loc, Some(raw))?;
    let whole = raw.span().start;
    let kernel = r
        .kernel
        .as_ref()
        .ok_or_else(|| loc.at(whole, "boot: booting needs `kernel`, the kernel's path in the root partition"))?;
    let esp = if uefi.is_some() {
        let found = parts
            .iter()
            .position(|p| {
                p.kind == PartitionType::Gpt(gpt::EFI_SYSTEM) || p.kind == PartitionType::Mbr(mbr::EFI_SYSTEM)
            })
            .filter(|&i| matches!(parts[i].filesystem, Filesystem::Vfat(_)));
        Some(found.ok_or_else(|| {
            loc.at(
                whole,
                "boot: UEFI needs an EFI system partition: a partition with type = \"esp\" and filesystem = \"vfat\"",
            )
        })?)
    } else {
        None
    };
    let bios = if bios { Some(core_location(loc, r, parts, table, arch)?) } else { None };
    let root_type = PartitionType::root(arch);
    let root_fs = |p: &PartitionSpec| match p.filesystem {
        Filesystem::Ext4(_) => Some(RootFs::Ext4),
        Filesystem::Erofs(_) => Some(RootFs::Erofs),
        _ => None,
    };
    let root = parts
        .iter()
        .position(|p| p.kind == root_type && root_fs(p).is_some())
        .or_else(|| parts.iter().position(|p| root_fs(p).is_some()))
        .ok_or_else(|| {
            loc.at(
                whole,
                "boot: no root partition: give an ext4 or EROFS partition (type = \"root-x86-64\" or \"root-arm64\")",
            )
        })?;
    let root_fs = root_fs(&parts[root]).unwrap_or(RootFs::Ext4);
    if root_fs == RootFs::Erofs && (uefi == Some(UefiLoader::Grub) || bios.is_some()) {
        let key = r.uefi.as_ref().filter(|_| uefi == Some(UefiLoader::Grub)).or(r.bios.as_ref());
        return Err(loc.at(key.map_or(whole, |k| k.span().start), format!(
            "boot: GRUB reads its grub.cfg and the kernel from the root filesystem, and Debian 12's GRUB (2.06) cannot read EROFS (partition[{root}]); boot it with uefi = \"uki\" or \"systemd-boot\""
        )));
    }
    if let (crate::Verity::Data { .. }, true) = (parts[root].verity, uefi == Some(UefiLoader::Grub) || bios.is_some()) {
        let key = r.uefi.as_ref().filter(|_| uefi == Some(UefiLoader::Grub)).or(r.bios.as_ref());
        return Err(loc.at(key.map_or(whole, |k| k.span().start), format!(
            "boot: GRUB reads its grub.cfg from the root filesystem, which can't hold its own dm-verity root hash (partition[{root}] says `verity = true`); boot it with uefi = \"uki\" or \"systemd-boot\""
        )));
    }
    Ok(Some(Boot {
        uefi,
        bios,
        arch,
        kernel: kernel.get_ref().clone(),
        initrd: r.initrd.as_ref().map(|i| i.get_ref().clone()),
        cmdline: r.cmdline.clone().unwrap_or_else(|| "ro".into()),
        esp,
        root,
        root_fs,
    }))
}

fn core_location(
    loc: &Locator,
    r: &RawBoot,
    parts: &[PartitionSpec],
    table: TableKind,
    arch: Arch,
) -> Result<CoreLocation, RecipeError> {
    let at = r.bios.as_ref().map_or(0, |b| b.span().start);
    if arch != Arch::X86_64 {
        return Err(loc.at(at, "boot.bios: BIOS boot exists on x86_64 only"));
    }
    match table {
        TableKind::Gpt => parts.iter().position(|p| p.kind == PartitionType::Gpt(gpt::BIOS_BOOT)).map(CoreLocation::Partition).ok_or_else(|| {
            loc.at(at, "boot.bios: GRUB on a GPT disk needs a BIOS boot partition: add one with type = \"bios-boot\" and size = \"1 MiB\"")
        }),
        TableKind::Mbr => Ok(CoreLocation::MbrGap),
    }
}
