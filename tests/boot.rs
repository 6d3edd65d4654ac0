//! Images boot a real Debian cloud kernel under QEMU (TCG): systemd-boot under OVMF, or
//! GRUB under SeaBIOS, loads the kernel and the test initramfs
//! (scripts/make-test-payload.sh), which loads virtio in modules.dep order, finds the
//! ext4 root by its PARTUUID and switch_roots to the root's /init. The /init checks, inside the guest, a large file's SHA-256, a symlink,
//! a hard link, a setuid mode with owners, a device node, a sparse file, a large
//! directory and xattrs of three namespaces and an access ACL (read with getfattr), and on a dm-verity root every file against a list made at build time and
//! the root hash the mapping holds, prints one marker line and powers off. The test passes only on the exact
//! marker; a kernel panic fails it at once. The disk is attached with snapshot=on, so
//! the guest never changes the image.

use crate::util::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const INIT: &str = r#"#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
# A verity root's test lists every file's SHA-256 (made at build time): all are read
# through dm-verity, which fails the read of a block that is not what the tree says.
if [ -f /data/sums ]; then
    bad=$(cd / && $B sha256sum -c /data/sums 2>&1 | $B grep -v ': OK$' | $B head -5)
    [ -z "$bad" ] || { echo "INGOT-BOOT-FAIL files: $bad"; $B poweroff -f; }
fi
verity=none
if $B grep -q '^/dev/dm-0 / ' /proc/mounts; then
    $B mount -t devtmpfs dev /dev
    # The root hash the mapping holds (dmsetup's table: field 12), from the root's dmsetup.
    verity=$(LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu \
        /sbin/dmsetup table root | $B awk '$3 == "verity" { print $12 }')
fi
sum=$($B sha256sum /data/big.bin | $B cut -c1-64)
link=$($B readlink /data/link)
hard=$($B stat -c %h /data/big.bin)
mode=$($B stat -c %a:%u:%g /data/suid)
dev=$($B stat -c %t:%T /data/node)
sparse=$($B stat -c %s:%b /data/sparse)
wide=$($B ls /data/wide | $B wc -l)
$B mount -t sysfs sysfs /sys
# The xattrs of /data/xattrs as the kernel reads them (names and hex values, sorted).
xattrs=$(LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu \
    /usr/bin/getfattr -d -m - -e hex --absolute-names /data/xattrs | $B grep = | $B sort | $B tr '\n' ',')
sb=none
if [ -d /sys/firmware/efi ]; then
    $B insmod "$($B find /lib/modules -name efivarfs.ko)"
    $B mount -t efivarfs efivarfs /sys/firmware/efi/efivars
    # 4 bytes of attributes, then the value
    sb=$($B od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | $B awk '{print $5}')
fi
# A TPM's PCRs 4, 7, 11 and 12 in both banks, as the kernel reads them from the TPM. The
# arm64 cloud kernel has the TIS driver as modules (x86_64's is built in).
if [ -e /sys/bus/acpi/devices/MSFT0101:00 ] && [ ! -d /sys/class/tpm/tpm0 ]; then
    for m in tpm_tis_core tpm_tis; do $B insmod "$($B find /lib/modules -name $m.ko)"; done
fi
tpm=none
if [ -d /sys/class/tpm/tpm0/pcr-sha384 ]; then
    tpm=""
    for bank in sha384 sha256; do
        for i in 4 7 11 12; do
            tpm="$tpm$bank:$i=$($B tr A-F a-f < /sys/class/tpm/tpm0/pcr-$bank/$i),"
        done
    done
fi
echo "INGOT-BOOT-OK sum=$sum link=$link hard=$hard mode=$mode dev=$dev sparse=$sparse wide=$wide xattrs=$xattrs verity=${verity:-unset} secureboot=${sb:-unset} tpm=$tpm"
$B poweroff -f
"#;

/// The xattrs of the guest's /data/xattrs, in the order getfattr's lines sort.
const XATTRS: [(&str, &[u8]); 4] = [
    ("security.capability", &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    // user::rw-, user:1000:r--, group::r--, mask::r--, other::--- in the kernel's xattr
    // form (version 2, then tag, permissions and id of each entry).
    ("system.posix_acl_access", &ACL),
    ("trusted.t", b"v"),
    ("user.note", b"read back by the kernel"),
];

/// [`XATTRS`]' access ACL.
const ACL: [u8; 44] = [
    2, 0, 0, 0, //
    1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, //
    2, 0, 4, 0, 0xe8, 3, 0, 0, //
    4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, //
    0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, //
    0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
];

/// The guest's tree beyond the payload: /init and the things it checks. Returns the
/// marker the guest must print, but for the Secure Boot state the firmware adds
/// ([`Firmware::marker`]).
pub(crate) fn guest_files(dir: &Path) -> String {
    let big = bytes(77, 8 << 20);
    let mut b = tar::Builder::new(std::fs::File::create(dir.join("guest.tar")).unwrap());
    let mut put = |name: &str, kind: tar::EntryType, mode: u32, owner: u32, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(u64::from(owner));
        h.set_gid(u64::from(owner));
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        if kind == tar::EntryType::Block {
            h.set_device_major(259).unwrap();
            h.set_device_minor(1).unwrap();
        }
        match link {
            Some(l) => b.append_link(&mut h, name, l).unwrap(),
            None => b.append_data(&mut h, name, data).unwrap(),
        }
    };
    put("init", tar::EntryType::Regular, 0o755, 0, INIT.as_bytes(), None);
    for d in ["proc/", "sys/", "dev/", "data/", "data/wide/"] {
        put(d, tar::EntryType::Directory, 0o755, 0, b"", None);
    }
    put("data/big.bin", tar::EntryType::Regular, 0o644, 0, &big, None);
    put("data/hard", tar::EntryType::Link, 0o644, 0, b"", Some("data/big.bin"));
    put("data/link", tar::EntryType::Symlink, 0o777, 0, b"", Some("big.bin"));
    put("data/suid", tar::EntryType::Regular, 0o4750, 1000, b"#!", None);
    put("data/node", tar::EntryType::Block, 0o660, 0, b"", None);
    for i in 0..3000 {
        put(&format!("data/wide/entry-{i:05}"), tar::EntryType::Regular, 0o644, 0, b"", None);
    }
    // Xattrs of three namespaces; user.note is on two files (EROFS shares it).
    for (name, xattrs) in [("data/xattrs", &XATTRS[..]), ("data/xattrs-too", &XATTRS[3..])] {
        let pax: Vec<(String, &[u8])> = xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v)).collect();
        let pax: Vec<(&str, &[u8])> = pax.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        append_file(&mut b, name, b"x", 1_700_000_000, &pax);
    }
    b.finish().unwrap();
    {
        use std::os::unix::fs::FileExt;
        std::fs::create_dir_all(dir.join("sparse/data")).unwrap();
        let f = std::fs::File::create(dir.join("sparse/data/sparse")).unwrap();
        f.write_all_at(b"end", (64 << 20) - 3).unwrap();
    }
    let sum = sha256(&big);
    // the sparse file: 64 MiB long, one 4 KiB block allocated (8 sectors)
    let xattrs: String = XATTRS.iter().map(|(k, v)| format!("{k}=0x{},", hex::encode(v))).collect();
    format!("INGOT-BOOT-OK sum={sum} link=big.bin hard=2 mode=4750:1000:1000 dev=103:1 sparse=67108864:8 wide=3000 xattrs={xattrs} verity=none")
}

pub(crate) const RECIPE: &str = r#"name = "boot"
size = "1 GiB"
source_date_epoch = 1700000000
[boot]
uefi = "systemd-boot"
kernel = "/boot/vmlinuz"
initrd = "/boot/initrd.img"
cmdline = "console=ttyS0 ro init=/init panic=-1"
[[partition]]
label = "ESP"
type = "esp"
size = "64 MiB"
filesystem = "vfat"
[[partition]]
label = "root"
type = "root-x86-64"
size = "fill"
filesystem = "ext4"
[[partition.contents]]
dir = "PAYLOAD"
[[partition.contents]]
tar = "guest.tar"
[[partition.contents]]
dir = "sparse"
"#;

/// The machine and its firmware.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firmware {
    /// x86_64 (q35) with OVMF, with a writable copy of its variable store.
    Uefi,
    /// x86_64 (q35) with SeaBIOS, QEMU's default.
    Bios,
    /// [`Firmware::Bios`] with `--accel auto`: KVM first where `/dev/kvm` is usable, and
    /// TCG when KVM fails the guest or leaves it silent before its kernel starts (as this
    /// project's machines' KVM does under SeaBIOS).
    BiosKvmFirst,
    /// arm64 (`virt`, Cortex-A72) with AAVMF, with a writable copy of its variable store.
    Aavmf,
    /// x86_64 (q35 with SMM) with OVMF's Secure Boot build, enforcing, and a copy of the
    /// variable store `secure-boot-vars.fd` the test put in the boot's directory.
    OvmfSecureBoot,
    /// arm64 with AAVMF (Secure Boot capable), enforcing, and a copy of the variable store
    /// `secure-boot-vars.fd` the test put in the boot's directory.
    AavmfSecureBoot,
}

impl Firmware {
    /// The guest's marker line under this firmware: `want` from [`guest_files`] and the
    /// `SecureBoot` variable the guest read from efivarfs: `none` without EFI, `0` when
    /// Secure Boot is off (no PK enrolled), `1` when the firmware enforces it.
    fn marker(self, want: &str) -> String {
        let state = match self {
            Firmware::Bios | Firmware::BiosKvmFirst => "none",
            Firmware::Uefi | Firmware::Aavmf => "0",
            Firmware::OvmfSecureBoot | Firmware::AavmfSecureBoot => "1",
        };
        format!("{want} secureboot={state}")
    }
}

/// The marker the guest prints when it boots the image whose build report is `report`
/// under `firmware`: `want` from [`guest_files`], the Secure Boot state
/// ([`Firmware::marker`]), the verity root hash (verity roots) and the TPM's PCRs, which
/// must be what the build predicted (images with `measurements` boot with a TPM, see
/// [`boot_log`]).
pub(crate) fn marker(firmware: Firmware, want: &str, report: &serde_json::Value) -> String {
    let mut want = crate::verity::marker_of(&firmware.marker(want), report);
    // EROFS maps no holes (ingot writes files whole): the kernel counts every block of
    // the 64 MiB sparse file (131,072 sectors).
    if report["partitions"].as_array().unwrap().iter().any(|p| p["filesystem"] == "erofs") {
        want = want.replace("sparse=67108864:8 ", "sparse=67108864:131072 ");
    }
    format!("{want} tpm={}", crate::measure::guest_pcrs(report))
}

/// Boots `image` with `firmware` on `disk` ("nvme" or "virtio-blk-pci") and returns the
/// marker line, failing on a kernel panic or after five minutes.
fn boot(image: &Path, firmware: Firmware, disk: &str, dir: &Path) -> String {
    boot_until(image, firmware, disk, dir, "INGOT-BOOT-OK", Duration::from_secs(300))
}

/// `ingot boot`'s flags for `firmware` and `disk` ("nvme" or "virtio-blk-pci"). The
/// Secure Boot firmwares start from the store `secure-boot-vars.fd` in `dir` when that
/// exists (made by independent tools, to refuse images with other keys), else from the
/// store the build wrote (IMAGE.json's uefi_data, which `ingot boot` writes into the
/// firmware's own flash).
fn boot_flags(firmware: Firmware, disk: &str, dir: &Path) -> Vec<std::ffi::OsString> {
    let vars = dir.join("secure-boot-vars.fd");
    let vars = vars.is_file().then(|| ["--vars".into(), vars.into_os_string()]);
    // The architecture is not given: ingot boot reads it from the image's EFI binaries.
    let flags: Vec<std::ffi::OsString> = match firmware {
        Firmware::Uefi | Firmware::Aavmf => vec![],
        Firmware::Bios | Firmware::BiosKvmFirst => vec!["--bios".into()],
        Firmware::OvmfSecureBoot | Firmware::AavmfSecureBoot => {
            std::iter::once("--secure-boot".into()).chain(vars.into_iter().flatten()).collect()
        }
    };
    let disk = if disk == "nvme" { Some("--nvme".into()) } else { None };
    flags.into_iter().chain(disk).collect()
}

/// Boots `image` and returns the first console line from `marker` on; fails on a
/// kernel panic, when QEMU exits, or after `limit`.
pub(crate) fn boot_until(
    image: &Path,
    firmware: Firmware,
    disk: &str,
    dir: &Path,
    marker: &str,
    limit: Duration,
) -> String {
    boot_log(image, firmware, disk, dir, marker, limit).0
}

/// [`boot_until`], also returning the console lines before the marker: `ingot boot
/// --expect MARKER`, which exits 0 on the marker, 1 on a kernel panic or when QEMU exits
/// first, 124 after the time limit.
pub(crate) fn boot_log(
    image: &Path,
    firmware: Firmware,
    disk: &str,
    dir: &Path,
    marker: &str,
    limit: Duration,
) -> (String, Vec<String>) {
    let accel = if firmware == Firmware::BiosKvmFirst { "auto" } else { "tcg" };
    // An image whose build predicted its measurements boots with a TPM (swtpm), whose
    // PCRs the guest prints.
    let report = std::fs::read(format!("{}.json", image.display())).ok();
    let report = report.and_then(|r| serde_json::from_slice::<serde_json::Value>(&r).ok());
    let tpm = report.is_some_and(|r| r["measurements"].is_object()).then_some("--tpm");
    let o = run(ingot().arg("boot").arg(image).args(boot_flags(firmware, disk, dir)).args(tpm).args([
        "--accel",
        accel,
        "--expect",
        marker,
        "--timeout",
        &limit.as_secs().to_string(),
    ]));
    let lines: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect();
    let at = lines.iter().position(|l| l.contains(marker));
    match (o.status.code(), at) {
        (Some(0), Some(at)) => {
            // A getty's prompt may precede the marker on its line.
            let line = &lines[at];
            (line[line.find(marker).unwrap_or(0)..].to_string(), lines[..at].to_vec())
        }
        (code, _) => panic!(
            "ingot boot exited {code:?}: {}\n--- serial console (last lines) ---\n{}",
            String::from_utf8_lossy(&o.stderr),
            lines[lines.len().saturating_sub(40)..].join("\n")
        ),
    }
}

/// Builds the boot test image from `recipe` over the payload of Debian architecture `arch`,
/// checks it with sgdisk (GPT), fsck.fat and e2fsck, boots it each way in `boots` and
/// compares the guest's marker.
pub(crate) fn build_and_boot(recipe_text: &str, arch: &str, boots: &[(Firmware, &str)]) {
    build_and_boot_with(recipe_text, arch, boots, |text, _, _| text.to_string());
}

/// [`build_and_boot`] of the recipe `change(text, dir, payload)` makes of `recipe_text` in
/// the test's directory (after [`guest_files`]), before the payload's path is put in.
pub(crate) fn build_and_boot_with(
    recipe_text: &str,
    arch: &str,
    boots: &[(Firmware, &str)],
    change: impl Fn(&str, &Path, &Path) -> String,
) {
    let tmp = tempfile::tempdir().unwrap();
    let want = guest_files(tmp.path());
    let payload = payload(arch, "boot/vmlinuz");
    let text = change(recipe_text, tmp.path(), &payload).replace("PAYLOAD", &payload.display().to_string());
    let r = recipe(tmp.path(), &text);
    let out = tmp.path().join("boot.raw");
    let report = build_checked(&r, &out);
    let before = sha256_file(&out);
    for &(firmware, disk) in boots {
        assert_eq!(boot(&out, firmware, disk, tmp.path()), marker(firmware, &want, &report));
    }
    assert_eq!(sha256_file(&out), before, "booting must not change the image");
}

#[test]
fn uefi_systemd_boot_on_nvme_boots_to_the_marker() {
    build_and_boot(RECIPE, "amd64", &[(Firmware::Uefi, "nvme")]);
}

#[test]
fn uefi_systemd_boot_on_virtio_blk_boots_to_the_marker() {
    build_and_boot(RECIPE, "amd64", &[(Firmware::Uefi, "virtio-blk-pci")]);
}

/// GPT with a BIOS boot partition, an ESP and a root, GRUB both ways (as Debian, Ubuntu
/// and Amazon Linux cloud images ship): SeaBIOS and OVMF boot the same image.
#[test]
fn hybrid_grub_image_boots_with_bios_and_with_uefi() {
    let hybrid = RECIPE.replace("uefi = \"systemd-boot\"", "uefi = \"grub\"\nbios = \"grub\"").replace(
        "[[partition]]\nlabel = \"ESP\"",
        "[[partition]]\nlabel = \"bios\"\ntype = \"bios-boot\"\nsize = \"1 MiB\"\n[[partition]]\nlabel = \"ESP\"",
    );
    assert!(hybrid.contains("bios-boot") && hybrid.contains("bios = \"grub\""));
    build_and_boot(&hybrid, "amd64", &[(Firmware::Bios, "virtio-blk-pci"), (Firmware::Uefi, "nvme")]);
}

/// An MBR disk: boot.img in the MBR, core.img in the gap before the first partition.
#[test]
fn mbr_bios_grub_boots_on_virtio_blk() {
    let mbr = r#"name = "mbr"
size = "1 GiB"
table = "mbr"
source_date_epoch = 1700000000
[boot]
bios = "grub"
kernel = "/boot/vmlinuz"
initrd = "/boot/initrd.img"
cmdline = "console=ttyS0 ro init=/init panic=-1"
[[partition]]
type = "linux"
size = "fill"
filesystem = "ext4"
bootable = true
[[partition.contents]]
dir = "PAYLOAD"
[[partition.contents]]
tar = "guest.tar"
[[partition.contents]]
dir = "sparse"
"#;
    // KVM first: where KVM leaves the guest silent (this kind of machine), the boot
    // starts again under TCG after ingot_qemu::KVM_SILENCE and still reaches the marker.
    build_and_boot(mbr, "amd64", &[(Firmware::BiosKvmFirst, "virtio-blk-pci")]);
}

/// A unified kernel image (systemd-stub + kernel + initrd + command line) as the ESP's
/// default boot path, booted by OVMF directly, with an LZ4-compressed EROFS root under
/// dm-verity (without Secure Boot; tests/secure_boot.rs boots the signed ones, ext4 on
/// x86_64, uncompressed EROFS on arm64): the initramfs loads erofs.ko and mounts the
/// root as `rootfstype=erofs`, and the guest
/// reads every file through the mapping the command line's root hash made, with the
/// set-id bits, owners, device number and link count it checks (arm64_uki_boots_on_nvme
/// boots a UKI with a plain root).
#[test]
fn uki_boots_an_lz4_erofs_root_under_dm_verity_under_uefi_on_nvme() {
    let uki = RECIPE.replace("uefi = \"systemd-boot\"", "uefi = \"uki\"");
    let erofs = |text: &str, dir: &Path, payload: &Path| {
        let lz4 = "filesystem = \"erofs\"\nverity = true\n[partition.erofs]\ncompression = \"lz4\"\n";
        crate::verity::verity_root_as(text, dir, payload, "erofs")
            .replace("filesystem = \"erofs\"\nverity = true\n", lz4)
    };
    build_and_boot_with(&uki, "amd64", &[(Firmware::Uefi, "nvme")], erofs);
}

/// The same UKI recipe gives the same image on every build, and the UKI ingot assembled
/// reads back with an independent PE reader (binutils' objdump): the sections ukify adds,
/// in its order, at increasing addresses on the stub's alignments, and a right checksum.
#[test]
fn uki_builds_a_second_later_are_byte_identical_and_read_back_as_pe() {
    let text = RECIPE.replace("uefi = \"systemd-boot\"", "uefi = \"uki\"");
    check_uki(&text, "amd64", "BOOTX64.EFI", "pei-x86-64");
}

/// Builds the UKI recipe `text` twice a second apart over the `arch` payload, checks the
/// two images are identical, and reads the UKI (`removable` on the ESP) back with objdump,
/// which must call it `format`.
pub(crate) fn check_uki(text: &str, arch: &str, removable: &str, format: &str) {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let r = recipe(tmp.path(), &text.replace("PAYLOAD", &payload(arch, "boot/vmlinuz").display().to_string()));
    let (a, b) = (tmp.path().join("a.raw"), tmp.path().join("b.raw"));
    build_checked(&r, &a);
    std::thread::sleep(Duration::from_millis(1_100));
    let report = build_checked(&r, &b);
    assert_eq!(sha256_file(&a), sha256_file(&b), "two builds of one UKI recipe differ");

    let uki = tmp.path().join("uki.efi");
    from_esp(&a, &report, &format!("/EFI/BOOT/{removable}"), &uki);
    let o = run(Command::new("objdump").arg("-h").arg(&uki));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains(&format!("file format {format}")), "objdump -h: {text}");
    // "  5 .osrel  000000a1  0000000140016000  0000000140016000  00014c00  2**2"
    let sections: Vec<(String, u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 7 && f[0].parse::<u32>().is_ok()).then(|| {
                (f[1].to_string(), u64::from_str_radix(f[3], 16).unwrap(), u64::from_str_radix(f[5], 16).unwrap())
            })
        })
        .collect();
    let names: Vec<&str> = sections.iter().map(|s| s.0.as_str()).collect();
    assert!(names.ends_with(&[".osrel", ".cmdline", ".uname", ".initrd", ".linux"]), "{names:?}");
    // The stub's version and SBAT data are sections on both architectures (Debian's arm64
    // stub has them only in undescribed bytes; ingot adds them back).
    assert!(names.contains(&".sdmagic") && names.contains(&".sbat"), "{names:?}");
    assert!(sections.windows(2).all(|w| w[0].1 < w[1].1), "addresses increase: {sections:?}");
    let o = run(Command::new("objdump").arg("-p").arg(&uki));
    let headers = String::from_utf8_lossy(&o.stdout);
    let field = |name: &str| -> u64 {
        let line = headers.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}: {headers}"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let (section_alignment, file_alignment) = (field("SectionAlignment"), field("FileAlignment"));
    let added = &sections[sections.len() - 5..];
    assert!(added.iter().all(|s| s.1 % section_alignment == 0 && s.2 % file_alignment == 0), "{sections:?}");
    let size_of_image = field("SizeOfImage");
    let last_size = text.lines().find(|l| l.contains(" .linux ")).unwrap().split_whitespace().nth(2).unwrap();
    let linux_end = added[4].1 + u64::from_str_radix(last_size, 16).unwrap();
    assert_eq!(size_of_image, linux_end.next_multiple_of(section_alignment), "SizeOfImage");
    let sum = run(Command::new(crate::util::aws::python()).arg("-c").arg(PE_CHECKSUM).arg(&uki));
    let sum = String::from_utf8_lossy(&sum.stdout);
    let (stored, computed) = sum.trim().split_once(' ').unwrap();
    assert_eq!(stored, computed, "the optional header's CheckSum");
}

/// The PE image checksum (CheckSumMappedFile), written from the PE format specification
/// independently of ingot's: prints the stored value and the computed one.
const PE_CHECKSUM: &str = r#"
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
n = len(d)
at = struct.unpack_from("<I", d, 0x3C)[0] + 24 + 64
stored = struct.unpack_from("<I", d, at)[0]
d[at:at + 4] = bytes(4)
if n % 2:
    d.append(0)
s = sum(struct.unpack("<%dH" % (len(d) // 2), d))
while s >> 16:
    s = (s & 0xFFFF) + (s >> 16)
print(stored, (s + n) & 0xFFFFFFFF)
"#;

/// recipes/debian-cloud.toml over the Debian rootfs scripts/make-debian-rootfs.sh makes
/// (debootstrap minbase, cloud kernel, systemd, GRUB): the closest thing to a real AMI
/// that runs here. UEFI on NVMe, as on Nitro, and (hybrid) SeaBIOS on virtio-blk; systemd
/// must reach multi-user.target with no failed unit: a unit of the rootfs ordered after
/// it prints the marker.
#[test]
fn debian_cloud_recipe_boots_to_multi_user_with_uefi_and_bios() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("debian.raw");
    let report = build_debian("debian-cloud.toml", "amd64", &out);
    let parts = report["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0]["size"], 1 << 20, "BIOS boot partition");
    boot_debian(&out, "amd64", &[(Firmware::Uefi, "nvme"), (Firmware::Bios, "virtio-blk-pci")], tmp.path());
}

/// Builds recipes/`name` (8 GiB, a 256 MiB ESP, the ext4 root last) over the Debian rootfs
/// for `arch` to `out`, checks the table and filesystems, and returns the report.
pub(crate) fn build_debian(name: &str, arch: &str, out: &Path) -> serde_json::Value {
    let rootfs = repo().join(format!("target/debian-rootfs/{arch}.tar.gz"));
    assert!(rootfs.exists(), "{} is missing: run scripts/make-debian-rootfs.sh {arch}", rootfs.display());
    let report = build(&repo().join("recipes").join(name), out);
    assert_eq!(report["disk_size"], 8u64 << 30);
    sgdisk_verify(out);
    let parts = report["partitions"].as_array().unwrap();
    let (esp, root) = (&parts[parts.len() - 2], &parts[parts.len() - 1]);
    assert_eq!(esp["size"], 256 << 20, "ESP");
    fsck_fat(out, esp["offset"].as_u64().unwrap(), esp["size"].as_u64().unwrap());
    e2fsck_clean(out, root["offset"].as_u64().unwrap(), root["size"].as_u64().unwrap());
    report
}

/// Boots the Debian image each way in `boots` until systemd reports multi-user.target
/// active with no failed unit under the `arch` cloud kernel; the image must not change.
pub(crate) fn boot_debian(image: &Path, arch: &str, boots: &[(Firmware, &str)], dir: &Path) {
    let before = sha256_file(image);
    for &(firmware, disk) in boots {
        let line = boot_until(image, firmware, disk, dir, "INGOT-DEBIAN-UP", Duration::from_secs(900));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.get(1..3), Some(&["active", "failed=0"][..]), "{line}");
        assert!(words.get(3).is_some_and(|k| k.ends_with(&format!("-cloud-{arch}"))), "{line}");
    }
    assert_eq!(sha256_file(image), before, "booting must not change the image");
}

/// A kernel built for another architecture than `[boot] arch` is refused when the UKI is
/// assembled, naming the file and both architectures; nothing is left at the output.
#[test]
fn a_kernel_of_another_architecture_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    // The headers of an arm64 PE image: MZ, the PE signature at 0x40, Machine 0xAA64.
    let mut arm64 = vec![0u8; 0x200];
    arm64[..2].copy_from_slice(b"MZ");
    arm64[0x3c] = 0x40;
    arm64[0x40..0x44].copy_from_slice(b"PE\0\0");
    arm64[0x44..0x46].copy_from_slice(&0xaa64u16.to_le_bytes());
    std::fs::create_dir_all(tmp.path().join("fake/boot")).unwrap();
    std::fs::write(tmp.path().join("fake/boot/arm64-kernel"), arm64).unwrap();
    let text = RECIPE
        .replace("uefi = \"systemd-boot\"", "uefi = \"uki\"")
        .replace("kernel = \"/boot/vmlinuz\"", "kernel = \"/boot/arm64-kernel\"")
        .replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string())
        + "[[partition.contents]]\ndir = \"fake\"\n";
    let r = recipe(tmp.path(), &text);
    let err = build_fails(&r, &tmp.path().join("out.raw"));
    assert!(
        err.contains("/boot/arm64-kernel in the root tree is an arm64 binary, but the recipe's boot.arch is x86_64"),
        "{err}"
    );
}

/// `ingot boot` for scripts: exit 1 on a kernel panic (a root without /init: the
/// initramfs's switch_root fails and init dies), 124 when no line matches in time, and a
/// missing QEMU is named with its Debian package. The image never changes.
#[test]
fn ingot_boot_exits_1_on_a_panic_124_on_timeout_and_names_a_missing_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    guest_files(tmp.path());
    let text = RECIPE
        .replace("[[partition.contents]]\ntar = \"guest.tar\"\n", "")
        .replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string());
    let out = tmp.path().join("noinit.raw");
    build_checked(&recipe(tmp.path(), &text), &out);
    let before = sha256_file(&out);
    let boot = |args: &[&str]| run(ingot().arg("boot").arg(&out).args(["--accel", "tcg"]).args(args));
    let o = boot(&["--nvme", "--expect", "INGOT-BOOT-OK", "--timeout", "300"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the kernel panicked: ") && err.contains("Kernel panic"), "{err}");
    let o = boot(&["--nvme", "--expect", "NEVER-PRINTED", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(124), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped after 5 s before a line matched \"NEVER-PRINTED\""));
    let o = run(ingot().env("PATH", "/nonexistent").arg("boot").arg(&out).args(["--expect", "x"]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("qemu-system-x86_64 not found")
            && err.contains("Debian's qemu-system-x86 package"),
        "{err}"
    );
    // Secure Boot needs keys: this image's report has no store.
    let o = boot(&["--secure-boot", "--expect", "x"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("noinit.raw.json: the image was built without [secure_boot]"), "{err}");
    // Secure Boot needs keys: this image's report has no store.
    let o = boot(&["--secure-boot", "--expect", "x"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("noinit.raw.json: the image was built without [secure_boot]"), "{err}");
    assert_eq!(sha256_file(&out), before, "booting must not change the image");
}
