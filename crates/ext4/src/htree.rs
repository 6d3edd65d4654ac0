//! Hash-indexed directories (dir_index): `struct dx_root` in the first block, `struct
//! dx_node` interior blocks for a second level, leaves of ordinary directory entries in
//! hash order, and `struct dx_tail` checksums. Names are hashed with half-MD4 over
//! signed chars (the superblock's signed_directory_hash flag) and the filesystem's seed.

use crate::crc::crc32c;
use crate::dir_entry::{self, file_type, Entry};

const DX_HASH_HALF_MD4: u8 = 1;

/// Half-MD4 hash of a name, as `ext2fs_dirhash` computes it for DX_HASH_HALF_MD4 with
/// signed chars: the major hash with its low bit cleared.
pub(crate) fn half_md4(name: &[u8], seed: &[u8; 16]) -> u32 {
    let mut buf = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let words: Vec<u32> = seed.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if words.iter().any(|&w| w != 0) {
        buf.copy_from_slice(&words);
    }
    let mut rest = name;
    while !rest.is_empty() {
        let input = str2hashbuf(rest, 8);
        half_md4_transform(&mut buf, &input);
        rest = &rest[rest.len().min(32)..];
    }
    let hash = buf[1] & !1;
    if hash == 0x7FFF_FFFF << 1 {
        (0x7FFF_FFFF - 1) << 1
    } else {
        hash
    }
}

fn str2hashbuf(msg: &[u8], num: usize) -> [u32; 8] {
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut out = [pad; 8];
    let mut val = pad;
    let mut k = 0;
    let n = msg.len().min(num * 4);
    for (i, &c) in msg[..n].iter().enumerate() {
        if i % 4 == 0 {
            val = pad;
        }
        val = (c as i8 as i32 as u32).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[k] = val;
            k += 1;
            val = pad;
        }
    }
    if k < num {
        out[k] = val;
    }
    out
}

fn half_md4_transform(buf: &mut [u32; 4], x: &[u32; 8]) {
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let (mut a, mut b, mut c, mut d) = (buf[0], buf[1], buf[2], buf[3]);
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x);
            $a = $a.rotate_left($s);
        };
    }
    round!(f, a, b, c, d, x[0], 3);
    round!(f, d, a, b, c, x[1], 7);
    round!(f, c, d, a, b, x[2], 11);
    round!(f, b, c, d, a, x[3], 19);
    round!(f, a, b, c, d, x[4], 3);
    round!(f, d, a, b, c, x[5], 7);
    round!(f, c, d, a, b, x[6], 11);
    round!(f, b, c, d, a, x[7], 19);
    round!(g, a, b, c, d, x[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, x[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, x[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, x[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, x[6].wrapping_add(K2), 13);
    round!(h, a, b, c, d, x[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, x[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, x[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, x[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, x[4].wrapping_add(K3), 15);
    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// The blocks of an indexed directory, in logical order: the root, interior nodes (for
/// a two-level tree), then the leaves. `entries` excludes "." and "..".
pub(crate) fn blocks(
    me: u32,
    parent: u32,
    entries: &[Entry<'_>],
    block_size: usize,
    hash_seed: &[u8; 16],
    csum: u32,
) -> Result<Vec<Vec<u8>>, String> {
    let mut hashed: Vec<(u32, Entry<'_>)> = entries.iter().map(|e| (half_md4(e.name, hash_seed), *e)).collect();
    hashed.sort_by(|a, b| (a.0, a.1.name).cmp(&(b.0, b.1.name)));
    // Leaves: entries packed in hash order; a leaf's index key is its first hash, with the
    // low "collision" bit set when the previous leaf ends with the same hash.
    let mut leaves: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    let mut start = 0;
    let lens: Vec<usize> = hashed.iter().map(|(_, e)| e.name.len()).collect();
    for block in dir_entry::pack_ranges(&lens, block_size) {
        let group: Vec<Entry<'_>> = hashed[block.clone()].iter().map(|(_, e)| *e).collect();
        let mut key = hashed[block.start].0;
        if start > 0 && hashed[block.start - 1].0 == key {
            key |= 1;
        }
        leaves.push((key, dir_entry::blocks(&group, block_size, csum, 1)));
        start = block.end;
    }
    let root_limit = (block_size - 32 - 8) / 8;
    let node_limit = (block_size - 8 - 8) / 8;
    let keys: Vec<u32> = leaves.iter().map(|l| l.0).collect();
    let mut out = Vec::new();
    if keys.len() <= root_limit {
        let targets: Vec<(u32, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, 1 + i as u32)).collect();
        out.push(root(me, parent, block_size, 0, &targets, csum));
    } else {
        let nodes: Vec<&[u32]> = keys.chunks(node_limit).collect();
        if nodes.len() > root_limit {
            return Err(format!(
                "{} entries need a three-level hash tree (large_dir), which ingot does not write",
                entries.len()
            ));
        }
        let first_leaf = 1 + nodes.len() as u32;
        let targets: Vec<(u32, u32)> = nodes.iter().enumerate().map(|(i, n)| (n[0], 1 + i as u32)).collect();
        out.push(root(me, parent, block_size, 1, &targets, csum));
        for (i, n) in nodes.iter().enumerate() {
            let base = first_leaf + (i * node_limit) as u32;
            let t: Vec<(u32, u32)> = n.iter().enumerate().map(|(j, &k)| (k, base + j as u32)).collect();
            out.push(node(block_size, &t, csum));
        }
    }
    out.extend(leaves.into_iter().flat_map(|(_, b)| b));
    Ok(out)
}

fn root(me: u32, parent: u32, block_size: usize, levels: u8, targets: &[(u32, u32)], csum: u32) -> Vec<u8> {
    let mut b = vec![0u8; block_size];
    b[0..4].copy_from_slice(&me.to_le_bytes());
    b[4..6].copy_from_slice(&12u16.to_le_bytes());
    b[6] = 1;
    b[7] = file_type::DIR;
    b[8] = b'.';
    b[12..16].copy_from_slice(&parent.to_le_bytes());
    b[16..18].copy_from_slice(&((block_size - 12) as u16).to_le_bytes());
    b[18] = 2;
    b[19] = file_type::DIR;
    b[20..22].copy_from_slice(b"..");
    b[24 + 4] = DX_HASH_HALF_MD4; // dx_root_info: reserved_zero, hash_version,
    b[24 + 5] = 8; // info_length,
    b[24 + 6] = levels; // indirect_levels
    entries(&mut b, 32, (block_size - 32 - 8) / 8, targets, csum);
    b
}

fn node(block_size: usize, targets: &[(u32, u32)], csum: u32) -> Vec<u8> {
    let mut b = vec![0u8; block_size];
    b[4..6].copy_from_slice(&(block_size as u16).to_le_bytes()); // fake empty dirent
    entries(&mut b, 8, (block_size - 8 - 8) / 8, targets, csum);
    b
}

/// dx_countlimit and dx_entry array at `at`, then the dx_tail checksum.
fn entries(b: &mut [u8], at: usize, limit: usize, targets: &[(u32, u32)], csum: u32) {
    b[at..at + 2].copy_from_slice(&(limit as u16).to_le_bytes());
    b[at + 2..at + 4].copy_from_slice(&(targets.len() as u16).to_le_bytes());
    for (i, &(hash, block)) in targets.iter().enumerate() {
        let e = at + 8 * i;
        if i > 0 {
            b[e..e + 4].copy_from_slice(&hash.to_le_bytes());
        }
        b[e + 4..e + 8].copy_from_slice(&block.to_le_bytes());
    }
    let size = at + 8 * targets.len();
    let tail = at + 8 * limit;
    let c = crc32c(crc32c(csum, &b[..size]), &[b[tail], b[tail + 1], b[tail + 2], b[tail + 3], 0, 0, 0, 0]);
    b[tail + 4..tail + 8].copy_from_slice(&c.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_md4_matches_e2fsprogs() {
        // debugfs -R "dx_hash -h half_md4 [-s 00000000-0000-0000-0000-000000000008] NAME"
        let zero = [0u8; 16];
        let mut seed = [0u8; 16];
        seed[15] = 8;
        let long = "a-much-longer-file-name-that-spans-more-than-thirty-two-bytes.txt".as_bytes();
        for (name, plain, seeded) in [
            (&b"hello"[..], 0x1746da32u32, 0x440d3be8u32),
            (long, 0x1f2c2f5e, 0xa2d068cc),
            ("Ünïcödé".as_bytes(), 0x8a63ea04, 0x120291e4),
        ] {
            assert_eq!(half_md4(name, &zero), plain & !1, "{:?}", String::from_utf8_lossy(name));
            assert_eq!(half_md4(name, &seed), seeded & !1, "{:?} seeded", String::from_utf8_lossy(name));
        }
    }
}
