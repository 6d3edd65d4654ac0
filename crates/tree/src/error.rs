use std::path::PathBuf;

/// A source that can't be read or an entry that can't be placed in the tree.
#[derive(Debug, thiserror::Error)]
#[error("{}: {entry}: {message}", input.display())]
pub struct TreeError {
    /// The source (directory, archive or file) the entry came from.
    pub input: PathBuf,
    /// The entry within it (a path in the archive or directory), or `-` for the whole.
    pub entry: String,
    /// What went wrong.
    pub message: String,
}

impl TreeError {
    pub(crate) fn new(source: impl Into<PathBuf>, entry: impl Into<String>, message: impl Into<String>) -> TreeError {
        TreeError { input: source.into(), entry: entry.into(), message: message.into() }
    }
}
