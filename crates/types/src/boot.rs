//! The words of a boot chain that the recipe names and the boot crate installs: the UEFI
//! loader, and where GRUB's BIOS core image goes.
//!
//! ```
//! use ingot_types::UefiLoader;
//! assert_eq!("systemd-boot".parse::<UefiLoader>()?, UefiLoader::SystemdBoot);
//! assert_eq!(UefiLoader::Uki.to_string(), "uki");
//! # Ok::<(), ingot_types::Unknown>(())
//! ```

/// The UEFI boot loader (`uefi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum UefiLoader {
    /// systemd-boot, with the kernel and initrd on the ESP.
    #[serde(rename = "systemd-boot")]
    SystemdBoot,
    /// GRUB, reading the kernel from the root filesystem.
    #[serde(rename = "grub")]
    Grub,
    /// A unified kernel image (systemd-stub with the kernel, initrd and command line) as
    /// the default boot path.
    #[serde(rename = "uki")]
    Uki,
}

impl UefiLoader {
    /// Every loader, in the order the documentation lists them.
    pub const ALL: &'static [UefiLoader] = &[UefiLoader::SystemdBoot, UefiLoader::Grub, UefiLoader::Uki];

    /// The name the recipe's `uefi` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            UefiLoader::SystemdBoot => "systemd-boot",
            UefiLoader::Grub => "grub",
            UefiLoader::Uki => "uki",
        }
    }
}

crate::names::text_forms!(UefiLoader, "systemd-boot, grub or uki");

/// The root filesystem's type, as the kernel command line's `rootfstype=` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RootFs {
    /// ext4.
    Ext4,
    /// EROFS (read-only; Debian's cloud kernels build it as a module, which the initramfs
    /// loads).
    Erofs,
}

impl RootFs {
    /// The kernel's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RootFs::Ext4 => "ext4",
            RootFs::Erofs => "erofs",
        }
    }
}

/// Where GRUB's core.img goes for BIOS boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreLocation {
    /// The BIOS boot partition with this index (GPT).
    Partition(usize),
    /// The gap between the MBR and the first partition (MBR tables).
    MbrGap,
}
