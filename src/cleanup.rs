//! Files a run is writing that must not outlive it: the temporary image of a build, a
//! download's temporary file. Each is tracked while it is unfinished; when the run is
//! interrupted (SIGINT, SIGTERM) the binary calls [`remove_unfinished`], so nothing that
//! looks like an output is left behind.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The unfinished files, by the id of the guard that tracks each.
static UNFINISHED: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());
/// The next guard's id.
static NEXT: AtomicU64 = AtomicU64::new(0);

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

/// Tracks `path` as unfinished until the returned guard is dropped.
pub fn track(path: &Path) -> Unfinished {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()).insert(id, path.to_path_buf());
    Unfinished { id }
}

/// Removes every unfinished file; returns those that were there.
pub fn remove_unfinished() -> Vec<PathBuf> {
    let files = std::mem::take(&mut *UNFINISHED.lock().unwrap_or_else(|e| e.into_inner()));
    files.into_values().filter(|p| std::fs::remove_file(p).is_ok()).collect()
}
