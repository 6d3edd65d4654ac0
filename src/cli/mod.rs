//! The command line's own parts: drawing progress, printing reports, manual pages.

pub mod boot;
pub mod check;
pub mod inspect;
pub mod interrupt;
pub mod lifecycle;
pub mod manual;
pub mod progress;

/// Prints `value` as JSON, or `line` for a person.
pub fn print<T: serde::Serialize>(json: bool, value: &T, line: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{line}");
    }
    Ok(())
}
