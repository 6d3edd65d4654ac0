//! SIGINT, SIGTERM, SIGHUP (the terminal closed) and SIGQUIT. Outside AWS work, the unfinished outputs the library tracks are
//! removed, one line says what was stopped, and the process exits with 128 + the signal
//! (130, 143, 129, 131), as a shell reports a command killed by it. During AWS work (an upload, a
//! publish) the first signal asks the work to stop: it fails with an error that names
//! what it left in the account (or removes it, with `--cleanup-on-failure`), and `main`
//! prints it on the same one line and exits the same way. A second signal exits at once,
//! naming the snapshots left pending.

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the work to stop, or 0.
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// The signals that end a run: each is handled the same way.
const STOPPING: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// Watches for the [`STOPPING`] signals on a thread of its own while `command` runs,
/// and stops or cleans up the run that `control` governs.
pub fn on_signal(command: String, control: ingot::Control) -> std::io::Result<()> {
    let mut signals = Signals::new(STOPPING)?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let first = STOPPED_BY.load(Ordering::SeqCst) == 0;
            if first && control.is_stoppable() {
                STOPPED_BY.store(signal, Ordering::SeqCst);
                control.request_stop();
                eprintln!("ingot {command}: stopping on {} (send it again to exit at once)", name(signal));
                continue;
            }
            let mut what = match control.remove_unfinished().as_slice() {
                [] => "nothing unfinished to remove".to_string(),
                files => {
                    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                    format!("removed the unfinished {}", names.join(", "))
                }
            };
            for snapshot in control.pending() {
                what.push_str(&format!(
                    "; snapshot {snapshot} is left pending: delete it with `aws ec2 delete-snapshot --snapshot-id {snapshot}`"
                ));
            }
            let again = if first { "" } else { "a second " };
            eprintln!("ingot {command} stopped by {again}{}: {what}", name(signal));
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// The signal that stopped the work, if one did.
pub fn stopped_by() -> Option<i32> {
    Some(STOPPED_BY.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

/// The signal's name: `SIGINT`, `SIGTERM`, `SIGHUP` or `SIGQUIT`.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGHUP => "SIGHUP",
        SIGQUIT => "SIGQUIT",
        _ => "SIGTERM",
    }
}
