//! CRC32C as ext4 uses it: the raw CRC register, seeded, without the final inversion
//! (the kernel's `ext4_chksum`).

/// `ext4_chksum(seed, data)`.
pub(crate) fn crc32c(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// The per-inode checksum seed: `crc32c(crc32c(fs_seed, inode number), generation)`.
pub(crate) fn inode_seed(fs_seed: u32, ino: u32, generation: u32) -> u32 {
    let s = crc32c(fs_seed, &ino.to_le_bytes());
    crc32c(s, &generation.to_le_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_kernel_convention() {
        // crc32c("123456789") with ~0 in and out is the standard check value 0xE3069283;
        // the raw register seeded with ~0 is its inverse.
        assert_eq!(!super::crc32c(!0, b"123456789"), 0xE306_9283);
    }
}
