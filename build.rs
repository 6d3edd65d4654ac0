//! Names the git commit in `ingot --version` when built from a checkout: `INGOT_VERSION`
//! is "0.1.0 (commit 0123456789ab)", with "-dirty" when tracked files differ from it, or
//! just the package version when there is no git or no checkout (a crates.io build).

use std::path::Path;
use std::process::Command;

/// Runs git with `args` in the package directory (never taking the index lock); its
/// trimmed stdout, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("--no-optional-locks")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    // Only this package's own checkout counts, not a repository it was unpacked into.
    let own = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        Path::new(&top).canonicalize().ok() == Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().ok()
    });
    let described = match git(&["rev-parse", "--short=12", "HEAD"]).filter(|_| own) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{version} (commit {commit}{})", if dirty { "-dirty" } else { "" })
        }
        _ => version.to_string(),
    };
    println!("cargo:rustc-env=INGOT_VERSION={described}");
    println!("cargo:rerun-if-changed=build.rs");
    // Run again when a source changes (the -dirty mark), HEAD moves or the index changes;
    // only paths that exist (cargo runs a build script every time when one is missing).
    for path in ["src", "crates", "vendor", "Cargo.toml", "Cargo.lock"] {
        if Path::new(env!("CARGO_MANIFEST_DIR")).join(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    for name in ["HEAD", "index", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(reference);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
