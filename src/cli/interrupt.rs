//! SIGINT and SIGTERM: the unfinished outputs the library tracks are removed, one line
//! says what was stopped, and the process exits with 128 + the signal (130, 143), as a
//! shell reports a command killed by it.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Watches for SIGINT and SIGTERM on a thread of its own while `command` runs.
pub fn on_signal(command: String) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let removed = ingot::cleanup::remove_unfinished();
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            let what = match removed.as_slice() {
                [] => "nothing unfinished to remove".to_string(),
                files => {
                    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                    format!("removed the unfinished {}", names.join(", "))
                }
            };
            eprintln!("ingot {command} stopped by {name}: {what}");
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}
