//! Progress of long work, as events: the library says what it is doing, the caller draws
//! it (the `ingot` binary with indicatif on a terminal) or ignores it.

use std::sync::Arc;

/// One step of progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A stage of unknown length begins.
    Stage(&'a str),
    /// A stage of `total` bytes begins.
    Bytes {
        /// What is being done.
        message: &'a str,
        /// Bytes in all.
        total: u64,
    },
    /// `n` more bytes of the current byte stage are done.
    Advance(u64),
    /// A counted stage stands at `done` of `total` `unit`s (`"blocks"`, `"objects"`).
    Count {
        /// What is counted.
        unit: &'a str,
        /// What is being done, with rates or retries.
        message: &'a str,
        /// Units done.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// The work is over: clear whatever shows it.
    Finish,
    /// Something the user must know although the work goes on (a report that no longer
    /// describes its image). Shown even where progress is not.
    Warning(&'a str),
}

/// A function that receives progress events, shared by clones of a [`Progress`].
type Sink = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// Where progress events go: nowhere ([`Progress::hidden`]) or to a function.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let progress = ingot::Progress::new(move |e| {
///     if let ingot::Event::Stage(s) = e {
///         log.lock().unwrap().push(s.to_string());
///     }
/// });
/// progress.stage("syncing");
/// assert_eq!(*seen.lock().unwrap(), ["syncing"]);
/// ```
#[derive(Clone, Default)]
pub struct Progress {
    sink: Option<Sink>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.sink.is_some() { "Progress(shown)" } else { "Progress(hidden)" })
    }
}

impl Progress {
    /// Progress that goes to `sink`.
    pub fn new(sink: impl Fn(Event<'_>) + Send + Sync + 'static) -> Progress {
        Progress { sink: Some(Arc::new(sink)) }
    }

    /// No progress at all.
    pub fn hidden() -> Progress {
        Progress { sink: None }
    }

    fn send(&self, event: Event<'_>) {
        if let Some(sink) = &self.sink {
            sink(event);
        }
    }

    /// Starts a stage with no known length.
    pub fn stage(&self, message: impl AsRef<str>) {
        self.send(Event::Stage(message.as_ref()));
    }

    /// Starts a stage of `total` bytes.
    pub fn bytes(&self, message: impl AsRef<str>, total: u64) {
        self.send(Event::Bytes { message: message.as_ref(), total });
    }

    /// Shows a counted stage at `done` of `total` `unit`s.
    pub fn count(&self, unit: &str, message: impl AsRef<str>, done: u64, total: u64) {
        self.send(Event::Count { unit, message: message.as_ref(), done, total });
    }

    /// Advances a byte stage by `n`.
    pub fn inc(&self, n: u64) {
        self.send(Event::Advance(n));
    }

    /// Says something the user must know although the work goes on.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.send(Event::Warning(message.as_ref()));
    }

    /// Ends the work shown.
    pub fn finish(&self) {
        self.send(Event::Finish);
    }
}
