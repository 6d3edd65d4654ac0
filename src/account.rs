//! What the two publish pipelines (EBS-backed, `publish.rs`; instance-store,
//! `instance_store.rs`) share in the account: reusing an AMI of the same name, showing
//! long AWS work on the progress, and what a failure left behind ([`Leftovers`]), which
//! the error names with the commands that remove it, or which is removed when the user
//! asked for that.

use crate::error::Error;
use crate::{Progress, RegisterChoice};
use ingot_aws::{AmiSpec, RegisterReport, Session};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the progress of long AWS work is redrawn: often enough to look live, rarely
/// enough to cost nothing next to the requests it shows.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

/// The AMI named `spec.name` when one exists and `register.force` is not set: its report,
/// with the SSM parameter brought up to date. Publishing it again would do nothing else.
pub(crate) fn reuse(
    session: &Session,
    spec: &AmiSpec,
    register: &RegisterChoice,
) -> crate::Result<Option<RegisterReport>> {
    if register.force {
        return Ok(None);
    }
    let Some(id) = session.find_image(&spec.name)? else { return Ok(None) };
    let mut report = RegisterReport::reused(id, &spec.name, session.region());
    session.publish_parameters(spec, &mut report, &register.options())?;
    Ok(Some(report))
}

/// Runs `work` while another thread calls `show` every [`PROGRESS_TICK`] (to draw the
/// counters the work updates on `progress`); ends the progress when the work ends.
pub(crate) fn watched<T>(progress: &Progress, show: impl Fn() + Sync, work: impl FnOnce() -> T) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                show();
                std::thread::sleep(PROGRESS_TICK);
            }
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        progress.finish();
        r
    })
}

/// A bundle in S3 that a failed publish left.
#[derive(Clone, Debug)]
pub(crate) struct BundleLeft {
    /// The bucket.
    pub bucket: String,
    /// `bucket/prefix/NAME.manifest.xml`.
    pub image_location: String,
    /// The keys this run wrote (removed on clean-up).
    pub sent: Vec<String>,
    /// Objects that were there before this run, with a manifest another AMI may use:
    /// never removed.
    pub kept: usize,
}

/// What a failed or stopped publish left in the account: the AMI it registered, the
/// snapshot it wrote, the bundle it sent. Its `Display` names them and the commands that
/// remove them; [`Leftovers::remove`] removes them instead.
#[derive(Clone, Debug)]
pub(crate) struct Leftovers {
    /// The region they are in.
    pub region: String,
    /// The AMI registered.
    pub image: Option<String>,
    /// The snapshot written.
    pub snapshot: Option<String>,
    /// The bundle sent.
    pub bundle: Option<BundleLeft>,
}

impl Leftovers {
    /// "AMI ami-… and snapshot snap-…", "the bundle s3://…".
    fn what(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(self.image.as_ref().map(|i| format!("AMI {i}")));
        parts.extend(self.snapshot.as_ref().map(|s| format!("snapshot {s}")));
        parts.extend(self.bundle.as_ref().map(|b| format!("the bundle s3://{}", b.image_location)));
        parts.join(" and ")
    }

    /// The AWS CLI commands that remove them.
    fn commands(&self) -> Vec<String> {
        let mut how = Vec::new();
        how.extend(self.image.as_ref().map(|i| format!("`aws ec2 deregister-image --image-id {i}`")));
        how.extend(self.snapshot.as_ref().map(|s| format!("`aws ec2 delete-snapshot --snapshot-id {s}`")));
        if let Some(b) = &self.bundle {
            let (dir, file) = b.image_location.rsplit_once('/').unwrap_or((b.bucket.as_str(), ""));
            let name = file.trim_end_matches(".manifest.xml");
            how.push(format!(
                "`aws s3 rm --recursive s3://{dir}/ --exclude '*' --include '{name}.part.*' --include '{name}.manifest.xml'`"
            ));
        }
        how
    }

    /// Removes them (the AMI first, then the snapshot or the objects this run sent); says
    /// what was removed, or why not.
    pub(crate) fn remove(self, session: &Session) -> String {
        let what = self.what();
        let mut removed = session.cleanup(self.image.as_deref(), self.snapshot.as_deref());
        let kept = self.bundle.as_ref().map_or(0, |b| b.kept);
        if let (Ok(()), Some(b)) = (&removed, &self.bundle) {
            removed = session.delete_objects(&self.region, &b.bucket, &b.sent);
        }
        let nothing_sent = self.image.is_none() && self.bundle.as_ref().is_some_and(|b| b.sent.is_empty());
        match removed {
            Ok(()) if kept == 0 => format!("{what} removed (`cleanup_on_failure`)"),
            Ok(()) if nothing_sent => format!(
                "nothing removed (`cleanup_on_failure`): all {kept} objects of {what} were there before this run, with a manifest another AMI may use"
            ),
            Ok(()) => format!(
                "{what} removed (`cleanup_on_failure`), except {kept} objects that were there before this run, with a manifest another AMI may use"
            ),
            Err(c) => format!("{what} left behind in {}: removing them failed too ({c})", self.region),
        }
    }

    /// `err` in the course of what is left: removed when `cleanup`, else named with the
    /// commands that remove it and `again` (how to finish the work instead).
    pub(crate) fn on(self, session: &Session, err: Error, cleanup: bool, again: &str) -> Error {
        if cleanup {
            return err.context(self.remove(session));
        }
        err.context(format!("{self} (or publish with `cleanup_on_failure`); {again}"))
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, how) = (self.what(), self.commands().join(", "));
        write!(f, "{what} left behind in {}: remove them with {how}", self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_name_themselves_and_the_commands_that_remove_them() {
        let left = Leftovers {
            region: "eu-west-1".into(),
            image: Some("ami-1".into()),
            snapshot: None,
            bundle: Some(BundleLeft {
                bucket: "b".into(),
                image_location: "b/web/1/hello.raw.manifest.xml".into(),
                sent: vec![],
                kept: 0,
            }),
        };
        assert_eq!(
            left.to_string(),
            "AMI ami-1 and the bundle s3://b/web/1/hello.raw.manifest.xml left behind in eu-west-1: remove them with \
             `aws ec2 deregister-image --image-id ami-1`, `aws s3 rm --recursive s3://b/web/1/ --exclude '*' \
             --include 'hello.raw.part.*' --include 'hello.raw.manifest.xml'`"
        );
        let snap = Leftovers { region: "r".into(), image: None, snapshot: Some("snap-1".into()), bundle: None };
        assert!(snap
            .to_string()
            .starts_with("snapshot snap-1 left behind in r: remove them with `aws ec2 delete-snapshot"));
    }
}
