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
    pub(crate) fn new(source: impl Into<PathBuf>, entry: impl AsRef<[u8]>, message: impl Into<String>) -> TreeError {
        TreeError::Source { input: source.into(), entry: shown(entry.as_ref()), message: message.into() }
    }

    pub(crate) fn path(path: impl AsRef<[u8]>, message: impl Into<String>) -> TreeError {
        TreeError::Path { path: shown(path.as_ref()), message: message.into() }
    }
}

/// The most characters of a name an error shows: its start and end, enough to find it.
const SHOWN_MAX: usize = 200;

/// A name from an archive or directory as an error shows it: control characters escaped
/// (no terminal escape reaches the terminal), and a name longer than [`SHOWN_MAX`]
/// characters cut in the middle, with its length.
pub(crate) fn shown(name: &[u8]) -> String {
    let text: Vec<char> = String::from_utf8_lossy(name)
        .chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    if text.len() <= SHOWN_MAX {
        return text.into_iter().collect();
    }
    let half = SHOWN_MAX / 2;
    let (start, end): (String, String) = (text[..half].iter().collect(), text[text.len() - half..].iter().collect());
    format!("{start}…{end} ({} bytes)", name.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_and_hostile_names_are_shown_safely() {
        assert_eq!(super::shown(b"a/\x1b]0;pwned\x07"), "a/\\u{1b}]0;pwned\\u{7}");
        let long = "d/".repeat(40_000);
        let shown = super::shown(long.as_bytes());
        assert!(shown.len() < 300 && shown.ends_with("(80000 bytes)"), "{shown}");
    }
}
