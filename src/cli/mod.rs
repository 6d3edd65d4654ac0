//! The command line's own parts: drawing progress, printing reports, manual pages.

pub mod boot;
pub mod check;
pub mod flags;
pub mod inspect;
pub mod interrupt;
pub mod lifecycle;
pub mod manual;
pub mod measure;
pub mod progress;

/// Prints `value` as JSON, or `line` for a person.
pub fn print<T: serde::Serialize>(json: bool, value: &T, line: &str) -> anyhow::Result<()> {
    if json {
        out(&serde_json::to_string_pretty(value)?)
    } else {
        out(&escape_controls(line))
    }
}

/// Writes `text` and a newline to standard output. A failure is an error of its own kind
/// ([`StdoutError`]): `main` ends quietly on a closed pipe (`ingot inspect --json | head`)
/// and reports any other (a full disk) with a non-zero exit; `println!` would panic.
pub fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(|e| StdoutError(e).into())
}

/// For the commands that only read images (inspect, boot): the FAT reader's panics on a
/// damaged volume are caught by `ingot::inspect`, which reports the volume as damaged;
/// their messages are not for the person reading the report. Other panics (and every
/// panic of a build, whose FAT writer is the same crate) print as ever.
pub fn quiet_fat_reader_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| ingot::is_fat_reader_panic(l.file())) {
            report(info);
        }
    }));
}

/// An error as the terminal shows it: each cause after the message, except a cause the
/// message before it already ends with (a library's "PATH: CAUSE" over CAUSE itself), and
/// control characters other than newlines and tabs escaped, so that a recipe's or an
/// archive's name cannot send terminal escapes.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = match cause.downcast_ref::<ingot::Error>() {
            Some(ingot::Error::Field { field, .. }) => flags::flag(*field).to_string(),
            _ => cause.to_string(),
        };
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    escape_controls(&flags::flag_names(&out))
}

/// `text` with control characters other than `\n` and `\t` escaped (`\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Standard output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// Whether the reader went away (a closed pipe): nothing to report.
    pub fn reader_gone(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}
