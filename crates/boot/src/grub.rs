//! GRUB: its configuration in the root tree, its EFI image, and BIOS boot with GRUB
//! i386-pc without grub-install and without a loop device. `grub-mkimage` (an unprivileged
//! host tool) makes the images from the root tree's modules; boot.img goes into the MBR's
//! boot code area with the fields grub-bios-setup patches, and core.img into the BIOS boot
//! partition (GPT) or the gap after the MBR, with its first-sector blocklist pointing at
//! the rest of itself.

use crate::{file_in, BootError, Config};
use ingot_disk::{Image, SECTOR};
use ingot_tree::{Kind, Meta, Tree};
use ingot_types::{Arch, CoreLocation, TableKind};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Where Debian's grub-pc-bin puts the i386-pc images and modules, in the root tree.
const GRUB_DIR: &str = "/usr/lib/grub/i386-pc";
/// boot.img: LBA of core.img's first sector (GRUB_BOOT_MACHINE_KERNEL_SECTOR).
const KERNEL_SECTOR: usize = 0x5c;
/// boot.img: the floppy check grub-bios-setup turns into two NOPs for hard disks
/// (GRUB_BOOT_MACHINE_DRIVE_CHECK).
const DRIVE_CHECK: usize = 0x66;
/// boot.img: the BIOS parameter block, kept from the disk as grub-bios-setup keeps it.
const BPB: std::ops::Range<usize> = 0x03..0x5a;
/// The boot code area of the MBR, before the disk signature.
const BOOT_CODE: usize = 440;
/// core.img's first sector loads the rest at this segment (GRUB_BOOT_MACHINE_KERNEL_SEG
/// + 0x20: struct grub_pc_bios_boot_blocklist's `segment`).
const CORE_SEGMENT: u16 = 0x820;

/// What BIOS boot writes once the partition table is in place.
#[derive(Clone, Debug)]
pub struct BiosCode {
    boot_img: Vec<u8>,
    core_img: Vec<u8>,
    location: CoreLocation,
}

impl BiosCode {
    /// Where core.img goes.
    pub fn location(&self) -> CoreLocation {
        self.location
    }
}

/// The sectors core.img may occupy: the BIOS boot partition, or the gap between the MBR
/// and the first partition.
#[derive(Clone, Copy, Debug)]
pub struct CoreArea {
    /// The first sector.
    pub lba: u64,
    /// How many sectors there are.
    pub sectors: u64,
}

/// Writes /boot/grub/grub.cfg into the root tree: one entry that boots the kernel with
/// the root named by PARTUUID.
pub(crate) fn write_config(config: &Config, root: &mut Tree, spool: &Path) -> Result<(), BootError> {
    let mut cfg = format!(
        "set timeout=0\nset default=0\nmenuentry \"{}\" {{\n    linux {} {}\n",
        config.title,
        config.kernel,
        config.kernel_cmdline()
    );
    if let Some(initrd) = &config.initrd {
        cfg += &format!("    initrd {initrd}\n");
    }
    cfg += "}\n";
    let content = crate::esp::text(&cfg, spool, "grub.cfg")?;
    root.add_content("/boot/grub/grub.cfg", content, Meta::root(0o644, config.source_date_epoch))
        .map_err(|source| BootError::Tree { tree: "root", source })?;
    Ok(())
}

/// The Debian package holding GRUB's modules for `platform`.
fn package(platform: &str) -> &'static str {
    match platform {
        "i386-pc" => "grub-pc-bin",
        "x86_64-efi" => "grub-efi-amd64-bin",
        _ => "grub-efi-arm64-bin",
    }
}

/// Copies the root tree's GRUB modules for `platform` to a temporary directory and runs
/// `grub-mkimage` over them; returns the image.
fn mkimage(root: &Tree, spool: &Path, platform: &'static str, args: &[&str]) -> Result<Vec<u8>, BootError> {
    let dir_path = format!("/usr/lib/grub/{platform}");
    let modules = tempfile::tempdir_in(spool).map_err(BootError::io("cannot make a directory for GRUB's modules"))?;
    let Some(dir) = root.lookup(&dir_path) else {
        return Err(BootError::NoGrubModules { platform, dir: dir_path, package: package(platform) });
    };
    for (name, id) in root.children(dir) {
        if let Kind::File(c) = &root.node(id).kind {
            let path = modules.path().join(String::from_utf8_lossy(name).as_ref());
            let mut file = std::fs::File::create(&path).map_err(BootError::io_at(&path))?;
            let mut reader = c.reader().map_err(BootError::io(format!("{dir_path}: reading a module")))?;
            std::io::copy(&mut reader, &mut file).map_err(BootError::io_at(&path))?;
        }
    }
    let out = modules.path().join("grub.img");
    let status = Command::new("grub-mkimage")
        .args(["-O", platform, "-d"])
        .arg(modules.path())
        .arg("-o")
        .arg(&out)
        .args(args)
        .status()
        .map_err(|source| BootError::ToolMissing {
            what: "GRUB images are made",
            tool: "grub-mkimage",
            package: "grub-common",
            source,
        })?;
    if !status.success() {
        return Err(BootError::ToolFailed {
            tool: format!("grub-mkimage -O {platform}"),
            status,
            doing: format!("over the root tree's {dir_path}"),
        });
    }
    std::fs::read(&out).map_err(BootError::io_at(&out))
}

/// Makes core.img for BIOS boot (grub.cfg must be in the root tree already).
pub(crate) fn prepare_bios(
    config: &Config,
    root: &Tree,
    spool: &Path,
    location: CoreLocation,
) -> Result<BiosCode, BootError> {
    let part = config.root_index + 1;
    let (prefix, partmap) = match config.table {
        TableKind::Gpt => (format!("(hd0,gpt{part})/boot/grub"), "part_gpt"),
        TableKind::Mbr => (format!("(hd0,msdos{part})/boot/grub"), "part_msdos"),
    };
    let boot_path = format!("{GRUB_DIR}/boot.img");
    let hint = " (GRUB's i386-pc files come from the root tree; Debian: grub-pc-bin)";
    let content = file_in(config, root, &boot_path, "boot.bios = \"grub\"", hint)?;
    let mut boot_img = Vec::new();
    content.reader().and_then(|mut r| r.read_to_end(&mut boot_img)).map_err(BootError::io(boot_path.clone()))?;
    if boot_img.len() != SECTOR as usize {
        return Err(BootError::BadBootImage { path: boot_path, len: boot_img.len() });
    }
    let args = ["-p", &prefix, "biosdisk", partmap, "ext2", "normal", "linux", "echo"];
    let core_img = mkimage(root, spool, "i386-pc", &args)?;
    Ok(BiosCode { boot_img, core_img, location })
}

/// Writes boot.img into the MBR's boot code area and core.img into `area`.
pub fn write_bios(code: &BiosCode, image: &mut Image, area: CoreArea) -> Result<(), BootError> {
    let core_sectors = (code.core_img.len() as u64).div_ceil(SECTOR);
    let lba = area.lba;
    if core_sectors > area.sectors {
        let room = area.sectors * SECTOR;
        let place = match code.location {
            CoreLocation::Partition(i) => format!("the BIOS boot partition (partition[{i}], {room} bytes)"),
            CoreLocation::MbrGap => format!("the {room} bytes between the MBR and the first partition"),
        };
        return Err(BootError::CoreTooLarge { size: code.core_img.len(), place });
    }
    let mut core = code.core_img.clone();
    core.resize((core_sectors * SECTOR) as usize, 0);
    // The blocklist at the end of core.img's first sector: the remaining sectors
    // (struct grub_pc_bios_boot_blocklist: start u64, len u16, segment u16).
    let bl = SECTOR as usize - 12;
    core[bl..bl + 8].copy_from_slice(&(lba + 1).to_le_bytes());
    core[bl + 8..bl + 10].copy_from_slice(&((core_sectors - 1) as u16).to_le_bytes());
    core[bl + 10..bl + 12].copy_from_slice(&CORE_SEGMENT.to_le_bytes());
    core[bl - 12..bl].fill(0); // the list ends here
    image.write_at(&core, lba * SECTOR)?;

    let mut mbr = vec![0u8; SECTOR as usize];
    image.read_at(&mut mbr, 0)?;
    let mut boot = code.boot_img.clone();
    boot[BPB].copy_from_slice(&mbr[BPB]);
    boot[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&lba.to_le_bytes());
    boot[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    image.write_at(&boot[..BOOT_CODE], 0)?;
    Ok(())
}

/// The GRUB EFI image for the ESP: it finds the root filesystem by its UUID and reads
/// /boot/grub/grub.cfg from it.
pub(crate) fn make_efi(config: &Config, root: &Tree, spool: &Path) -> Result<Vec<u8>, BootError> {
    let platform = match config.arch {
        Arch::X86_64 => "x86_64-efi",
        Arch::Arm64 => "arm64-efi",
    };
    let early = format!(
        "search --no-floppy --fs-uuid --set=root {}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n",
        config.root_fs_uuid
    );
    let cfg = tempfile::NamedTempFile::new_in(spool).map_err(BootError::io("cannot spool GRUB's early config"))?;
    std::fs::write(cfg.path(), early).map_err(BootError::io_at(cfg.path()))?;
    let cfg_path = cfg.path().to_string_lossy().into_owned();
    let args = [
        "-c",
        cfg_path.as_str(),
        "-p",
        "/boot/grub",
        "part_gpt",
        "part_msdos",
        "ext2",
        "search",
        "search_fs_uuid",
        "configfile",
        "normal",
        "linux",
        "echo",
    ];
    mkimage(root, spool, platform, &args)
}
