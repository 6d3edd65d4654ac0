//! One run's cancellation and clean-up, as a value passed in: no process-wide state.
//!
//! The caller makes a [`Control`] for each operation (a build, a publish) and keeps a
//! clone; the operation holds the other. The caller (the `ingot` binary's signal handler,
//! a test, a service running several builds) then either asks the work to stop
//! ([`Control::request_stop`]: an upload sends no further block, a wait polls no more, a
//! build writes no further partition; each fails with [`Stopped`]) or, when the process
//! must end at once, removes what the operation left unfinished
//! ([`Control::remove_unfinished`]). Two operations with two controls never see each
//! other's stop or files.
//!
//! ```
//! use ingot_types::control::Control;
//! let dir = tempfile::tempdir()?;
//! let part = dir.path().join(".out.raw.partial");
//! std::fs::write(&part, b"half")?;
//! let control = Control::new();
//! let guard = control.track(&part);
//! let other = Control::new();
//! assert!(other.remove_unfinished().is_empty()); // another run's files are not its own
//! assert_eq!(control.remove_unfinished(), vec![part.clone()]);
//! assert!(!part.exists());
//! drop(guard);
//! control.request_stop();
//! assert!(control.check().is_err() && other.check().is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The error of work that stopped because its [`Control`] asked it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stopped on request")]
pub struct Stopped;

/// What is unfinished: a file, or the files of a directory whose names start with a
/// prefix and end with a suffix (the temporary parts of a bundle, which another library
/// names).
#[derive(Debug)]
enum Tracked {
    File(PathBuf),
    Matching { dir: PathBuf, prefix: String, suffix: String },
}

#[derive(Debug, Default)]
struct Shared {
    /// Set once a stop is requested; never cleared (the operation is ending).
    stop: AtomicBool,
    /// Stoppable guards held.
    stoppable: AtomicUsize,
    /// The unfinished files, by the id of the guard that tracks each.
    unfinished: Mutex<BTreeMap<u64, Tracked>>,
    /// The next guard's id.
    next: AtomicU64,
    /// Remote resources started and not finished (snapshot ids), for a process that must
    /// exit at once and say what it leaves.
    pending: Mutex<Vec<String>>,
}

/// The cancel token and clean-up list of one operation; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Control {
    shared: Arc<Shared>,
}

/// Keeps a file on its [`Control`]'s list of unfinished files until dropped (once the
/// file is complete, renamed into place or removed).
#[derive(Debug)]
#[must_use = "the file is untracked as soon as the guard is dropped"]
pub struct Unfinished {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        lock(&self.shared.unfinished).remove(&self.id);
    }
}

/// While held, the operation stops by itself when asked: see [`Control::stoppable`].
#[derive(Debug)]
#[must_use = "the work is stoppable only while the guard is held"]
pub struct Stoppable {
    shared: Arc<Shared>,
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        self.shared.stoppable.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A lock that a panic elsewhere does not poison for good: the lists stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Control {
    /// A control of its own: not stopped, nothing tracked.
    pub fn new() -> Control {
        Control::default()
    }

    /// Asks the operation to stop: it stops sending, waiting and writing, and fails with
    /// [`Stopped`] (its error path then says what it left behind, or removes it).
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// `Err(Stopped)` once a stop was requested.
    pub fn check(&self) -> Result<(), Stopped> {
        if self.stop_requested() {
            return Err(Stopped);
        }
        Ok(())
    }

    /// Marks the work from here until the guard is dropped as stoppable (an upload, a
    /// wait, a registration): a caller that must end the run asks it to stop
    /// ([`Control::request_stop`]) rather than ending the process, so that the error path
    /// can say what is left in the account or remove it.
    pub fn stoppable(&self) -> Stoppable {
        self.shared.stoppable.fetch_add(1, Ordering::SeqCst);
        Stoppable { shared: self.shared.clone() }
    }

    /// Whether stoppable work is running.
    pub fn is_stoppable(&self) -> bool {
        self.shared.stoppable.load(Ordering::SeqCst) > 0
    }

    fn insert(&self, tracked: Tracked) -> Unfinished {
        let id = self.shared.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.unfinished).insert(id, tracked);
        Unfinished { shared: self.shared.clone(), id }
    }

    /// Tracks `path` as unfinished until the returned guard is dropped.
    pub fn track(&self, path: &Path) -> Unfinished {
        self.insert(Tracked::File(path.to_path_buf()))
    }

    /// Tracks as unfinished every file in `dir` whose name starts with `prefix` and ends
    /// with `suffix` until the guard is dropped.
    pub fn track_matching(&self, dir: &Path, prefix: &str, suffix: &str) -> Unfinished {
        self.insert(Tracked::Matching { dir: dir.to_path_buf(), prefix: prefix.into(), suffix: suffix.into() })
    }

    /// Removes every unfinished file of this control; returns those that were there.
    pub fn remove_unfinished(&self) -> Vec<PathBuf> {
        let tracked = std::mem::take(&mut *lock(&self.shared.unfinished));
        let mut files = Vec::new();
        for t in tracked.into_values() {
            match t {
                Tracked::File(p) => files.push(p),
                Tracked::Matching { dir, prefix, suffix } => files.extend(matching(&dir, &prefix, &suffix)),
            }
        }
        files.into_iter().filter(|p| std::fs::remove_file(p).is_ok()).collect()
    }

    /// Notes a remote resource (a snapshot id) started (`true`) or finished (`false`).
    pub fn note_pending(&self, id: &str, started: bool) {
        let mut list = lock(&self.shared.pending);
        list.retain(|s| s != id);
        if started {
            list.push(id.to_string());
        }
    }

    /// The remote resources started and not finished: for a snapshot, pending, unless EBS
    /// completed one whose CompleteSnapshot answer never arrived.
    pub fn pending(&self) -> Vec<String> {
        lock(&self.shared.pending).clone()
    }
}

/// The files of `dir` named `prefix…suffix`, sorted.
fn matching(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_stop_and_one_list_and_guards_untrack() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join(".x.1.partial"));
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        let control = Control::new();
        let clone = control.clone();
        let kept = control.track(&a);
        drop(kept);
        let _parts = clone.track_matching(dir.path(), ".x.", ".partial");
        assert_eq!(control.remove_unfinished(), vec![b.clone()]);
        assert!(a.exists() && !b.exists());
        {
            let _s = clone.stoppable();
            assert!(control.is_stoppable());
        }
        assert!(!control.is_stoppable());
        clone.request_stop();
        assert_eq!(control.check(), Err(Stopped));
        control.note_pending("snap-1", true);
        control.note_pending("snap-2", true);
        control.note_pending("snap-1", false);
        assert_eq!(clone.pending(), ["snap-2"]);
    }
}
