use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// Progress shown on a terminal: a spinner naming the current stage, and a bar for
/// long byte-counted work. Hidden when stderr is not a terminal or in `--json` mode.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Progress drawn on stderr if it is a terminal.
    pub fn stderr() -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// No progress output at all.
    pub fn hidden() -> Progress {
        Progress { bar: ProgressBar::hidden() }
    }

    /// Starts a stage with no known length.
    pub fn stage(&self, message: impl Into<String>) {
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar.set_length(0);
        self.bar.set_position(0);
        self.bar.set_message(message.into());
    }

    /// Starts a stage of `total` bytes.
    pub fn bytes(&self, message: impl Into<String>, total: u64) {
        let style =
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(message.into());
    }

    /// Shows a counted stage at `done` of `total` `unit`s (`"blocks"`, `"objects"`), with
    /// `message` after the count.
    pub fn count(&self, unit: &str, message: String, done: u64, total: u64) {
        if self.bar.length() != Some(total) {
            let template = format!("{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} eta {{eta}}");
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            self.bar.set_style(style);
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
        self.bar.set_message(message);
    }

    /// Advances a byte stage.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Clears the progress line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
