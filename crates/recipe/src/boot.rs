//! The `[boot]` section: how the disk boots.

use crate::error::Locator;
use crate::schema::RawBoot;
use crate::{Filesystem, PartitionSpec, PartitionType, RecipeError};
use ingot_disk::gpt;
use toml::Spanned;

/// The CPU architecture the image boots on (`arch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64: BOOTX64.EFI, systemd-bootx64.efi.
    X86_64,
    /// 64-bit ARM: BOOTAA64.EFI, systemd-bootaa64.efi.
    Arm64,
}

impl Arch {
    /// The suffix of EFI file names for this architecture (`x64`, `aa64`).
    pub fn efi_suffix(self) -> &'static str {
        match self {
            Arch::X86_64 => "x64",
            Arch::Arm64 => "aa64",
        }
    }
}

/// A validated `[boot]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    /// The architecture.
    pub arch: Arch,
    /// Path of the kernel in the root partition's tree.
    pub kernel: String,
    /// Path of the initrd in the root partition's tree.
    pub initrd: Option<String>,
    /// Kernel command line; `root=PARTUUID=…` is appended.
    pub cmdline: String,
    /// Index of the EFI system partition.
    pub esp: usize,
    /// Index of the root partition.
    pub root: usize,
}

/// Validates `[boot]` against the partitions. `uefi = "systemd-boot"` is the one boot
/// path implemented so far; `"none"` (or no section) leaves booting to the ESP's content.
pub(crate) fn boot(
    loc: &Locator,
    raw: &Spanned<RawBoot>,
    parts: &[PartitionSpec],
) -> Result<Option<Boot>, RecipeError> {
    let r = raw.get_ref();
    match r.uefi.as_ref().map(|u| u.get_ref().as_str()) {
        None | Some("none") => return Ok(None),
        Some("systemd-boot") => {}
        Some(other) => {
            let at = r.uefi.as_ref().map_or(0, |u| u.span().start);
            return Err(
                loc.at(at, format!("boot.uefi: {other:?} is not available yet: use \"systemd-boot\" or \"none\""))
            );
        }
    }
    let arch = match r.arch.as_ref().map(|a| a.get_ref().as_str()) {
        None | Some("x86_64") => Arch::X86_64,
        Some("arm64") => Arch::Arm64,
        Some(other) => {
            let at = r.arch.as_ref().map_or(0, |a| a.span().start);
            return Err(loc.at(at, format!("boot.arch: {other:?} is not an architecture: use \"x86_64\" or \"arm64\"")));
        }
    };
    let kernel = r.kernel.as_ref().ok_or_else(|| {
        loc.at(raw.span().start, "boot: `uefi` needs `kernel`, the kernel's path in the root partition")
    })?;
    let esp = parts
        .iter()
        .position(|p| p.kind == PartitionType::Gpt(gpt::EFI_SYSTEM) || p.kind == PartitionType::Mbr(0xEF))
        .filter(|&i| matches!(parts[i].filesystem, Filesystem::Vfat(_)))
        .ok_or_else(|| {
            loc.at(
                raw.span().start,
                "boot: UEFI needs an EFI system partition: a partition with type = \"esp\" and filesystem = \"vfat\"",
            )
        })?;
    let is_root_type = |p: &PartitionSpec| {
        p.kind
            == PartitionType::Gpt(match arch {
                Arch::X86_64 => gpt::ROOT_X86_64,
                Arch::Arm64 => gpt::ROOT_ARM64,
            })
    };
    let root = parts
        .iter()
        .position(|p| is_root_type(p) && matches!(p.filesystem, Filesystem::Ext4(_)))
        .or_else(|| parts.iter().position(|p| matches!(p.filesystem, Filesystem::Ext4(_))))
        .ok_or_else(|| {
            loc.at(
                raw.span().start,
                "boot: no root partition: give an ext4 partition (type = \"root-x86-64\" or \"root-arm64\")",
            )
        })?;
    Ok(Some(Boot {
        arch,
        kernel: kernel.get_ref().clone(),
        initrd: r.initrd.as_ref().map(|i| i.get_ref().clone()),
        cmdline: r.cmdline.clone().unwrap_or_else(|| "ro".into()),
        esp,
        root,
    }))
}
