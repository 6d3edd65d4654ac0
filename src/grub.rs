//! BIOS boot with GRUB i386-pc, without grub-install and without a loop device:
//! `grub-mkimage -O i386-pc` (an unprivileged host tool) makes core.img from the root
//! tree's i386-pc modules; boot.img goes into the MBR's boot code area with the fields
//! grub-bios-setup patches, and core.img into the BIOS boot partition (GPT) or the gap
//! after the MBR, with its first-sector blocklist pointing at the rest of itself.

use anyhow::{bail, Context, Result};
use ingot_disk::{Image, SECTOR};
use ingot_recipe::{Arch, Boot, CoreLocation, Plan, Recipe, TableKind};
use ingot_tree::{Content, Kind, Meta, Tree};
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

/// What BIOS boot writes once the partition table is in place.
pub(crate) struct BiosCode {
    boot_img: Vec<u8>,
    core_img: Vec<u8>,
    location: CoreLocation,
}

fn read_tree_file(tree: &Tree, path: &str, root: usize) -> Result<Vec<u8>> {
    let content = crate::boot::file_in(tree, path, "boot.bios = \"grub\"", root)
        .context("GRUB's i386-pc files come from the root tree (Debian: grub-pc-bin)")?;
    let mut v = Vec::new();
    content.reader()?.read_to_end(&mut v).with_context(|| path.to_owned())?;
    Ok(v)
}

/// Writes /boot/grub/grub.cfg into the root tree: one entry that boots the kernel with
/// the root named by PARTUUID.
pub(crate) fn write_config(recipe: &Recipe, boot: &Boot, root: &mut Tree, spool: &Path) -> Result<()> {
    let guid = recipe.partuuid(boot.root + 1);
    let mut cfg = format!(
        "set timeout=0\nset default=0\nmenuentry \"{}\" {{\n    linux {} {} root=PARTUUID={guid} rootfstype=ext4\n",
        recipe.name, boot.kernel, boot.cmdline
    );
    if let Some(initrd) = &boot.initrd {
        cfg += &format!("    initrd {initrd}\n");
    }
    cfg += "}\n";
    let content = Content::from_bytes(cfg.as_bytes(), spool).context("cannot spool grub.cfg")?;
    root.add_content("/boot/grub/grub.cfg", content, Meta::root(0o644, recipe.source_date_epoch))
        .map_err(anyhow::Error::msg)
        .context("/boot/grub/grub.cfg")?;
    Ok(())
}

/// Copies the root tree's GRUB modules for `platform` to a temporary directory and runs
/// `grub-mkimage` over them; returns the image.
fn mkimage(root: &Tree, spool: &Path, platform: &str, args: &[&str]) -> Result<Vec<u8>> {
    let dir_path = format!("/usr/lib/grub/{platform}");
    let modules = tempfile::tempdir_in(spool).context("cannot make a directory for GRUB's modules")?;
    let Some(dir) = root.lookup(&dir_path) else {
        bail!("GRUB's {platform} modules are not in the root tree at {dir_path} (Debian: {})", package(platform))
    };
    for (name, id) in root.children(dir) {
        if let Kind::File(c) = &root.node(id).kind {
            let mut file = std::fs::File::create(modules.path().join(String::from_utf8_lossy(name).as_ref()))?;
            std::io::copy(&mut c.reader()?, &mut file)?;
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
        .context("GRUB images are made with grub-mkimage, which is not on this machine (Debian: grub-common)")?;
    if !status.success() {
        bail!("grub-mkimage -O {platform} failed ({status}) over the root tree's {dir_path}");
    }
    Ok(std::fs::read(&out)?)
}

fn package(platform: &str) -> &'static str {
    match platform {
        "i386-pc" => "grub-pc-bin",
        "x86_64-efi" => "grub-efi-amd64-bin",
        _ => "grub-efi-arm64-bin",
    }
}

/// Makes core.img for BIOS boot (grub.cfg must be in the root tree already).
pub(crate) fn prepare_bios(
    recipe: &Recipe,
    boot: &Boot,
    root: &Tree,
    spool: &Path,
    location: CoreLocation,
) -> Result<BiosCode> {
    let part = boot.root + 1;
    let prefix = match recipe.table {
        TableKind::Gpt => format!("(hd0,gpt{part})/boot/grub"),
        TableKind::Mbr => format!("(hd0,msdos{part})/boot/grub"),
    };
    let boot_img = read_tree_file(root, &format!("{GRUB_DIR}/boot.img"), boot.root)?;
    if boot_img.len() != SECTOR as usize {
        bail!("{GRUB_DIR}/boot.img is {} bytes, not one sector", boot_img.len());
    }
    let partmap = if recipe.table == TableKind::Gpt { "part_gpt" } else { "part_msdos" };
    let core_img =
        mkimage(root, spool, "i386-pc", &["-p", &prefix, "biosdisk", partmap, "ext2", "normal", "linux", "echo"])?;
    Ok(BiosCode { boot_img, core_img, location })
}

/// Writes boot.img into the MBR's boot code area and core.img into its place.
pub(crate) fn install(code: &BiosCode, image: &mut Image, plan: &Plan) -> Result<()> {
    let core_sectors = (code.core_img.len() as u64).div_ceil(SECTOR);
    let (lba, room) = match code.location {
        CoreLocation::Partition(i) => {
            let p = &plan.partitions[i];
            (p.offset / SECTOR, p.size / SECTOR)
        }
        CoreLocation::MbrGap => {
            let first = plan.partitions.iter().map(|p| p.offset / SECTOR).min().unwrap_or(0);
            (1, first.saturating_sub(1))
        }
    };
    if core_sectors > room {
        let place = match code.location {
            CoreLocation::Partition(i) => format!("the BIOS boot partition (partition[{i}], {} bytes)", room * SECTOR),
            CoreLocation::MbrGap => format!("the {} bytes between the MBR and the first partition", room * SECTOR),
        };
        bail!("GRUB's core.img is {} bytes and does not fit {place}; make it larger", code.core_img.len());
    }
    let mut core = code.core_img.clone();
    core.resize((core_sectors * SECTOR) as usize, 0);
    // The blocklist at the end of core.img's first sector: the remaining sectors, loaded
    // at segment 0x820 (struct grub_pc_bios_boot_blocklist: start u64, len u16, segment u16).
    let bl = SECTOR as usize - 12;
    core[bl..bl + 8].copy_from_slice(&(lba + 1).to_le_bytes());
    core[bl + 8..bl + 10].copy_from_slice(&((core_sectors - 1) as u16).to_le_bytes());
    core[bl + 10..bl + 12].copy_from_slice(&0x820u16.to_le_bytes());
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

/// The GRUB EFI image for the ESP: it finds the root filesystem by its (seed-derived)
/// UUID and reads /boot/grub/grub.cfg from it.
pub(crate) fn make_efi(recipe: &Recipe, boot: &Boot, root: &Tree, spool: &Path) -> Result<Vec<u8>> {
    let platform = match boot.arch {
        Arch::X86_64 => "x86_64-efi",
        Arch::Arm64 => "arm64-efi",
    };
    let uuid = recipe.ext4_uuid(boot.root + 1);
    let early = format!(
        "search --no-floppy --fs-uuid --set=root {uuid}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n"
    );
    let cfg = tempfile::NamedTempFile::new_in(spool).context("cannot spool GRUB's early config")?;
    std::fs::write(cfg.path(), early)?;
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
