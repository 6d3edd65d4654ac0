//! The jbd2 journal: its size as mke2fs chooses it and its superblock
//! (`journal_superblock_t`, version 2, big-endian). The journal is empty
//! (`s_start` = 0), so only its first block needs writing.

/// Journal blocks mke2fs gives a filesystem of `blocks` blocks
/// (`ext2fs_default_journal_size`); `None` below 2,048 blocks.
pub(crate) fn default_blocks(blocks: u64) -> Option<u64> {
    Some(match blocks {
        0..2048 => return None,
        2048..32_768 => 1024,
        32_768..262_144 => 4096,
        262_144..524_288 => 8192,
        524_288..4_194_304 => 16_384,
        4_194_304..8_388_608 => 32_768,
        8_388_608..16_777_216 => 65_536,
        16_777_216..33_554_432 => 131_072,
        _ => 262_144,
    })
}

/// The journal superblock for a journal of `blocks` blocks of `block_size`.
pub(crate) fn superblock(block_size: u32, blocks: u32, uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    let mut put = |at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put(0x00, 0xC03B_3998); // h_magic
    put(0x04, 4); // h_blocktype: superblock v2
    put(0x08, 0); // h_sequence
    put(0x0C, block_size); // s_blocksize
    put(0x10, blocks); // s_maxlen
    put(0x14, 1); // s_first
    put(0x18, 1); // s_sequence
    put(0x1C, 0); // s_start: empty
    put(0x40, 1); // s_nr_users
    b[0x30..0x40].copy_from_slice(uuid); // s_uuid
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_match_mke2fs() {
        assert_eq!(super::default_blocks(1_048_576), Some(16_384)); // 4 GiB of 4 KiB blocks: 64 MiB
        assert_eq!(super::default_blocks(1000), None);
        assert_eq!(super::default_blocks(65_536), Some(4096));
    }

    #[test]
    fn superblock_matches_the_reference() {
        let b = super::superblock(4096, 16_384, &[0xAB; 16]);
        assert_eq!(
            &b[..0x20],
            &[
                0xc0, 0x3b, 0x39, 0x98, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x40, 0, 0, 0, 0, 1, 0, 0, 0, 1,
                0, 0, 0, 0
            ]
        );
        assert_eq!(&b[0x40..0x44], &[0, 0, 0, 1]);
    }
}
