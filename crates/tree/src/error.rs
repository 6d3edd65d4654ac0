use std::path::PathBuf;

/// Why a tree could not be filled or changed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A source (directory, archive or file) that can't be read, or an entry of it that
    /// can't be placed in the tree.
    #[error("{}: {entry}: {message}", input.display())]
    Source {
        /// The source the entry came from.
        input: PathBuf,
        /// The entry within it (a path in the archive or directory), or `-` for the whole.
        entry: String,
        /// What went wrong.
        message: String,
    },
    /// Metadata for an entry that is not there.
    #[error("{path} is not in the partition's tree")]
    Missing {
        /// The path in the tree.
        path: String,
    },
    /// A change to the tree at `path` that can't be made: a parent that does not resolve,
    /// a hard link to a directory, a file in place of the root.
    #[error("{path}: {message}")]
    Path {
        /// The path in the tree.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl TreeError {
    pub(crate) fn new(source: impl Into<PathBuf>, entry: impl Into<String>, message: impl Into<String>) -> TreeError {
        TreeError::Source { input: source.into(), entry: entry.into(), message: message.into() }
    }

    pub(crate) fn path(path: impl AsRef<[u8]>, message: impl Into<String>) -> TreeError {
        TreeError::Path { path: String::from_utf8_lossy(path.as_ref()).into_owned(), message: message.into() }
    }
}
