use std::path::PathBuf;

/// A recipe that can't be read, parsed, validated or laid out.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The recipe file is not one ingot reads (a FIFO, a device, too large).
    #[error(transparent)]
    Input(#[from] ingot_types::input::InputError),
    /// The recipe file can't be read.
    #[error("{path}: {source}")]
    Io {
        /// The recipe file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A problem at a place in the recipe.
    #[error("{file}:{line}:{column}: {message}\n{snippet}")]
    At {
        /// The recipe file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and, where it can, what to do.
        message: String,
        /// The line of the recipe with a caret under the column.
        snippet: String,
    },
    /// A problem with the recipe as a whole or its environment.
    #[error("{file}: {message}")]
    Whole {
        /// The recipe file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Turns byte offsets in a recipe's text into `file:line:column` errors.
#[derive(Clone, Debug)]
pub(crate) struct Locator {
    pub file: PathBuf,
    pub text: String,
}

impl Locator {
    pub fn at(&self, offset: usize, message: impl Into<String>) -> RecipeError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let line_text = self.text[line_start..].lines().next().unwrap_or("");
        let snippet = format!("  | {line_text}\n  | {}^", " ".repeat(column - 1));
        RecipeError::At { file: self.file.clone(), line, column, message: message.into(), snippet }
    }

    pub fn whole(&self, message: impl Into<String>) -> RecipeError {
        RecipeError::Whole { file: self.file.clone(), message: message.into() }
    }
}
