//! What an interrupted run must not leave behind.
//!
//! Files a run is writing that must not outlive it (the temporary image of a build, a
//! download's temporary file, a bundle's parts) are tracked while they are unfinished;
//! when the run is interrupted (SIGINT, SIGTERM) the binary calls [`remove_unfinished`],
//! so nothing that looks like an output is left behind.
//!
//! Work on AWS is *stoppable* instead: while a [`stoppable`] guard is held, a signal asks
//! the work to stop ([`request_stop`]) rather than ending the process, so that the error
//! path can say what is left in the account (a pending snapshot, an AMI, a bundle) or
//! remove it (`--cleanup-on-failure`).
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let part = dir.path().join(".out.raw.partial");
//! std::fs::write(&part, b"half").unwrap();
//! let guard = ingot::cleanup::track(&part);
//! assert_eq!(ingot::cleanup::remove_unfinished(), vec![part.clone()]);
//! assert!(!part.exists());
//! drop(guard);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// What is unfinished: a file, or the files of a directory whose names start with a
/// prefix and end with a suffix (the temporary parts of a bundle).
#[derive(Debug)]
enum Tracked {
    File(PathBuf),
    Matching { dir: PathBuf, prefix: String, suffix: String },
}

/// The unfinished files, by the id of the guard that tracks each.
static UNFINISHED: Mutex<BTreeMap<u64, Tracked>> = Mutex::new(BTreeMap::new());
/// The next guard's id.
static NEXT: AtomicU64 = AtomicU64::new(0);
/// Stoppable guards held.
static STOPPABLE: AtomicUsize = AtomicUsize::new(0);

/// Keeps a file on the list of unfinished files until it is dropped (once the file is
/// complete, renamed into place or removed).
#[derive(Debug)]
#[must_use = "the file is untracked as soon as the guard is dropped"]
pub struct Unfinished {
    id: u64,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

fn insert(tracked: Tracked) -> Unfinished {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tracked);
    Unfinished { id }
}

/// Tracks `path` as unfinished until the returned guard is dropped.
pub fn track(path: &Path) -> Unfinished {
    insert(Tracked::File(path.to_path_buf()))
}

/// Tracks as unfinished every file in `dir` whose name starts with `prefix` and ends
/// with `suffix` (files another library writes under temporary names) until the guard
/// is dropped.
pub fn track_matching(dir: &Path, prefix: &str, suffix: &str) -> Unfinished {
    insert(Tracked::Matching { dir: dir.to_path_buf(), prefix: prefix.into(), suffix: suffix.into() })
}

/// Removes every unfinished file; returns those that were there.
pub fn remove_unfinished() -> Vec<PathBuf> {
    let tracked = std::mem::take(&mut *UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()));
    let mut files = Vec::new();
    for t in tracked.into_values() {
        match t {
            Tracked::File(p) => files.push(p),
            Tracked::Matching { dir, prefix, suffix } => {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with(&prefix) && name.ends_with(&suffix)
                    })
                    .map(|e| e.path())
                    .collect();
                found.sort();
                files.extend(found);
            }
        }
    }
    files.into_iter().filter(|p| std::fs::remove_file(p).is_ok()).collect()
}

/// While held, the running work stops by itself when asked: see [`stoppable`].
#[derive(Debug)]
#[must_use = "the work is stoppable only while the guard is held"]
pub struct Stoppable(());

impl Drop for Stoppable {
    fn drop(&mut self) {
        STOPPABLE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks the work from here until the guard is dropped as stoppable: an upload, a wait, a
/// registration. A signal then calls [`request_stop`] instead of ending the process.
pub fn stoppable() -> Stoppable {
    STOPPABLE.fetch_add(1, Ordering::SeqCst);
    Stoppable(())
}

/// Whether stoppable work is running.
pub fn is_stoppable() -> bool {
    STOPPABLE.load(Ordering::SeqCst) > 0
}

/// Asks the stoppable work to stop: it stops sending and waiting, and fails with an error
/// that says what it left behind.
pub fn request_stop() {
    ingot_aws::request_stop();
}

/// The snapshots started and not completed, for a process that must exit at once.
pub fn pending_snapshots() -> Vec<String> {
    ingot_aws::started_snapshots()
}
