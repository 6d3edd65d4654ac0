//! ingot's boot chain: what makes a disk boot, put into the partitions' trees before the
//! filesystems are written, and into the disk's first sectors after the table.
//!
//! - UEFI: systemd-boot with the kernel and initrd on the ESP ([`UefiLoader::SystemdBoot`]),
//!   GRUB reading the kernel from the root filesystem ([`UefiLoader::Grub`]), or a unified
//!   kernel image as the ESP's default boot path ([`UefiLoader::Uki`]).
//! - BIOS: GRUB i386-pc without grub-install: core.img in the BIOS boot partition or the
//!   gap after the MBR, boot.img patched into the MBR ([`write_bios`]).
//!
//! Every input is explicit ([`Config`]): architecture, root PARTUUID and filesystem UUID,
//! title, command line, SOURCE_DATE_EPOCH, and the trees read from and written into. The
//! boot files themselves come from the root partition's tree (Debian's systemd-boot-efi,
//! grub-efi-*-bin, grub-pc-bin), never from the host.
//!
//! This is the only ingot crate that runs a host tool: `grub-mkimage` (Debian:
//! grub-common) makes GRUB's images from the tree's modules; it is unprivileged and reads
//! only the files ingot hands it. A UKI is assembled in Rust ([`pe`]), for any
//! architecture on any host.
//!
//! ```no_run
//! use ingot_boot::{Arch, Config, RootFs, UefiLoader};
//! use ingot_types::TableKind;
//! # fn trees() -> (ingot_tree::Tree, ingot_tree::Tree) { unimplemented!() }
//! let (mut root, mut esp) = trees();
//! let config = Config {
//!     uefi: Some(UefiLoader::SystemdBoot),
//!     bios: None,
//!     arch: Arch::X86_64,
//!     table: TableKind::Gpt,
//!     title: "demo".into(),
//!     kernel: "/boot/vmlinuz".into(),
//!     initrd: Some("/boot/initrd.img".into()),
//!     cmdline: "console=ttyS0 ro".into(),
//!     root_fs: RootFs::Ext4,
//!     root_index: 1,
//!     root_partuuid: "8f3c2f2e-0000-4000-8000-000000000001".into(),
//!     root_fs_uuid: uuid::Uuid::nil(),
//!     verity: None,
//!     source_date_epoch: 1_700_000_000,
//!     signer: None,
//! };
//! let bios = ingot_boot::install(&config, &mut root, Some(&mut esp), "/tmp".as_ref())?;
//! assert!(bios.is_none());
//! # Ok::<(), ingot_boot::BootError>(())
//! ```

mod arch;
pub mod authenticode;
pub mod aws_uefi_data;
pub mod efi_signature_list;
mod error;
mod esp;
mod grub;
pub mod keys;
pub mod measure;
pub mod pe;
mod uki;
pub mod variable_store;

pub use arch::architecture;
pub use error::BootError;
pub use grub::{write_bios, BiosCode, CoreArea};
pub use ingot_types::{Arch, CoreLocation, RootFs, UefiLoader};

use ingot_tree::{Content, Kind, Tree};
use ingot_types::TableKind;
use std::path::Path;
use uuid::Uuid;

/// Everything the boot chain needs to know, resolved from a recipe.
#[derive(Clone, Debug)]
pub struct Config {
    /// The UEFI boot loader, if any.
    pub uefi: Option<UefiLoader>,
    /// BIOS boot with GRUB i386-pc: where core.img goes.
    pub bios: Option<CoreLocation>,
    /// The architecture booted.
    pub arch: Arch,
    /// The partition table (GRUB's BIOS prefix names the partition map).
    pub table: TableKind,
    /// The boot entry's title (the recipe's name).
    pub title: String,
    /// The kernel's path in the root tree.
    pub kernel: String,
    /// The initrd's path in the root tree.
    pub initrd: Option<String>,
    /// The kernel command line; `root=PARTUUID=… rootfstype=…` is appended.
    pub cmdline: String,
    /// The root filesystem's type.
    pub root_fs: RootFs,
    /// The root partition's index in the recipe (`partition[i]` in errors); its number in
    /// the table is one more.
    pub root_index: usize,
    /// The PARTUUID the kernel finds the root by.
    pub root_partuuid: String,
    /// The root filesystem's UUID, which GRUB's EFI image searches for.
    pub root_fs_uuid: Uuid,
    /// A root under dm-verity: the command line maps it by its root hash instead of
    /// naming the partition.
    pub verity: Option<VerityRoot>,
    /// Every file the boot chain adds gets this time.
    pub source_date_epoch: i64,
    /// With Secure Boot: the db key that signs every EFI binary put on the ESP and every
    /// kernel a loader starts through the firmware.
    pub signer: Option<std::sync::Arc<authenticode::Signer>>,
}

/// A root under dm-verity, as the kernel command line names it for systemd's
/// veritysetup generator (systemd-veritysetup-generator(8): `roothash=`,
/// `systemd.verity_root_data=`, `systemd.verity_root_hash=`), which maps it at
/// `/dev/mapper/root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerityRoot {
    /// The root hash.
    pub root_hash: [u8; 32],
    /// The data partition's PARTUUID.
    pub data_partuuid: Uuid,
    /// The hash partition's PARTUUID.
    pub hash_partuuid: Uuid,
}

impl VerityRoot {
    /// A stand-in of the same length, to size the boot files before the root hash is
    /// known: the command line (and so a UKI) it gives is as long as the real one's.
    pub fn placeholder() -> VerityRoot {
        VerityRoot { root_hash: [0; 32], data_partuuid: Uuid::nil(), hash_partuuid: Uuid::nil() }
    }
}

impl Config {
    /// The command line the kernel gets: the recipe's, then the root by PARTUUID; or for
    /// a root under dm-verity, `ro` (unless the recipe's has it), the mapped root and what
    /// maps it.
    pub fn kernel_cmdline(&self) -> String {
        let Some(v) = &self.verity else {
            return format!(
                "{} root=PARTUUID={} rootfstype={}",
                self.cmdline,
                self.root_partuuid,
                self.root_fs.as_str()
            );
        };
        let ro = if self.cmdline.split_whitespace().any(|w| w == "ro") { "" } else { " ro" };
        let hash: String = v.root_hash.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}{ro} root=/dev/mapper/root rootfstype={} roothash={hash} systemd.verity_root_data=PARTUUID={} systemd.verity_root_hash=PARTUUID={}",
            self.cmdline, self.root_fs.as_str(), v.data_partuuid, v.hash_partuuid
        )
    }

    /// The ESP's removable-media boot path of its architecture ([`removable_path`]).
    pub(crate) fn removable_path(&self) -> String {
        removable_path(self.arch)
    }
}

/// The ESP's removable-media boot path for `arch` (UEFI 2.10 §3.5.1.1): where a UKI or
/// GRUB's EFI image goes, `/EFI/BOOT/BOOTX64.EFI` (`BOOTAA64.EFI`).
pub fn removable_path(arch: Arch) -> String {
    format!("/EFI/BOOT/BOOT{}.EFI", arch.efi_suffix().to_uppercase())
}

/// Installs what `config` asks for: GRUB's configuration into `root`, the UEFI loader
/// (with the kernel and initrd for systemd-boot) into `esp`. `spool` is a directory for
/// temporary files. Returns the BIOS boot code to write with [`write_bios`] once the
/// partition table is in place.
pub fn install(
    config: &Config,
    root: &mut Tree,
    esp: Option<&mut Tree>,
    spool: &Path,
) -> Result<Option<BiosCode>, BootError> {
    if config.uefi.is_some() || config.bios.is_some() {
        let kernel = file_in(config, root, &config.kernel, "boot.kernel", "")?;
        arch::check(config, &config.kernel, &arch::head(&kernel, &config.kernel)?)?;
    }
    if config.bios.is_some() || config.uefi == Some(UefiLoader::Grub) {
        grub::write_config(config, root, spool)?;
    }
    let bios = match config.bios {
        Some(location) => Some(grub::prepare_bios(config, root, spool, location)?),
        None => None,
    };
    let efi_image = match config.uefi {
        Some(UefiLoader::Grub) => Some(grub::make_efi(config, root, spool)?),
        Some(UefiLoader::Uki) => Some(uki::make(config, root)?),
        _ => None,
    };
    match (esp, efi_image) {
        (Some(esp), Some(image)) => esp::install_removable(config, esp, &image, spool)?,
        (Some(esp), None) => esp::install_systemd_boot(config, esp, root, spool)?,
        (None, _) => {}
    }
    Ok(bios)
}

/// `image` signed with the recipe's db key when it has `[secure_boot]`, else unchanged;
/// `path` names it in errors.
fn sign(config: &Config, image: Vec<u8>, path: &str) -> Result<Vec<u8>, BootError> {
    match &config.signer {
        Some(signer) => {
            authenticode::sign(image, signer).map_err(|source| BootError::Sign { path: path.into(), source })
        }
        None => Ok(image),
    }
}

/// The content of the file at `path` in the root tree; `key` names the recipe key that
/// asked for it and `hint` where the file comes from, in errors.
fn file_in(config: &Config, tree: &Tree, path: &str, key: &str, hint: &'static str) -> Result<Content, BootError> {
    let missing = |found: Option<&'static str>| BootError::NotInTree {
        key: key.to_owned(),
        path: path.to_owned(),
        partition: config.root_index,
        found,
        hint,
    };
    match tree.lookup(path).map(|id| &tree.node(id).kind) {
        Some(Kind::File(c)) => Ok(c.clone()),
        Some(other) => Err(missing(Some(other.name()))),
        None => Err(missing(None)),
    }
}
