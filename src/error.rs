//! The library's error: what went wrong in a pipeline, with the file, recipe key or AWS
//! resource it is about. The binary prints it with its chain of causes.

use std::fmt::Display;

/// A `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The recipe is not valid.
    #[error(transparent)]
    Recipe(#[from] ingot_recipe::RecipeError),
    /// A partition's content could not be read or placed.
    #[error(transparent)]
    Tree(#[from] ingot_tree::TreeError),
    /// The ext4 writer failed.
    #[error(transparent)]
    Ext4(#[from] ingot_ext4::Ext4Error),
    /// The EROFS writer failed.
    #[error(transparent)]
    Erofs(#[from] ingot_erofs::ErofsError),
    /// The FAT writer failed.
    #[error(transparent)]
    Fat(#[from] ingot_fat::FatError),
    /// The image file or its partition table failed.
    #[error(transparent)]
    Disk(#[from] ingot_disk::DiskError),
    /// The boot chain could not be installed.
    #[error(transparent)]
    Boot(#[from] ingot_boot::BootError),
    /// Secure Boot keys could not be made or read.
    #[error(transparent)]
    Keys(#[from] ingot_boot::keys::KeyError),
    /// An AWS call failed, or a request was not valid.
    #[error(transparent)]
    Aws(#[from] ingot_aws::Error),
    /// A bundle could not be written or read.
    #[error(transparent)]
    Bundle(#[from] ingot_bundle::BundleError),
    /// An input file is not one ingot reads (a FIFO, a device, too large).
    #[error(transparent)]
    Input(#[from] ingot_types::input::InputError),
    /// The run's [`Control`](crate::Control) asked the work to stop.
    #[error("stopped on request")]
    Stopped(#[from] ingot_types::control::Stopped),
    /// A file could not be read or written (the context names it).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A report could not be read or written as JSON (the context names it).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The input does not fit together: a flag against the recipe, an image too large for
    /// its partition, a report that describes another image.
    #[error("{0}")]
    Invalid(String),
    /// `source`, in the value of one of the options' fields.
    #[error("{}", field.describe())]
    Field {
        /// The field.
        field: crate::Field,
        /// What is wrong with its value.
        #[source]
        source: Box<Error>,
    },
    /// `source`, in the course of `context`.
    #[error("{context}")]
    Context {
        /// What was being done, or what the error is about.
        context: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An [`Error::Invalid`] with `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }

    /// This error in the value of `field`.
    pub(crate) fn field(self, field: crate::Field) -> Error {
        Error::Field { field, source: Box::new(self) }
    }

    /// This error in the course of `context`.
    pub(crate) fn context(self, context: impl Display) -> Error {
        Error::Context { context: context.to_string(), source: Box::new(self) }
    }

    /// The innermost library error, past every [`Error::Context`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } | Error::Field { source, .. } => source.root(),
            other => other,
        }
    }
}

/// `context` and `with_context` for results whose error becomes an [`Error`].
pub(crate) trait ResultExt<T> {
    /// Wraps the error in `context`.
    fn context(self, context: impl Display) -> Result<T>;
    /// Wraps the error in the context `f` makes (only on failure).
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// `context` for options: `None` becomes an [`Error::Invalid`].
pub(crate) trait OptionExt<T> {
    /// `None` becomes the error `f` describes.
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T> OptionExt<T> for Option<T> {
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::invalid(f().to_string()))
    }
}

/// Returns early with an [`Error::Invalid`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}
pub(crate) use bail;
