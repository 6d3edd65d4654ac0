//! The command line itself: `--version` names the commit, shell completions parse in
//! their shells, and the manual pages render without a warning.

use crate::util::*;
use std::process::Command;

#[test]
fn version_names_the_git_commit_of_the_checkout() {
    let o = run(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(repo()));
    assert!(o.status.success(), "the tests run in a git checkout");
    let commit = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = run(ingot().arg("--version"));
    let version = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && version.starts_with("ingot 0.") && version.contains(&commit), "{version}");
}

/// `ingot completions SHELL` for bash, zsh and fish: each script parses in its shell
/// (`-n`) and completes the subcommands and a subcommand's flags.
#[test]
fn completions_parse_in_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = run(ingot().args(["completions", shell]));
        assert!(o.status.success(), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(script.contains("publish") && script.contains("no-digest"), "{shell}: completes subcommands and flags");
        let file = tmp.path().join(format!("ingot.{shell}"));
        std::fs::write(&file, &o.stdout).unwrap();
        let o = run(Command::new(shell).arg("-n").arg(&file));
        assert!(o.status.success() && o.stderr.is_empty(), "{shell} -n: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(ingot().args(["completions", "tcsh"]));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("possible values"));
}

/// `ingot man DIR`: a page for ingot and one per subcommand, each rendered by man-db
/// (`man -l`, groff with warnings on) without a warning.
#[test]
fn man_pages_render_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let o = run(ingot().arg("man").arg(&dir));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    pages.sort();
    for want in ["ingot.1", "ingot-build.1", "ingot-publish.1", "ingot-keys.1", "ingot-man.1"] {
        assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
    }
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), pages.len(), "prints each page written");
    for page in &pages {
        let o = run(Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(dir.join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0"));
        let (text, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && err.is_empty(), "man -l {page}: {err}");
        // Bold and underline are overstruck ("N\bN"): read the text without them.
        let text = plain(&text);
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{page}: {text}");
    }
    let build = std::fs::read_to_string(dir.join("ingot-build.1")).unwrap();
    assert!(build.contains("no\\-digest") && build.contains("recipe"), "ingot-build.1 has build's options");
}

/// `text` without man's overstriking: a character followed by a backspace is dropped.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}
