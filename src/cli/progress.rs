//! Progress on the terminal: a spinner naming the current stage, a bar for byte-counted
//! and block-counted work. Drawn on stderr only when it is a terminal; nothing with `--json`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ingot::Event;
use std::time::Duration;

/// How often the spinner turns.
const TICK: Duration = Duration::from_millis(120);

/// Progress drawn on stderr (if it is a terminal), or none with `--json`; warnings go
/// to stderr either way.
pub fn terminal(json: bool) -> ingot::Progress {
    if json {
        return ingot::Progress::new(|event| {
            if let Event::Warning(message) = event {
                eprintln!("warning: {message}");
            }
        });
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.enable_steady_tick(TICK);
    ingot::Progress::new(move |event| draw(&bar, event))
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

fn draw(bar: &ProgressBar, event: Event<'_>) {
    match event {
        Event::Stage(message) => {
            bar.set_style(style("{spinner} {msg} ({elapsed})"));
            bar.set_length(0);
            bar.set_position(0);
            bar.set_message(message.to_owned());
        }
        Event::Bytes { message, total } => {
            bar.set_style(style("{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"));
            bar.set_length(total);
            bar.set_position(0);
            bar.set_message(message.to_owned());
        }
        Event::Advance(n) => bar.inc(n),
        Event::Count { unit, message, done, total } => {
            if bar.length() != Some(total) {
                bar.set_style(style(&format!("{{spinner}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} eta {{eta}}")));
                bar.set_length(total);
            }
            bar.set_position(done);
            bar.set_message(message.to_owned());
        }
        Event::Finish => bar.finish_and_clear(),
        Event::Warning(message) => bar.suspend(|| eprintln!("warning: {message}")),
    }
}
