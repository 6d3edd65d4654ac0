//! dm-verity's hash device, as cryptsetup's `veritysetup format` writes it and the kernel's
//! dm-verity target reads it:
//!
//! - the superblock (cryptsetup, "DMVerity" wiki, *Verity superblock format*; lib/verity/
//!   verity.c `struct verity_sb`): 512 bytes at the start of the hash device, little
//!   endian, padded to one hash block;
//! - the hash tree (Linux, Documentation/admin-guide/device-mapper/verity.rst, *Hash
//!   tree*): each data block hashed as SHA-256(salt ‖ block) (format version 1, "salt
//!   prepended"), the digests packed 128 to a 4 KiB hash block and the rest of the block
//!   zero; each level hashed the same way into the level above until one block is left,
//!   whose hash is the root hash. Levels are stored top first: the level nearest the root
//!   right after the superblock, the level over the data last (cryptsetup, lib/verity/
//!   verity_hash.c `hash_levels`).
//!
//! One pass over the data, a chunk at a time on every core: an all-zero block's digest
//! is computed once and reused, and a chunk the caller knows to be a hole is not read.
//!
//! ```
//! let data = vec![0u8; 3 * 4096];
//! let tree = ingot_verity::hash_tree(&mut &data[..], 3, &[7; 32], uuid::Uuid::nil())?;
//! assert_eq!(tree.area.len() as u64, ingot_verity::hash_size(3));
//! assert_eq!(&tree.area[..8], b"verity\0\0");
//! # Ok::<(), std::io::Error>(())
//! ```

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use uuid::Uuid;

/// Bytes of a data block and of a hash block: 4 KiB, the page size the kernel reads
/// with, and `veritysetup format`'s default.
pub const BLOCK_SIZE: usize = 4096;
/// Data blocks [`hash_tree_from`] reads at a time: 1 MiB.
pub const CHUNK_BLOCKS: u64 = 256;
/// SHA-256's digest size.
const DIGEST_SIZE: usize = 32;
/// Digests in one hash block.
const HASHES_PER_BLOCK: u64 = (BLOCK_SIZE / DIGEST_SIZE) as u64;
/// The superblock's `signature`.
pub const SIGNATURE: &[u8; 8] = b"verity\0\0";
/// The superblock's `version`.
const SUPERBLOCK_VERSION: u32 = 1;
/// `hash_type` 1: the normal format (0 is Chrome OS's, which appends the salt).
const HASH_TYPE_NORMAL: u32 = 1;
/// The superblock's size; the tree starts at the next hash block.
const SUPERBLOCK_SIZE: usize = 512;
/// The salt field's size in the superblock.
const SALT_MAX: usize = 256;
/// The algorithm field's size in the superblock.
const ALGORITHM_MAX: usize = 32;

/// The verity superblock (`struct verity_sb`), as ingot writes it or finds it on a disk
/// another tool made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// `hash_type`: 1 (salt prepended), 0 (Chrome OS: salt appended).
    pub hash_type: u32,
    /// `uuid`: the hash device's UUID.
    pub uuid: Uuid,
    /// `algorithm`: the hash's name as the kernel's crypto API knows it (`sha256`).
    pub algorithm: String,
    /// `data_block_size` in bytes.
    pub data_block_size: u32,
    /// `hash_block_size` in bytes.
    pub hash_block_size: u32,
    /// `data_blocks`: data blocks the tree covers.
    pub data_blocks: u64,
    /// `salt` (`salt_size` bytes).
    pub salt: Vec<u8>,
}

impl Superblock {
    /// The superblock ingot writes: hash type 1, SHA-256, 4 KiB data and hash blocks.
    pub fn sha256(uuid: Uuid, data_blocks: u64, salt: &[u8]) -> Superblock {
        Superblock {
            hash_type: HASH_TYPE_NORMAL,
            uuid,
            algorithm: "sha256".into(),
            data_block_size: BLOCK_SIZE as u32,
            hash_block_size: BLOCK_SIZE as u32,
            data_blocks,
            salt: salt[..salt.len().min(SALT_MAX)].to_vec(),
        }
    }

    /// The 512 bytes: signature, version 1, hash type, uuid, algorithm, data and hash
    /// block sizes, data blocks, salt size and salt.
    pub fn to_bytes(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[0..8].copy_from_slice(SIGNATURE);
        b[8..12].copy_from_slice(&SUPERBLOCK_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.hash_type.to_le_bytes());
        b[16..32].copy_from_slice(self.uuid.as_bytes());
        let algorithm = &self.algorithm.as_bytes()[..self.algorithm.len().min(ALGORITHM_MAX)];
        b[32..32 + algorithm.len()].copy_from_slice(algorithm);
        b[64..68].copy_from_slice(&self.data_block_size.to_le_bytes());
        b[68..72].copy_from_slice(&self.hash_block_size.to_le_bytes());
        b[72..80].copy_from_slice(&self.data_blocks.to_le_bytes());
        let salt = &self.salt[..self.salt.len().min(SALT_MAX)];
        b[80..82].copy_from_slice(&(salt.len() as u16).to_le_bytes());
        b[88..88 + salt.len()].copy_from_slice(salt);
        b
    }

    /// The superblock at the start of `bytes`, if its signature and version are
    /// verity's; a salt size past the field is cut to it.
    pub fn parse(bytes: &[u8]) -> Option<Superblock> {
        let b = bytes.get(..SUPERBLOCK_SIZE)?;
        let u32_at = |at: usize| b[at..at + 4].try_into().ok().map(u32::from_le_bytes);
        if &b[0..8] != SIGNATURE || u32_at(8)? != SUPERBLOCK_VERSION {
            return None;
        }
        let algorithm = &b[32..32 + ALGORITHM_MAX];
        let name_len = algorithm.iter().position(|&c| c == 0).unwrap_or(ALGORITHM_MAX);
        let salt_len = usize::from(u16::from_le_bytes([b[80], b[81]])).min(SALT_MAX);
        Some(Superblock {
            hash_type: u32_at(12)?,
            uuid: Uuid::from_slice(&b[16..32]).ok()?,
            algorithm: String::from_utf8_lossy(&algorithm[..name_len]).into_owned(),
            data_block_size: u32_at(64)?,
            hash_block_size: u32_at(68)?,
            data_blocks: u64::from_le_bytes(b[72..80].try_into().ok()?),
            salt: b[88..88 + salt_len].to_vec(),
        })
    }
}

/// Blocks of each level of the tree over `data_blocks` blocks, from the level over the
/// data (index 0) up to the one-block level under the root; empty for one data block
/// (the root hash is then the block's own).
fn level_sizes(data_blocks: u64) -> Vec<u64> {
    let mut sizes = Vec::new();
    let mut n = data_blocks;
    while n > 1 {
        n = n.div_ceil(HASHES_PER_BLOCK);
        sizes.push(n);
    }
    sizes
}

/// The hash device's size for `data_blocks` data blocks: the superblock's block and the
/// tree.
pub fn hash_size(data_blocks: u64) -> u64 {
    (1 + level_sizes(data_blocks).iter().sum::<u64>()) * BLOCK_SIZE as u64
}

/// A hash device: its bytes and the root hash.
#[derive(Clone, Debug)]
pub struct HashTree {
    /// The root hash.
    pub root: [u8; 32],
    /// The hash device from its first byte: the superblock's block, then the levels, top
    /// first ([`hash_size`] bytes).
    pub area: Vec<u8>,
}

/// The PARTUUIDs of a pair with root hash `root`, as systemd-repart gives them
/// (repart.d(5), `Verity=`): the data partition's is the root hash's first 128 bits, the
/// hash partition's its last 128 bits, so that a root hash names its partitions.
///
/// ```
/// let (data, hash) = ingot_verity::partition_uuids(&[0xab; 32]);
/// assert_eq!(data.to_string(), "abababab-abab-abab-abab-abababababab");
/// assert_eq!(data, hash);
/// ```
pub fn partition_uuids(root: &[u8; 32]) -> (Uuid, Uuid) {
    let half = |at: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&root[at..at + 16]);
        Uuid::from_bytes(b)
    };
    (half(0), half(16))
}

/// Where a hash device stops agreeing with its data, found by [`first_mismatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Data block `n`'s digest is not the one the tree stores.
    DataBlock(u64),
    /// The digests of the data agree, but hash block `n` of the device (counted from
    /// the superblock's, 0) does not.
    HashBlock(u64),
}

/// The first place where `stored` (a hash device) differs from `computed` (the tree made
/// again from the data with the stored salt): the data's own level first, block by
/// block, then the device's other blocks; `None` when they are equal.
pub fn first_mismatch(stored: &[u8], computed: &HashTree, data_blocks: u64) -> Option<Mismatch> {
    let area = &computed.area;
    let leaves = level_sizes(data_blocks).first().copied().unwrap_or(0) as usize * BLOCK_SIZE;
    let bottom = area.len() - leaves;
    for i in 0..data_blocks as usize {
        let at = bottom + i * DIGEST_SIZE;
        if data_blocks > 1 && stored.get(at..at + DIGEST_SIZE) != Some(&area[at..at + DIGEST_SIZE]) {
            return Some(Mismatch::DataBlock(i as u64));
        }
    }
    let block = (0..area.len() / BLOCK_SIZE).find(|&b| {
        let r = b * BLOCK_SIZE..(b + 1) * BLOCK_SIZE;
        stored.get(r.clone()) != Some(&area[r])
    });
    block.map(|b| Mismatch::HashBlock(b as u64))
}

/// SHA-256(salt ‖ block).
fn salted(salt: &[u8], block: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(block);
    h.finalize().into()
}

/// The digests of `data_blocks` blocks, packed into hash blocks: the chunks of
/// [`CHUNK_BLOCKS`] blocks shared out among `workers` threads, each reading its chunks
/// with `read` ([`hash_tree_from`]).
fn data_level<F>(data_blocks: u64, salt: &[u8], workers: usize, read: &F) -> io::Result<Vec<u8>>
where
    F: Fn(u64, &mut [u8]) -> io::Result<bool> + Sync,
{
    let zero = salted(salt, &[0; BLOCK_SIZE]);
    let mut level = vec![0u8; data_blocks.div_ceil(HASHES_PER_BLOCK) as usize * BLOCK_SIZE];
    let digests = &mut level[..data_blocks as usize * DIGEST_SIZE];
    let workers = workers.max(1);
    let mut shares: Vec<Vec<(u64, &mut [u8])>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, out) in digests.chunks_mut(CHUNK_BLOCKS as usize * DIGEST_SIZE).enumerate() {
        shares[i % workers].push((i as u64 * CHUNK_BLOCKS, out));
    }
    let work = |share: Vec<(u64, &mut [u8])>| -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK_BLOCKS as usize * BLOCK_SIZE];
        for (first, out) in share {
            let blocks = out.len() / DIGEST_SIZE;
            let buf = &mut buf[..blocks * BLOCK_SIZE];
            let filled = read(first, buf)?;
            for (block, digest) in buf.chunks(BLOCK_SIZE).zip(out.chunks_mut(DIGEST_SIZE)) {
                let d = if !filled || block.iter().all(|&b| b == 0) { zero } else { salted(salt, block) };
                digest.copy_from_slice(&d);
            }
        }
        Ok(())
    };
    if workers == 1 {
        shares.into_iter().try_for_each(work)?;
    } else {
        std::thread::scope(|s| {
            let running: Vec<_> = shares.into_iter().map(|share| s.spawn(|| work(share))).collect();
            running
                .into_iter()
                .try_for_each(|t| t.join().unwrap_or_else(|_| Err(io::Error::other("a hashing thread panicked"))))
        })?;
    }
    Ok(level)
}

/// The level over `below` (a level of whole hash blocks), packed the same way.
fn level_over(below: &[u8], salt: &[u8]) -> Vec<u8> {
    let mut level: Vec<u8> = below.chunks(BLOCK_SIZE).flat_map(|b| salted(salt, b)).collect();
    level.resize(level.len().next_multiple_of(BLOCK_SIZE), 0);
    level
}

/// The hash device of `data_blocks` 4 KiB blocks read in order from `data`, with
/// `salt` (at most 256 bytes) and the hash device's `uuid`.
pub fn hash_tree(data: &mut (impl Read + Send), data_blocks: u64, salt: &[u8], uuid: Uuid) -> io::Result<HashTree> {
    let data = std::sync::Mutex::new(data);
    hash_tree_from(data_blocks, salt, uuid, 1, |first, buf| {
        let mut data = data.lock().map_err(|_| io::Error::other("the reader's lock is poisoned"))?;
        data.read_exact(buf).map_err(|e| io::Error::new(e.kind(), format!("data block {first} on: {e}")))?;
        Ok(true)
    })
}

/// [`hash_tree`] of blocks read a chunk at a time by `workers` threads: `read(first,
/// buf)` fills `buf` (a whole number of blocks, at most [`CHUNK_BLOCKS`]) with the
/// blocks from `first` on and returns `true`, or returns `false` without filling it when
/// they are known to be zeros (a hole of a sparse image), which are then not hashed. With
/// one worker the chunks are read in order on the calling thread.
pub fn hash_tree_from(
    data_blocks: u64,
    salt: &[u8],
    uuid: Uuid,
    workers: usize,
    read: impl Fn(u64, &mut [u8]) -> io::Result<bool> + Sync,
) -> io::Result<HashTree> {
    if data_blocks == 0 || salt.len() > SALT_MAX {
        let why = "verity needs one data block or more and a salt of 256 bytes at most";
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let first = data_level(data_blocks, salt, workers, &read)?;
    let mut levels = Vec::new();
    let root = if data_blocks == 1 {
        // No level: the root hash is the one block's digest.
        first[..DIGEST_SIZE].try_into().map_err(|_| io::Error::other("empty level"))?
    } else {
        levels.push(first);
        while let Some(top) = levels.last().filter(|l| l.len() > BLOCK_SIZE) {
            let over = level_over(top, salt);
            levels.push(over);
        }
        salted(salt, levels.last().map_or(&[][..], |l| l))
    };
    let superblock = Superblock::sha256(uuid, data_blocks, salt);
    let mut area = Vec::with_capacity(hash_size(data_blocks) as usize);
    area.extend_from_slice(&superblock.to_bytes());
    area.resize(BLOCK_SIZE, 0);
    for level in levels.iter().rev() {
        area.extend_from_slice(level);
    }
    Ok(HashTree { root, area })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_superblock_reads_back_and_nothing_else_reads_as_one() {
        let sb = Superblock::sha256(Uuid::from_u128(7), 300, &[1, 2, 3]);
        assert_eq!(Superblock::parse(&sb.to_bytes()), Some(sb));
        assert_eq!(Superblock::parse(&[0; 512]), None);
        assert_eq!(Superblock::parse(b"verity\0\0"), None, "too short");
        let mut long_salt = Superblock::sha256(Uuid::nil(), 1, &[]).to_bytes();
        long_salt[80..82].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Superblock::parse(&long_salt).map(|s| s.salt.len()), Some(SALT_MAX));
    }

    #[test]
    fn levels_and_sizes_follow_cryptsetup() {
        assert_eq!(level_sizes(1), Vec::<u64>::new());
        assert_eq!(level_sizes(2), vec![1]);
        assert_eq!(level_sizes(128), vec![1]);
        assert_eq!(level_sizes(129), vec![2, 1]);
        assert_eq!(level_sizes(16_385), vec![129, 2, 1]);
        assert_eq!(hash_size(1), 4096);
        assert_eq!(hash_size(129), 4 * 4096);
    }

    #[test]
    fn a_zero_block_hashes_as_any_block_would() {
        let salt = [3u8; 32];
        let data = vec![0u8; 2 * BLOCK_SIZE];
        let tree = hash_tree(&mut &data[..], 2, &salt, Uuid::nil()).unwrap();
        let leaf = salted(&salt, &data[..BLOCK_SIZE]);
        let mut top = [0u8; BLOCK_SIZE];
        top[..32].copy_from_slice(&leaf);
        top[32..64].copy_from_slice(&leaf);
        assert_eq!(tree.root, salted(&salt, &top));
        assert_eq!(&tree.area[BLOCK_SIZE..], &top[..]);
    }

    #[test]
    fn the_first_mismatch_names_the_data_block_or_the_hash_block() {
        let salt = [5u8; 32];
        let mut data: Vec<u8> = (0..300u64).flat_map(|i| [i as u8; BLOCK_SIZE]).collect();
        let stored = hash_tree(&mut &data[..], 300, &salt, Uuid::nil()).unwrap();
        assert_eq!(first_mismatch(&stored.area, &stored, 300), None);
        data[200 * BLOCK_SIZE + 7] ^= 1;
        data[250 * BLOCK_SIZE] ^= 1;
        let changed = hash_tree(&mut &data[..], 300, &salt, Uuid::nil()).unwrap();
        assert_eq!(first_mismatch(&stored.area, &changed, 300), Some(Mismatch::DataBlock(200)));
        let mut area = stored.area.clone();
        area[BLOCK_SIZE + 3] ^= 1; // the top level, under the root
        assert_eq!(first_mismatch(&area, &stored, 300), Some(Mismatch::HashBlock(1)));
        assert_eq!(first_mismatch(&area[..10], &stored, 300), Some(Mismatch::DataBlock(0)), "a short device");
        let (data_id, hash_id) = partition_uuids(&stored.root);
        assert_eq!([data_id.as_bytes().as_slice(), hash_id.as_bytes()].concat(), stored.root);
    }

    #[test]
    fn holes_and_workers_give_the_tree_one_reader_would() {
        let salt = [9u8; 32];
        let blocks = 3 * CHUNK_BLOCKS + 44;
        let hole = |i: u64| i / CHUNK_BLOCKS == 1 || i % 3 == 0;
        let data: Vec<u8> = (0..blocks).flat_map(|i| [if hole(i) { 0 } else { i as u8 | 1 }; BLOCK_SIZE]).collect();
        let read = hash_tree(&mut &data[..], blocks, &salt, Uuid::nil()).unwrap();
        for workers in [1, 2, 3] {
            let asked = std::sync::Mutex::new(Vec::new());
            let sparse = hash_tree_from(blocks, &salt, Uuid::nil(), workers, |first, buf| {
                asked.lock().unwrap().push(first);
                if first == CHUNK_BLOCKS {
                    return Ok(false);
                }
                let at = first as usize * BLOCK_SIZE;
                buf.copy_from_slice(&data[at..at + buf.len()]);
                Ok(true)
            })
            .unwrap();
            assert_eq!((sparse.root, &sparse.area), (read.root, &read.area), "{workers} workers");
            let mut asked = asked.into_inner().unwrap();
            asked.sort();
            assert_eq!(asked, [0, 1, 2, 3].map(|c| c * CHUNK_BLOCKS), "each chunk asked for once");
        }
        let one = hash_tree(&mut &data[BLOCK_SIZE..2 * BLOCK_SIZE], 1, &salt, Uuid::nil()).unwrap();
        assert_eq!(one.root, salted(&salt, &data[BLOCK_SIZE..2 * BLOCK_SIZE]));
        assert_eq!(one.area.len(), BLOCK_SIZE);
    }
}
