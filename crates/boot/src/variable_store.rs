//! The UEFI variable store of edk2's firmware (OVMF, AAVMF) as QEMU attaches it: the
//! writable flash file (`OVMF_VARS_4M.fd`, `AAVMF_VARS.fd`) the firmware reads its
//! non-volatile variables from. `ingot boot --secure-boot` writes the build's store (the
//! variables of its `uefi_data`, [`crate::aws_uefi_data`]) into a copy of the firmware's
//! own formatted store, so the firmware starts with the keys the AMI will have.
//!
//! The flash starts with a firmware volume (UEFI PI Specification 1.8, Volume 3, 3.2.1
//! "Firmware Volume Header": `EFI_FIRMWARE_VOLUME_HEADER`, file system
//! `EFI_SYSTEM_NV_DATA_FV_GUID`) whose body is the variable store (edk2
//! `MdeModulePkg/Include/Guid/VariableFormat.h`): a `VARIABLE_STORE_HEADER`, then
//! variables, each an `AUTHENTICATED_VARIABLE_HEADER`, its name (UTF-16LE with its NUL)
//! and its data, the next one aligned to `HEADER_ALIGNMENT` (4); unused space is 0xFF. The
//! fault-tolerant-write areas after the store are left as the template has them.
//!
//! ```no_run
//! use ingot_boot::{aws_uefi_data, variable_store};
//! let template = std::fs::read("/usr/share/OVMF/OVMF_VARS_4M.fd")?;
//! let keys = aws_uefi_data::secure_boot(vec![], vec![], vec![], None, 1_700_000_000);
//! let flash = variable_store::replace(&template, variable_store::SECURE_BOOT_KEYS, &keys)?;
//! assert_eq!(variable_store::read(&flash)?.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::aws_uefi_data::{efi_time, Variable, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE_GUID};
use uuid::Uuid;

/// `EFI_SYSTEM_NV_DATA_FV_GUID`: the firmware volume of non-volatile variables.
const EFI_SYSTEM_NV_DATA_FV_GUID: Uuid = uuid::uuid!("fff12b8d-7696-4c8b-a985-2747075b4f50");
/// `EFI_FVH_SIGNATURE`.
const EFI_FVH_SIGNATURE: &[u8; 4] = b"_FVH";
/// `gEfiAuthenticatedVariableGuid`: a store of `AUTHENTICATED_VARIABLE_HEADER`s (Secure
/// Boot needs it; the older `gEfiVariableGuid` store cannot hold time-based variables).
const AUTHENTICATED_VARIABLE_GUID: Uuid = uuid::uuid!("aaf32c78-947b-439a-a180-2e144ec37792");
/// `VARIABLE_STORE_FORMATTED`.
const VARIABLE_STORE_FORMATTED: u8 = 0x5a;
/// `VARIABLE_STORE_HEALTHY`.
const VARIABLE_STORE_HEALTHY: u8 = 0xfe;
/// `sizeof (VARIABLE_STORE_HEADER)`: Signature, Size, Format, State, Reserved, Reserved1.
const VARIABLE_STORE_HEADER_SIZE: usize = 16 + 4 + 1 + 1 + 2 + 4;
/// `VARIABLE_DATA`: every variable header's StartId.
const VARIABLE_DATA: u16 = 0x55aa;
/// `VAR_ADDED`: the State of a variable in use.
const VAR_ADDED: u8 = 0x3f;
/// `VAR_IN_DELETED_TRANSITION`: ANDed into State while a newer copy is written; such a
/// variable is still the one in use until the newer copy is added.
const VAR_IN_DELETED_TRANSITION: u8 = 0xfe;
/// `sizeof (AUTHENTICATED_VARIABLE_HEADER)`: StartId, State, Reserved, Attributes,
/// MonotonicCount, TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid.
const AUTHENTICATED_VARIABLE_HEADER_SIZE: usize = 2 + 1 + 1 + 4 + 8 + 16 + 4 + 4 + 4 + 16;
/// `HEADER_ALIGNMENT`.
const HEADER_ALIGNMENT: usize = 4;
/// `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS` (UEFI 2.10, 8.2).
const TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x20;

/// The variables that hold Secure Boot's keys (UEFI 2.10, 32.6 "Firmware/OS Key Exchange"
/// and 32.5 "Image Signature Database"): a store written for Secure Boot replaces all of
/// them, so none of the template's keys (Debian's AAVMF template has Microsoft's) remain.
pub const SECURE_BOOT_KEYS: &[(&str, Uuid)] = &[
    ("PK", EFI_GLOBAL_VARIABLE),
    ("KEK", EFI_GLOBAL_VARIABLE),
    ("db", EFI_IMAGE_SECURITY_DATABASE_GUID),
    ("dbx", EFI_IMAGE_SECURITY_DATABASE_GUID),
    ("dbt", EFI_IMAGE_SECURITY_DATABASE_GUID),
    ("dbr", EFI_IMAGE_SECURITY_DATABASE_GUID),
];

/// Why a flash file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not an edk2 variable flash, or one that was never formatted.
    #[error("not a formatted edk2 variable store: {0}")]
    NotAStore(&'static str),
    /// A variable's header or lengths point outside the store.
    #[error("variable {index} of the store is damaged: {why}")]
    Damaged {
        /// Its position among the store's variables.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// The variables do not fit.
    #[error("the variables take {need} bytes; the store holds {room}")]
    TooBig {
        /// Bytes the variables need.
        need: usize,
        /// Bytes the store has for variables.
        room: usize,
    },
}

/// Where the variables of a flash file live: from `start` (after the store header) to
/// `end` (the store's end).
struct Region {
    start: usize,
    end: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks the firmware volume header and the variable store header, and finds the region.
fn region(flash: &[u8]) -> Result<Region, StoreError> {
    // EFI_FIRMWARE_VOLUME_HEADER: ZeroVector[16], FileSystemGuid @16, FvLength @32,
    // Signature @40, Attributes @44, HeaderLength @48, Checksum @50, ...
    if flash.len() < 0x48 || &flash[40..44] != EFI_FVH_SIGNATURE {
        return Err(StoreError::NotAStore("no firmware volume signature _FVH at byte 40"));
    }
    if Uuid::from_slice_le(&flash[16..32]).ok() != Some(EFI_SYSTEM_NV_DATA_FV_GUID) {
        return Err(StoreError::NotAStore("the firmware volume is not EFI_SYSTEM_NV_DATA_FV"));
    }
    let header_length = usize::from(u16_at(flash, 48));
    if header_length < 0x48 || header_length + VARIABLE_STORE_HEADER_SIZE > flash.len() {
        return Err(StoreError::NotAStore("impossible HeaderLength"));
    }
    let sum = (0..header_length).step_by(2).fold(0u16, |s, at| s.wrapping_add(u16_at(flash, at)));
    if sum != 0 {
        return Err(StoreError::NotAStore("the firmware volume header's checksum is wrong"));
    }
    let store = &flash[header_length..];
    if Uuid::from_slice_le(&store[..16]).ok() != Some(AUTHENTICATED_VARIABLE_GUID) {
        return Err(StoreError::NotAStore("not an authenticated variable store"));
    }
    if store[20] != VARIABLE_STORE_FORMATTED || store[21] != VARIABLE_STORE_HEALTHY {
        return Err(StoreError::NotAStore("the store is not formatted and healthy"));
    }
    let size = u32_at(store, 16) as usize;
    if size < VARIABLE_STORE_HEADER_SIZE || size > store.len() {
        return Err(StoreError::NotAStore("the store's Size passes the end of the file"));
    }
    Ok(Region { start: header_length + VARIABLE_STORE_HEADER_SIZE, end: header_length + size })
}

/// A variable of a store: its State, its content, and where its bytes are.
struct Stored {
    state: u8,
    variable: Variable,
    bytes: std::ops::Range<usize>,
}

/// Each variable of the region (deleted ones too), in order.
fn walk(flash: &[u8], region: &Region) -> Result<Vec<Stored>, StoreError> {
    let mut out = Vec::new();
    let mut at = region.start;
    while at + AUTHENTICATED_VARIABLE_HEADER_SIZE <= region.end && u16_at(flash, at) == VARIABLE_DATA {
        let damaged = |why| StoreError::Damaged { index: out.len(), why };
        let h = &flash[at..at + AUTHENTICATED_VARIABLE_HEADER_SIZE];
        let (name_size, data_size) = (u32_at(h, 36) as usize, u32_at(h, 40) as usize);
        let name_at = at + AUTHENTICATED_VARIABLE_HEADER_SIZE;
        let end = name_at.checked_add(name_size).and_then(|n| n.checked_add(data_size));
        let end = end.filter(|&e| e <= region.end).ok_or_else(|| damaged("its sizes pass the store's end"))?;
        if name_size % 2 != 0 || name_size < 2 {
            return Err(damaged("its NameSize is not a UTF-16 string with its NUL"));
        }
        let units: Vec<u16> = flash[name_at..name_at + name_size - 2].chunks(2).map(|c| u16_at(c, 0)).collect();
        let name = String::from_utf16(&units).map_err(|_| damaged("its name is not UTF-16"))?;
        let guid = Uuid::from_slice_le(&h[44..60]).map_err(|_| damaged("its VendorGuid"))?;
        let attributes = u32_at(h, 4);
        let time = crate::aws_uefi_data::seconds_of(&h[16..32]).unwrap_or(0);
        let data = flash[name_at + name_size..end].to_vec();
        let variable = Variable { name, guid, attributes, time, data };
        out.push(Stored { state: h[2], variable, bytes: at..end });
        at = end.next_multiple_of(HEADER_ALIGNMENT);
    }
    Ok(out)
}

/// Whether a variable with this State is the one in use.
fn live(state: u8) -> bool {
    state == VAR_ADDED || state == VAR_ADDED & VAR_IN_DELETED_TRANSITION
}

/// The variables in use in a flash file, in the store's order.
pub fn read(flash: &[u8]) -> Result<Vec<Variable>, StoreError> {
    let region = region(flash)?;
    Ok(walk(flash, &region)?.into_iter().filter(|s| live(s.state)).map(|s| s.variable).collect())
}

/// One variable as the store holds it: header, name, data (not padded).
fn encode(v: &Variable) -> Vec<u8> {
    let name: Vec<u8> = v.name.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
    let mut out = Vec::with_capacity(AUTHENTICATED_VARIABLE_HEADER_SIZE + name.len() + v.data.len());
    out.extend(VARIABLE_DATA.to_le_bytes());
    out.extend([VAR_ADDED, 0]);
    out.extend(v.attributes.to_le_bytes());
    out.extend(0u64.to_le_bytes()); // MonotonicCount
    let timed = v.attributes & TIME_BASED_AUTHENTICATED_WRITE_ACCESS != 0;
    out.extend(if timed { efi_time(v.time) } else { [0; 16] });
    out.extend(0u32.to_le_bytes()); // PubKeyIndex
    out.extend((name.len() as u32).to_le_bytes());
    out.extend((v.data.len() as u32).to_le_bytes());
    out.extend(v.guid.to_bytes_le());
    out.extend(name);
    out.extend(&v.data);
    out
}

/// A copy of `template` (a formatted store, e.g. the firmware's own) whose variables are
/// the template's in use (their bytes as they are), less those named in `remove` and
/// those `add` replaces, then `add`; deleted copies are left out. The firmware volume
/// header and the areas after the store are the template's.
pub fn replace(template: &[u8], remove: &[(&str, Uuid)], add: &[Variable]) -> Result<Vec<u8>, StoreError> {
    let region = region(template)?;
    let gone = |v: &Variable| {
        remove.iter().any(|(n, g)| *n == v.name && *g == v.guid)
            || add.iter().any(|a| a.name == v.name && a.guid == v.guid)
    };
    let mut body = Vec::new();
    for kept in walk(template, &region)?.into_iter().filter(|s| live(s.state) && !gone(&s.variable)) {
        let at = body.len();
        body.extend(&template[kept.bytes]);
        body[at + 2] = VAR_ADDED;
        body.resize(body.len().next_multiple_of(HEADER_ALIGNMENT), 0xff);
    }
    for v in add {
        body.extend(encode(v));
        body.resize(body.len().next_multiple_of(HEADER_ALIGNMENT), 0xff);
    }
    let room = region.end - region.start;
    if body.len() > room {
        return Err(StoreError::TooBig { need: body.len(), room });
    }
    let mut flash = template.to_vec();
    flash[region.start..region.end].fill(0xff);
    flash[region.start..region.start + body.len()].copy_from_slice(&body);
    Ok(flash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_uefi_data::{secure_boot, SECURE_BOOT_ATTRIBUTES};

    /// A blank formatted store of `size` bytes as OVMF's build writes one.
    fn blank(size: usize) -> Vec<u8> {
        let mut f = vec![0u8; size];
        f[16..32].copy_from_slice(&EFI_SYSTEM_NV_DATA_FV_GUID.to_bytes_le());
        f[32..40].copy_from_slice(&(size as u64).to_le_bytes());
        f[40..44].copy_from_slice(EFI_FVH_SIGNATURE);
        f[44..48].copy_from_slice(&0x0004_feffu32.to_le_bytes());
        f[48..50].copy_from_slice(&0x48u16.to_le_bytes());
        f[55] = 2;
        f[56..64].copy_from_slice(&[1, 0, 0, 0, 0, 0x10, 0, 0]);
        let sum = (0..0x48).step_by(2).fold(0u16, |s, at| s.wrapping_add(u16_at(&f, at)));
        f[50..52].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        f[0x48..0x58].copy_from_slice(&AUTHENTICATED_VARIABLE_GUID.to_bytes_le());
        f[0x58..0x5c].copy_from_slice(&((size - 0x48) as u32).to_le_bytes());
        f[0x5c..0x60].copy_from_slice(&[VARIABLE_STORE_FORMATTED, VARIABLE_STORE_HEALTHY, 0, 0]);
        f[0x64..].fill(0xff);
        f
    }

    #[test]
    fn replaced_keys_read_back_and_other_variables_stay() {
        let other =
            Variable { name: "Timeout".into(), guid: EFI_GLOBAL_VARIABLE, attributes: 7, time: 0, data: vec![5, 0] };
        let old = secure_boot(vec![9; 33], vec![9; 34], vec![9; 35], Some(vec![9; 36]), 0);
        let template = replace(&blank(0x10000), &[], &[vec![other.clone()], old].concat()).unwrap();
        let new = secure_boot(vec![1; 41], vec![2; 42], vec![3; 43], None, 1_700_000_000);
        let flash = replace(&template, SECURE_BOOT_KEYS, &new).unwrap();
        assert_eq!(flash.len(), 0x10000);
        assert_eq!(read(&flash).unwrap(), [vec![other], new.clone()].concat(), "the old dbx is gone too");
        assert_eq!(new[0].attributes, SECURE_BOOT_ATTRIBUTES);
        // Timeout: header 60, name 16, data 2 = 78 bytes, so PK starts at 80 (4-aligned).
        assert_eq!(u16_at(&flash, 0x64 + 80), VARIABLE_DATA);
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        assert!(matches!(read(&[0u8; 4096]), Err(StoreError::NotAStore(_))));
        let mut f = blank(0x1000);
        f[50] ^= 1;
        assert!(matches!(read(&f), Err(StoreError::NotAStore(m)) if m.contains("checksum")));
        let mut f = replace(&blank(0x1000), &[], &secure_boot(vec![1], vec![2], vec![3], None, 0)).unwrap();
        f[0x64 + 40..0x64 + 44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read(&f), Err(StoreError::Damaged { index: 0, .. })));
        let big = secure_boot(vec![0; 0x1000], vec![], vec![], None, 0);
        assert!(matches!(replace(&blank(0x1000), &[], &big), Err(StoreError::TooBig { .. })));
    }
}
