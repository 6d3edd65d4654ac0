//! The `ingot` library used as a library: no process-wide state, so two runs in one
//! process each have their own cancel token and clean-up list ([`ingot::Control`]).

use crate::util::{repo, sgdisk_verify};
use ingot::{BuildOptions, Control, Event, Progress};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

/// The unfinished files of the build writing `name` in `dir` (`.NAME.XXXXXX.partial`).
fn partials(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
        .collect();
    found.sort();
    found
}

/// Progress that calls `at` (once) when the stage "writing partition 1" begins.
fn at_first_write(at: impl FnOnce() + Send + 'static) -> Progress {
    let at = Mutex::new(Some(at));
    Progress::new(move |e| {
        if matches!(e, Event::Stage(s) if s.starts_with("writing partition 1")) {
            if let Some(f) = at.lock().unwrap().take() {
                f();
            }
        }
    })
}

fn options(out: &Path, progress: Progress, control: &Control) -> BuildOptions {
    BuildOptions {
        recipe: repo().join("recipes/hello.toml"),
        out: Some(out.to_path_buf()),
        progress,
        digests: Default::default(),
        control: control.clone(),
    }
}

#[test]
fn two_builds_in_one_process_one_stopped_the_other_finishes_with_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a.raw"), dir.path().join("b.raw"));
    let (control_a, control_b) = (Control::new(), Control::new());

    // B pauses as it begins to write, with its temporary image on disk, until A is over.
    let (paused, is_paused) = mpsc::channel();
    let (resume, resumed) = mpsc::channel::<()>();
    let progress_b = at_first_write(move || {
        paused.send(()).unwrap();
        resumed.recv().unwrap();
    });
    let b = std::thread::spawn({
        let (out_b, control_b) = (out_b.clone(), control_b.clone());
        move || ingot::build(&options(&out_b, progress_b, &control_b))
    });
    is_paused.recv().unwrap();
    let b_partial = partials(dir.path(), "b.raw");
    assert_eq!(b_partial.len(), 1, "B's temporary image while it writes: {b_partial:?}");

    // A is stopped as it begins to write, and its clean-up runs as the binary's signal
    // handler runs it: it removes A's temporary image, and only that.
    let (removed_tx, removed_rx) = mpsc::channel();
    let progress_a = at_first_write({
        let control_a = control_a.clone();
        move || {
            control_a.request_stop();
            removed_tx.send(control_a.remove_unfinished()).unwrap();
        }
    });
    let a = ingot::build(&options(&out_a, progress_a, &control_a));
    let removed = removed_rx.recv().unwrap();
    let err = a.expect_err("A was stopped");
    assert!(matches!(err.root(), ingot::Error::Stopped(_)), "A fails as stopped: {err}");
    assert_eq!(removed.len(), 1, "A's clean-up removed its own temporary image only: {removed:?}");
    assert!(removed[0].file_name().unwrap().to_string_lossy().starts_with(".a.raw."), "{removed:?}");
    assert!(!out_a.exists() && !Path::new(&format!("{}.json", out_a.display())).exists());
    assert!(partials(dir.path(), "a.raw").is_empty(), "nothing of A is left");
    assert_eq!(partials(dir.path(), "b.raw"), b_partial, "B's temporary image survives A's clean-up");
    assert!(!control_b.stop_requested(), "A's stop is not B's");

    resume.send(()).unwrap();
    let report = b.join().unwrap().expect("B finishes");
    assert_eq!(report.image, out_b);
    assert_eq!(std::fs::metadata(&out_b).unwrap().len(), report.disk_size);
    assert!(dir.path().join("b.raw.json").is_file());
    assert!(partials(dir.path(), "b.raw").is_empty(), "B renamed its image into place");
    sgdisk_verify(&out_b);
}
