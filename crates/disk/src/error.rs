use std::path::PathBuf;

/// What can go wrong writing or reading a disk image.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// An I/O error on the image file.
    #[error("{}", path.display())]
    Io {
        /// The image file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A region or table entry does not fit the image.
    #[error("{0}")]
    Layout(String),
    /// The image's partition table is missing or damaged.
    #[error("corrupt or missing partition table: {0}")]
    Corrupt(String),
}
