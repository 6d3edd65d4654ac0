//! Stopping on request. A process that catches SIGINT or SIGTERM calls [`request_stop`];
//! from then on an upload sends no further block, a wait polls no more and a bundle
//! upload starts no further part: each fails with [`Error::Stopped`], so the caller's
//! error path says what is left (a pending snapshot, an AMI, a bundle) or removes it.
//! Requests that clean up are not affected. [`started_snapshots`] lists the snapshots
//! started and not yet completed, for a process that must exit at once.
//!
//! ```
//! assert!(!ingot_aws::stop_requested());
//! ```

use crate::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Set once a stop is requested; never cleared (the process is ending).
static STOP: AtomicBool = AtomicBool::new(false);
/// Snapshots started and not yet completed.
static STARTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Asks every upload, wait and bundle upload of the process to stop.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `Err(Error::Stopped)` once a stop was requested.
pub(crate) fn check() -> Result<(), Error> {
    if stop_requested() {
        return Err(Error::Stopped);
    }
    Ok(())
}

/// The snapshots this process started that are not completed: pending, unless EBS
/// completed one whose CompleteSnapshot answer never arrived.
pub fn started_snapshots() -> Vec<String> {
    STARTED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Notes a snapshot started (`true`) or completed (`false`).
pub(crate) fn note_snapshot(id: &str, started: bool) {
    let mut list = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|s| s != id);
    if started {
        list.push(id.to_string());
    }
}
