//! EC2's UEFI variable store: the `UefiData` of RegisterImage, which EC2 gives an
//! instance's firmware as its initial variables (with Secure Boot: PK, KEK, db, dbx).
//!
//! The format is the one AWS's python-uefivars writes with `-o aws` (`pyuefivars/aws.py`,
//! `AWSUEFIVarStore.__bytes__`; `aws_file.py` for the fields; version 1.2):
//!
//! ```text
//! "AMZNUEFI" | CRC-32C (u32 LE) of what follows | version 0 (u32 LE) | zlib stream
//! zlib stream (level 9, preset dictionary `UEFIVarStoreV0.dict` of aws_v0.py) of:
//!   count (u64 LE), then per variable:
//!   name length (u64 LE), name (UTF-8) | data length (u64 LE), data | vendor GUID (EFI_GUID
//!   byte order) | attributes (u32 LE) | with TIME_BASED_AUTHENTICATED_WRITE_ACCESS:
//!   EFI_TIME (16 bytes), digest length (u64 LE), digest (32 zero bytes: none)
//! ```
//!
//! then base64 (standard alphabet, padded, one line). The dictionary (`aws_uefi_data.dict`,
//! 11,381 bytes, Adler-32 0x6bb7d9f7) is python-uefivars' (MIT License, Copyright
//! Amazon.com, Inc.), so the stream's header names it as EC2's own exports do.

use base64::Engine as _;
use flate2::{Compress, Compression, FlushCompress};
use uuid::Uuid;

/// The store's magic.
const MAGIC: &[u8; 8] = b"AMZNUEFI";
/// The only version there is.
const VERSION: u32 = 0;
/// The zlib preset dictionary of version 0.
const DICTIONARY: &[u8] = include_bytes!("aws_uefi_data.dict");

/// `EFI_GLOBAL_VARIABLE`: PK and KEK.
pub const EFI_GLOBAL_VARIABLE: Uuid = uuid::uuid!("8be4df61-93ca-11d2-aa0d-00e098032b8c");
/// `EFI_IMAGE_SECURITY_DATABASE_GUID`: db and dbx.
pub const EFI_IMAGE_SECURITY_DATABASE_GUID: Uuid = uuid::uuid!("d719b2cb-3d3a-4596-a3bc-dad00e67656f");
/// NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS
/// (UEFI 2.10, 8.2 "Variable Services"): what the Secure Boot variables carry.
pub const SECURE_BOOT_ATTRIBUTES: u32 = 0x1 | 0x2 | 0x4 | TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
const TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x20;

/// One variable of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name (`PK`, `db`, …).
    pub name: String,
    /// Its vendor GUID.
    pub guid: Uuid,
    /// Its attributes.
    pub attributes: u32,
    /// Its time (seconds since 1970, UTC) when it is time-based authenticated.
    pub time: i64,
    /// Its content (for the Secure Boot variables: EFI signature lists).
    pub data: Vec<u8>,
}

/// `EFI_TIME` (UEFI 2.10, 8.3 "Time Services") of `seconds` since 1970, UTC: Year (u16),
/// Month, Day, Hour, Minute, Second, Pad1, Nanosecond (u32), TimeZone (i16, 0), Daylight,
/// Pad2.
pub fn efi_time(seconds: i64) -> [u8; 16] {
    let (year, month, day) = ingot_types::calendar::civil_date(seconds);
    let rest = seconds.rem_euclid(86_400);
    let mut t = [0u8; 16];
    t[..2].copy_from_slice(&(year.clamp(1900, 9999) as u16).to_le_bytes());
    t[2..7].copy_from_slice(&[month, day, (rest / 3600) as u8, (rest / 60 % 60) as u8, (rest % 60) as u8]);
    t
}

/// The records of `variables`, uncompressed.
fn records(variables: &[Variable]) -> Vec<u8> {
    let mut out = (variables.len() as u64).to_le_bytes().to_vec();
    for v in variables {
        out.extend((v.name.len() as u64).to_le_bytes());
        out.extend(v.name.as_bytes());
        out.extend((v.data.len() as u64).to_le_bytes());
        out.extend(&v.data);
        out.extend(v.guid.to_bytes_le());
        out.extend(v.attributes.to_le_bytes());
        if v.attributes & TIME_BASED_AUTHENTICATED_WRITE_ACCESS != 0 {
            out.extend(efi_time(v.time));
            out.extend(32u64.to_le_bytes());
            out.extend([0u8; 32]);
        }
    }
    out
}

/// The store holding `variables`, in base64 as RegisterImage takes it (EC2 takes at most
/// 64,000 characters: `ingot_aws::UEFI_DATA_MAX_CHARS`, checked with the AMI's other fields).
pub fn encode(variables: &[Variable]) -> Result<String, flate2::CompressError> {
    let payload = records(variables);
    let mut z = Compress::new(Compression::best(), true);
    // zlib-rs (flate2's backend here) writes the dictionary's id into the stream header.
    z.set_dictionary(DICTIONARY)?;
    let mut stream = Vec::new();
    loop {
        stream.reserve(payload.len() / 2 + 4096);
        let rest = &payload[z.total_in() as usize..];
        if z.compress_vec(rest, &mut stream, FlushCompress::Finish)? == flate2::Status::StreamEnd {
            break;
        }
    }
    let mut body = VERSION.to_le_bytes().to_vec();
    body.extend(stream);
    let mut blob = MAGIC.to_vec();
    blob.extend(crc32c::crc32c(&body).to_le_bytes());
    blob.extend(body);
    Ok(base64::engine::general_purpose::STANDARD.encode(blob))
}

/// Why a store's text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not base64.
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The magic, the CRC-32C or the version is not the store's.
    #[error("not an EC2 UEFI variable store ({0})")]
    Header(&'static str),
    /// The zlib stream is damaged.
    #[error("its zlib stream is damaged: {0}")]
    Stream(String),
    /// The records end early or hold impossible lengths.
    #[error("its variable records are damaged ({0})")]
    Records(&'static str),
}

/// The most bytes a store's records may inflate to: EC2 takes at most 64,000 characters of
/// base64 (48,000 bytes), and signature lists barely compress; 16 MiB leaves room for any
/// real store and stops a zlib bomb.
const MAX_RECORDS: usize = 16 << 20;

/// The variables of a store's text (what [`encode`] writes, and python-uefivars `-o aws`).
///
/// ```
/// use ingot_boot::aws_uefi_data::{decode, encode, secure_boot};
/// let vars = secure_boot(vec![1; 40], vec![2; 40], vec![3; 40], None, 1_700_000_000);
/// assert_eq!(decode(&encode(&vars).unwrap()).unwrap(), vars);
/// ```
pub fn decode(text: &str) -> Result<Vec<Variable>, DecodeError> {
    let blob = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
    if blob.len() < 16 || &blob[..8] != MAGIC {
        return Err(DecodeError::Header("no AMZNUEFI magic"));
    }
    if blob[8..12] != crc32c::crc32c(&blob[12..]).to_le_bytes() {
        return Err(DecodeError::Header("CRC-32C mismatch"));
    }
    if blob[12..16] != VERSION.to_le_bytes() {
        return Err(DecodeError::Header("unknown version"));
    }
    parse_records(&inflate(&blob[16..])?)
}

/// The zlib stream's content, with the dictionary it names.
fn inflate(stream: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let damaged = |e: flate2::DecompressError| DecodeError::Stream(e.to_string());
    let mut z = flate2::Decompress::new(true);
    let mut out = Vec::new();
    loop {
        out.reserve(64 * 1024);
        let rest = &stream[(z.total_in() as usize).min(stream.len())..];
        let status = match z.decompress_vec(rest, &mut out, flate2::FlushDecompress::Finish) {
            Err(e) if e.needs_dictionary().is_some() => {
                z.set_dictionary(DICTIONARY).map_err(damaged)?;
                continue;
            }
            status => status.map_err(damaged)?,
        };
        if out.len() > MAX_RECORDS {
            return Err(DecodeError::Stream(format!("inflates to more than {MAX_RECORDS} bytes")));
        }
        match status {
            flate2::Status::StreamEnd => return Ok(out),
            _ if rest.is_empty() && out.len() < out.capacity() => {
                return Err(DecodeError::Stream("it ends early".into()))
            }
            _ => {}
        }
    }
}

/// The variables of the uncompressed records (the inverse of [`records`]).
fn parse_records(mut b: &[u8]) -> Result<Vec<Variable>, DecodeError> {
    fn take<'a>(b: &mut &'a [u8], n: u64) -> Result<&'a [u8], DecodeError> {
        let n =
            usize::try_from(n).ok().filter(|&n| n <= b.len()).ok_or(DecodeError::Records("a length past the end"))?;
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn u64_of(b: &mut &[u8]) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(take(b, 8)?.try_into().unwrap_or_default()))
    }
    let count = u64_of(&mut b)?;
    let mut variables = Vec::new();
    for _ in 0..count {
        let n = u64_of(&mut b)?;
        let name =
            String::from_utf8(take(&mut b, n)?.to_vec()).map_err(|_| DecodeError::Records("a name not UTF-8"))?;
        let n = u64_of(&mut b)?;
        let data = take(&mut b, n)?.to_vec();
        let guid = Uuid::from_slice_le(take(&mut b, 16)?).map_err(|_| DecodeError::Records("a GUID"))?;
        let attributes = u32::from_le_bytes(take(&mut b, 4)?.try_into().unwrap_or_default());
        let mut time = 0;
        if attributes & TIME_BASED_AUTHENTICATED_WRITE_ACCESS != 0 {
            time = seconds_of(take(&mut b, 16)?).ok_or(DecodeError::Records("an impossible EFI_TIME"))?;
            let n = u64_of(&mut b)?;
            take(&mut b, n)?;
        }
        variables.push(Variable { name, guid, attributes, time, data });
    }
    if !b.is_empty() {
        return Err(DecodeError::Records("bytes after the last variable"));
    }
    Ok(variables)
}

/// The seconds since 1970 of an `EFI_TIME` (the inverse of [`efi_time`]).
pub(crate) fn seconds_of(t: &[u8]) -> Option<i64> {
    let year = i64::from(u16::from_le_bytes([t[0], t[1]]));
    let (month, day, hour, minute, second) = (t[2], t[3], t[4], t[5], t[6]);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = ingot_types::calendar::days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
}

/// The Secure Boot store: PK, KEK, db and (when given) dbx, each a series of EFI
/// signature lists, time-based authenticated at `time`, in python-uefivars' order.
pub fn secure_boot(pk: Vec<u8>, kek: Vec<u8>, db: Vec<u8>, dbx: Option<Vec<u8>>, time: i64) -> Vec<Variable> {
    let var =
        |name: &str, guid, data| Variable { name: name.into(), guid, attributes: SECURE_BOOT_ATTRIBUTES, time, data };
    let mut vars = vec![
        var("PK", EFI_GLOBAL_VARIABLE, pk),
        var("KEK", EFI_GLOBAL_VARIABLE, kek),
        var("db", EFI_IMAGE_SECURITY_DATABASE_GUID, db),
    ];
    vars.extend(dbx.map(|d| var("dbx", EFI_IMAGE_SECURITY_DATABASE_GUID, d)));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efi_time_is_the_calendar_date() {
        // 2023-11-14 22:13:20 UTC
        assert_eq!(&efi_time(1_700_000_000)[..7], &[0xe7, 0x07, 11, 14, 22, 13, 20]);
        assert_eq!(&efi_time(0)[..7], &[0xb2, 0x07, 1, 1, 0, 0, 0]);
        assert_eq!(&efi_time(951_782_400)[..4], &[0xd0, 0x07, 2, 29], "2000-02-29");
    }

    #[test]
    fn the_blob_has_the_magic_the_crc_and_a_stream_that_names_the_dictionary() {
        let text = encode(&secure_boot(vec![1; 50], vec![2; 60], vec![3; 70], None, 1_700_000_000)).unwrap();
        let blob = base64::engine::general_purpose::STANDARD.decode(&text).unwrap();
        assert_eq!(&blob[..8], b"AMZNUEFI");
        assert_eq!(blob[8..12], crc32c::crc32c(&blob[12..]).to_le_bytes());
        assert_eq!(&blob[12..16], &[0; 4]);
        assert_eq!(&blob[16..22], &[0x78, 0xf9, 0x6b, 0xb7, 0xd9, 0xf7], "FDICT and the dictionary's Adler-32");
        let mut z = flate2::Decompress::new(true);
        let mut out = Vec::with_capacity(4096);
        assert!(
            z.decompress_vec(&blob[16..], &mut out, flate2::FlushDecompress::Finish).is_err(),
            "needs the dictionary"
        );
        z.set_dictionary(DICTIONARY).unwrap();
        z.decompress_vec(&blob[16 + z.total_in() as usize..], &mut out, flate2::FlushDecompress::Finish).unwrap();
        assert_eq!(out, records(&secure_boot(vec![1; 50], vec![2; 60], vec![3; 70], None, 1_700_000_000)));
    }
}
