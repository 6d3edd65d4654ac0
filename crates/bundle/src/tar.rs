//! The bundle's tar stream: one member in the old GNU sparse format, as GNU tar writes
//! for `tar -c -h -S --owner 0 --group 0` (type `S`, the sparse map in the header and in
//! extension headers, only the data regions stored), owner and group 0 named `root`, the
//! file's mode and mtime, the archive padded to whole 10,240-byte records.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Tar's block size.
pub const BLOCK: usize = 512;
/// GNU tar's default record size (20 blocks): the archive is padded to a multiple of it.
pub const RECORD: u64 = 10_240;

/// The data regions `(offset, len)` of `file`, aligned to 512 bytes, in order, and a
/// final empty region at the end of the file (as GNU tar records it).
pub fn sparse_map(file: &File, size: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut map: Vec<(u64, u64)> = Vec::new();
    for (start, end) in ingot_disk::data_ranges(file, size)? {
        let s = start / BLOCK as u64 * BLOCK as u64;
        let e = end.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64).min(size);
        match map.last_mut() {
            Some(last) if s <= last.0 + last.1 => last.1 = e.max(last.0 + last.1) - last.0,
            _ => map.push((s, e - s)),
        }
    }
    // GNU tar always ends the map with an empty region at the end of the file.
    map.push((size, 0));
    Ok(map)
}

/// Writes `value` as zero-padded octal in `field`, leaving the last byte NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// A numeric field that may exceed its octal width: GNU's base-256 form for large values.
fn number(field: &mut [u8], value: u64) {
    if value < 1u64 << (3 * (field.len() - 1)) {
        octal(field, value);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        field[n - 8..].copy_from_slice(&value.to_be_bytes());
    }
}

/// The header block(s) of the member: the main header with up to 4 sparse entries, then
/// extension headers of 21 entries each.
pub fn headers(name: &str, size: u64, mtime: u64, mode: u32, map: &[(u64, u64)]) -> Vec<u8> {
    let stored: u64 = map.iter().map(|r| r.1).sum();
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    number(&mut h[124..136], stored);
    number(&mut h[136..148], mtime);
    h[156] = b'S';
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    for (i, &(off, len)) in map.iter().take(4).enumerate() {
        let at = 386 + i * 24;
        number(&mut h[at..at + 12], off);
        number(&mut h[at + 12..at + 24], len);
    }
    h[482] = u8::from(map.len() > 4);
    number(&mut h[483..495], size);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = h.to_vec();
    let rest = &map[map.len().min(4)..];
    for (c, chunk) in rest.chunks(21).enumerate() {
        let mut e = [0u8; BLOCK];
        for (i, &(off, len)) in chunk.iter().enumerate() {
            number(&mut e[i * 24..i * 24 + 12], off);
            number(&mut e[i * 24 + 12..i * 24 + 24], len);
        }
        e[504] = u8::from((c + 1) * 21 < rest.len());
        out.extend_from_slice(&e);
    }
    out
}

/// Writes the whole archive for `file` (named `name`) to `out`: headers, data regions,
/// padding to 512, two zero blocks, padding to the record size. Returns its length.
pub fn write(file: &File, name: &str, size: u64, mtime: u64, out: &mut impl Write) -> io::Result<u64> {
    let map = sparse_map(file, size)?;
    let mode = std::os::unix::fs::PermissionsExt::mode(&file.metadata()?.permissions()) & 0o7777;
    let head = headers(name, size, mtime, mode, &map);
    out.write_all(&head)?;
    let mut written = head.len() as u64;
    let mut buf = vec![0u8; 1 << 20];
    for &(off, len) in &map {
        let mut pos = 0;
        while pos < len {
            let n = (len - pos).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], off + pos)?;
            out.write_all(&buf[..n])?;
            pos += n as u64;
        }
        written += len;
    }
    let end = written.div_ceil(BLOCK as u64) * BLOCK as u64 + 2 * BLOCK as u64;
    let end = end.div_ceil(RECORD) * RECORD;
    let zeros = vec![0u8; (end - written) as usize];
    out.write_all(&zeros)?;
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_past_octal_use_base_256() {
        let mut f = [0u8; 12];
        number(&mut f, 0o777);
        assert_eq!(&f, b"00000000777\0");
        number(&mut f, 9 << 30);
        assert_eq!(f[0], 0x80);
        assert_eq!(u64::from_be_bytes(f[4..].try_into().unwrap()), 9 << 30);
    }

    #[test]
    fn long_sparse_maps_go_to_extension_headers() {
        let map: Vec<(u64, u64)> = (0..30).map(|i| (i * 8192, 512)).collect();
        let h = headers("x", 30 * 8192, 0, 0o644, &map);
        assert_eq!(h.len(), 3 * 512, "4 in the header, 21 + 5 in two extensions");
        assert_eq!(h[482], 1);
        assert_eq!(h[512 + 504], 1);
        assert_eq!(h[1024 + 504], 0);
    }
}
