//! Filesystem choices the recipe names and a writer takes.
//!
//! ```
//! use ingot_types::filesystem::Compression;
//! assert_eq!("lz4".parse::<Compression>()?, Compression::Lz4);
//! # Ok::<(), ingot_types::Unknown>(())
//! ```

/// How an EROFS partition's files are stored (`[partition.erofs] compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// LZ4 (at LZ4HC's default level), in 4 KiB physical clusters: what Linux 6.1 reads.
    Lz4,
}

impl Compression {
    /// Every choice, in the order the documentation lists them.
    pub const ALL: &'static [Compression] = &[Compression::None, Compression::Lz4];

    /// The name the recipe gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
        }
    }
}

crate::names::text_forms!(Compression, "none or lz4");
