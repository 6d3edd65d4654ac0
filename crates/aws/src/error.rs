//! The errors of `ingot-aws`.

use std::path::PathBuf;

/// Everything that can go wrong talking to AWS or reading the image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call failed and will not be retried: the message says what to fix.
    #[error("{operation} failed: {code}: {message}{hint}")]
    Api {
        /// The API operation, e.g. `PutSnapshotBlock`.
        operation: &'static str,
        /// The service's error code (`AccessDeniedException`) or the transport failure.
        code: String,
        /// The service's message.
        message: String,
        /// What to do about it, starting with "; " (or empty).
        hint: String,
    },
    /// A retryable call kept failing until the retry budget ran out.
    #[error("{operation} still failing after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The API operation.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The service answered with something ingot refuses to work with.
    #[error("{0}")]
    Protocol(String),
    /// The caller asked for something the API does not allow.
    #[error("{0}")]
    Invalid(String),
    /// The destination holds something else that must not be overwritten.
    #[error("{0}")]
    Conflict(String),
    /// A bounded wait ran out.
    #[error("{what} did not finish within {seconds} s{hint}")]
    WaitTimeout {
        /// What was waited for.
        what: String,
        /// The bound.
        seconds: u64,
        /// What to do about it.
        hint: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The upload failed after StartSnapshot: the snapshot is left pending. (`cause` is
    /// shown in the message, so it is not also the error's `source`.)
    #[error("{cause}; snapshot {snapshot} is left pending: EBS fails it after {minutes} minutes (or delete it with `aws ec2 delete-snapshot --snapshot-id {snapshot}`)")]
    Pending {
        /// The snapshot left behind.
        snapshot: String,
        /// Its StartSnapshot timeout.
        minutes: u32,
        /// What failed.
        cause: Box<Error>,
    },
    /// A step after RegisterImage failed: the AMI (and its snapshot) exist. (`cause` is
    /// the message, so it is not also the error's `source`.)
    #[error("{cause}")]
    Registered {
        /// The AMI registered.
        image_id: String,
        /// What failed.
        cause: Box<Error>,
    },
    /// A block of the image is not what its build report says: the image changed after
    /// its build.
    #[error("{}: block {index} (at byte {offset}) is not what {}.json says: the image changed after its build; rebuild it, or move {}.json away to upload the image as it is now", image.display(), image.display(), image.display())]
    Changed {
        /// The image.
        image: PathBuf,
        /// The first block found to differ.
        index: u64,
        /// Its byte offset.
        offset: u64,
    },
    /// The run's control asked the work to stop (the binary's signal handler): see
    /// [`Connect::control`](crate::Connect::control).
    #[error("stopped on request")]
    Stopped,
    /// A block read back does not match its checksum.
    #[error("block {index} of {snapshot}: checksum {got} does not match the data ({want})")]
    Checksum {
        /// The snapshot.
        snapshot: String,
        /// The block index.
        index: u64,
        /// The checksum the service sent.
        got: String,
        /// The SHA-256 of the data received.
        want: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

impl Error {
    /// The service's error code, for an [`Error::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<ingot_types::control::Stopped> for Error {
    fn from(_: ingot_types::control::Stopped) -> Self {
        Error::Stopped
    }
}
