//! Bounded concurrency for the AWS calls that fan out (S3 objects, downloaded blocks):
//! one helper, so that every fan-out stops at its first error and keeps at most
//! `workers` requests in flight. (The upload bounds its blocks in memory with permits
//! its reader thread takes, see `upload.rs`: a pipeline, not a fan-out.)

use crate::Error;
use std::sync::Arc;

/// Runs `job(0..n)` with at most `workers` in flight on the runtime's threads, calling
/// `done` as each finishes; stops at the first error. The results in index order.
pub(crate) async fn each<T, F, Fut>(n: usize, workers: usize, job: F, done: &mut dyn FnMut(&T)) -> Result<Vec<T>, Error>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(workers.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut record = |r: Result<(usize, Result<T, Error>), tokio::task::JoinError>| {
        let (i, r) = r.map_err(|e| Error::Protocol(format!("a task failed: {e}")))?;
        let v = r?;
        done(&v);
        out[i] = Some(v);
        Ok::<(), Error>(())
    };
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.map_err(|_| Error::Protocol("the work was stopped".into()))?;
        let fut = job(i);
        tasks.spawn(async move {
            let r = fut.await;
            drop(permit);
            (i, r)
        });
        while let Some(r) = tasks.try_join_next() {
            record(r)?;
        }
    }
    while let Some(r) = tasks.join_next().await {
        record(r)?;
    }
    Ok(out.into_iter().flatten().collect())
}
