//! SIGINT and SIGTERM sent to the real binary mid-run: an upload or publish stops and
//! names (or removes) the snapshot it left, as the strict moto server confirms; a second
//! signal exits at once; a download leaves no file. (Interrupted builds are in build.rs,
//! bundles in bundle.rs.)

use crate::aws::{image, upload};
use crate::util::aws::*;
use crate::util::*;

/// The first `snap-…` id in `text`.
fn snapshot_in(text: &str) -> String {
    let at = text.find("snap-").unwrap_or_else(|| panic!("no snapshot id in: {text}"));
    text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// SIGINT or SIGTERM during an upload: it stops sending, names the snapshot it left
/// pending with the command that deletes it (or deletes it, with --cleanup-on-failure)
/// and exits 130 / 143; the strict server holds what the message says.
#[test]
fn an_interrupted_upload_names_or_removes_its_pending_snapshot() {
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--rate", "slow=1", "--puts-only", "--slow-seconds", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let (recipe, img) = image(dir.path(), 4, 23, "\n[ami]\nname = \"stopped-{version}\"\n");
    let slowed = || proxy.get("/_proxy/stats")["slow"].as_u64().unwrap_or(0);
    for (signal, code, cleanup) in [("INT", 130, false), ("TERM", 143, true)] {
        let before = slowed();
        let sending = || slowed() > before;
        let mut cmd = ingot_aws(&proxy.endpoint());
        cmd.arg("upload").arg(&img).args(["--workers", "1", "--description", signal]);
        if cleanup {
            cmd.arg("--cleanup-on-failure");
        }
        let o = interrupted(&mut cmd, sending, signal);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{err}");
        assert!(o.stdout.is_empty());
        assert!(err.contains(&format!("ingot upload: stopping on SIG{signal}")), "{err}");
        assert!(err.contains(&format!("ingot upload stopped by SIG{signal}: ")), "{err}");
        let snap = snapshot_in(&err);
        let state = ebs_check(&["state", &moto.endpoint(), &snap]);
        if cleanup {
            assert!(err.contains(&format!("snapshot {snap} removed (--cleanup-on-failure)")), "{err}");
            assert_eq!(state, "absent", "--cleanup-on-failure deleted it");
        } else {
            assert!(err.contains(&format!("snapshot {snap} is left pending")), "{err}");
            assert!(err.contains(&format!("aws ec2 delete-snapshot --snapshot-id {snap}")), "{err}");
            assert_eq!(state, "pending", "the snapshot is left as the message says");
        }
    }

    // publish stops the same way, before any AMI exists.
    let mut cmd = ingot_aws(&proxy.endpoint());
    cmd.arg("publish").arg(&img).arg("--recipe").arg(&recipe).args(["--workers", "1", "--cleanup-on-failure"]);
    let before = slowed();
    let o = interrupted(&mut cmd, || slowed() > before, "INT");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    let snap = snapshot_in(&err);
    assert!(err.contains(&format!("snapshot {snap} removed (--cleanup-on-failure)")), "{err}");
    assert_eq!(ebs_check(&["state", &moto.endpoint(), &snap]), "absent");
    assert!(moto.ec2("RegisterImage").is_empty(), "no AMI was registered");
}

/// A second signal ends the process at once, even while a request is in flight.
#[test]
fn a_second_signal_exits_at_once() {
    let moto = Server::moto();
    let proxy = Server::proxy(&moto, &["--rate", "slow=1", "--slow-seconds", "20"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 1, 29, "");
    let hanging = || proxy.get("/_proxy/stats")["slow"].as_u64().unwrap_or(0) >= 1;
    let child = spawn_until(ingot_aws(&proxy.endpoint()).arg("upload").arg(&img), hanging);
    send_signal(child.id(), "INT");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = std::time::Instant::now();
    send_signal(child.id(), "INT");
    let o = child.wait_with_output().unwrap();
    assert!(second.elapsed() < std::time::Duration::from_secs(5), "the second SIGINT did not end it at once");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("ingot upload: stopping on SIGINT (send it again to exit at once)"), "{err}");
    assert!(err.contains("ingot upload stopped by a second SIGINT"), "{err}");
}

/// SIGTERM during `ingot download` removes the unfinished image and exits 143; nothing in
/// the account changes.
#[test]
fn an_interrupted_download_leaves_nothing_and_exits_143() {
    let moto = Server::moto();
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = image(dir.path(), 2, 31, "");
    let snap = upload(&moto.endpoint(), &img, &[])["snapshot_id"].as_str().unwrap().to_string();
    let proxy = Server::proxy(&moto, &["--rate", "slow=1", "--slow-seconds", "2"]);
    let out_dir = dir.path().join("restored");
    std::fs::create_dir(&out_dir).unwrap();
    let mut cmd = ingot_aws(&proxy.endpoint());
    cmd.args(["download", &snap]).arg(out_dir.join("disk.raw")).args(["--workers", "1"]);
    let writing = || names_in(&out_dir).iter().any(|n| n.starts_with(".ingot-download."));
    let o = interrupted(&mut cmd, writing, "TERM");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(
        err.contains("ingot download stopped by SIGTERM: removed the unfinished") && err.contains(".ingot-download."),
        "{err}"
    );
    assert_eq!(names_in(&out_dir), Vec::<String>::new(), "no image, whole or half, is left");
    assert_ne!(ebs_check(&["state", &moto.endpoint(), &snap]), "absent", "the snapshot is untouched");
}
