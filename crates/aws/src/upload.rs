//! `upload`: an image into a new EBS snapshot through the EBS direct API.

use crate::blocks::{Block, Digests, Next, Scanner, Skipped, ZeroBlocks, BLOCK_SIZE};
use crate::retry::{classify, retry, retry_classified, Failure};
use crate::{b64, Error, Session};
use aws_sdk_ebs::primitives::ByteStream;
use aws_sdk_ebs::types::{ChecksumAggregationMethod, ChecksumAlgorithm, Status, Tag};
use bytes::Bytes;
use ingot_types::control::Control;
use ingot_types::ebs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const GIB: u64 = 1 << 30;

/// PutSnapshotBlock requests in flight by default: enough to keep EBS's per-snapshot
/// limit of 1,000 requests a second busy at tens of milliseconds per request, while
/// holding at most 64 × 512 KiB = 32 MiB of blocks in memory.
pub const DEFAULT_WORKERS: usize = 64;

/// Requests in flight a caller may ask for: at least one, and no more than 1,024 (512 MiB
/// of blocks in memory, far past what one snapshot's request rate can use).
pub const WORKERS: std::ops::RangeInclusive<usize> = 1..=1024;

/// What to upload and how.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Volume size in GiB; default: the image size rounded up. Never smaller than that.
    pub volume_size_gib: Option<u64>,
    /// The snapshot's description.
    pub description: String,
    /// Tags on the snapshot.
    pub tags: Vec<(String, String)>,
    /// Idempotency token of StartSnapshot (≤ 64 characters): derive it from the image's
    /// digest so that a retried publish of the same image reuses its snapshot.
    pub client_token: Option<String>,
    /// Encrypt the snapshot.
    pub encrypted: bool,
    /// The KMS key for an encrypted snapshot (default: the account's EBS key).
    pub kms_key_arn: Option<String>,
    /// Minutes EBS waits for CompleteSnapshot before it fails the snapshot (10–4320).
    pub timeout_minutes: u32,
    /// An incremental upload: the parent snapshot and the digests of its blocks.
    pub parent: Option<(String, Digests)>,
    /// What to do with all-zero blocks (see [`ZeroBlocks`]).
    pub zero_blocks: ZeroBlocks,
    /// The build report's digests of the image's non-zero blocks: every block read is
    /// checked against them ([`Error::Changed`] names the first that differs), and a
    /// block they and the parent's give the same digest is skipped unread.
    pub expect: Option<Digests>,
    /// PutSnapshotBlock requests in flight; also bounds memory to workers × 512 KiB.
    pub workers: usize,
    /// Client-side bound on PutSnapshotBlock requests per second (EBS allows 1,000 per snapshot).
    pub requests_per_second: u32,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            volume_size_gib: None,
            description: String::new(),
            tags: Vec::new(),
            client_token: None,
            encrypted: false,
            kms_key_arn: None,
            timeout_minutes: ebs::DEFAULT_SNAPSHOT_TIMEOUT_MINUTES,
            parent: None,
            zero_blocks: ZeroBlocks::Skip,
            expect: None,
            workers: DEFAULT_WORKERS,
            requests_per_second: 950,
        }
    }
}

/// Live counters of an upload, read by a progress bar on another thread.
#[derive(Debug, Default)]
pub struct BlockCounters {
    /// Candidate blocks (an upper bound of the blocks sent).
    pub total: AtomicU64,
    /// Candidate blocks dealt with (sent or skipped).
    pub done: AtomicU64,
    /// Bytes sent.
    pub bytes: AtomicU64,
    /// Retried attempts.
    pub retries: AtomicU64,
}

/// What an upload did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadReport {
    /// The snapshot.
    pub snapshot_id: String,
    /// The region.
    pub region: String,
    /// True when StartSnapshot returned a snapshot already completed (same client token).
    pub reused: bool,
    /// Volume size in GiB.
    pub volume_size_gib: u64,
    /// Always 524288.
    pub block_size: u64,
    /// Blocks sent with PutSnapshotBlock.
    pub blocks_written: u64,
    /// Candidate blocks skipped as all zeros.
    pub blocks_zero_skipped: u64,
    /// Candidate blocks skipped as equal to the parent's.
    pub blocks_unchanged: u64,
    /// Bytes sent.
    pub bytes_written: u64,
    /// Retried attempts of any call.
    pub retries: u64,
    /// The LINEAR aggregate checksum sent with CompleteSnapshot (base64).
    pub checksum: String,
    /// The parent snapshot, if incremental.
    pub parent_snapshot_id: Option<String>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// SHA-256 (base64) of every non-zero block of the image, by index: what a later
    /// `--parent` upload compares against.
    pub blocks: BTreeMap<u64, String>,
}

/// Whether a refused CompleteSnapshot says the snapshot is complete already.
fn completed_already(code: &str, message: &str) -> bool {
    code == "ValidationException" && message.to_ascii_lowercase().contains("already completed")
}

/// Checks the options against the API's limits; returns the volume size in GiB.
pub fn check(image_size: u64, opts: &UploadOptions) -> Result<u64, Error> {
    let needed = image_size.div_ceil(GIB).max(1);
    let size = opts.volume_size_gib.unwrap_or(needed);
    if !ebs::VOLUME_SIZE_GIB.contains(&size) {
        let (lo, hi) = ebs::VOLUME_SIZE_GIB.into_inner();
        return Err(Error::Invalid(format!("volume size {size} GiB is outside EBS's {lo}–{hi} GiB")));
    }
    if size < needed {
        return Err(Error::Invalid(format!(
            "volume size {size} GiB is smaller than the image ({image_size} bytes need {needed} GiB)"
        )));
    }
    if !ebs::SNAPSHOT_TIMEOUT_MINUTES.contains(&opts.timeout_minutes) {
        let (lo, hi) = ebs::SNAPSHOT_TIMEOUT_MINUTES.into_inner();
        return Err(Error::Invalid(format!(
            "snapshot timeout {} minutes is outside StartSnapshot's {lo}–{hi}",
            opts.timeout_minutes
        )));
    }
    if opts.encrypted && opts.parent.is_some() {
        return Err(Error::Invalid(
            "`encrypted` and `parent` cannot be combined: StartSnapshot takes the encryption of a parent snapshot from the parent; drop `encrypted`".into(),
        ));
    }
    if opts.kms_key_arn.is_some() && !opts.encrypted {
        return Err(Error::Invalid("a KMS key is only used with encryption: add `encrypted`".into()));
    }
    if !WORKERS.contains(&opts.workers) {
        return Err(Error::Invalid(format!(
            "workers must be {}–{}, not {}",
            WORKERS.start(),
            WORKERS.end(),
            opts.workers
        )));
    }
    if opts.client_token.as_ref().is_some_and(|t| t.len() > 64) {
        return Err(Error::Invalid("the client token is longer than 64 characters".into()));
    }
    Ok(size)
}

impl Session {
    /// Uploads `image` into a new snapshot and completes it. Blocks until done.
    pub fn upload(
        &self,
        image: &Path,
        opts: &UploadOptions,
        progress: &Arc<BlockCounters>,
    ) -> Result<UploadReport, Error> {
        let parent = opts.parent.as_ref().map(|p| p.1.clone()).unwrap_or_default();
        let scanner = Scanner::open(image, &opts.zero_blocks, parent, opts.expect.clone())?;
        let volume = check(scanner.size(), opts)?;
        self.rt.block_on(self.upload_async(scanner, volume, opts, progress))
    }

    async fn upload_async(
        &self,
        scanner: Scanner,
        volume: u64,
        opts: &UploadOptions,
        progress: &Arc<BlockCounters>,
    ) -> Result<UploadReport, Error> {
        let started = Instant::now();
        self.control.check()?;
        let (snapshot_id, status) = self.start_snapshot(volume, opts, progress).await?;
        let mut report = UploadReport {
            snapshot_id: snapshot_id.clone(),
            region: self.region.clone(),
            reused: status == Status::Completed,
            volume_size_gib: volume,
            block_size: BLOCK_SIZE,
            blocks_written: 0,
            blocks_zero_skipped: 0,
            blocks_unchanged: 0,
            bytes_written: 0,
            retries: 0,
            checksum: String::new(),
            parent_snapshot_id: opts.parent.as_ref().map(|p| p.0.clone()),
            seconds: 0.0,
            blocks: BTreeMap::new(),
        };
        match status {
            Status::Pending => self.control.note_pending(&snapshot_id, true),
            Status::Completed => {
                // The client token covers the image's digest and the request, so the
                // snapshot holds what this upload would have written: its block digests
                // (for a later --parent-report) are computed here, nothing is sent.
                let content = tokio::task::block_in_place(|| scanner.content_only())?;
                report.blocks = content.iter().map(|(&i, d)| (i, b64(d))).collect();
                report.retries = progress.retries.load(Ordering::Relaxed);
                report.seconds = started.elapsed().as_secs_f64();
                return Ok(report);
            }
            other => {
                return Err(Error::Protocol(format!(
                    "StartSnapshot returned {snapshot_id} in state {other}; it cannot be written (a client token reused for another image?)"
                )))
            }
        }
        progress.total.store(scanner.candidates(), Ordering::Relaxed);
        let pending = |e: Error| Error::Pending {
            snapshot: snapshot_id.clone(),
            minutes: opts.timeout_minutes,
            cause: Box::new(e),
        };
        let scanned = self.put_blocks(&snapshot_id, scanner, opts, progress, started).await.map_err(pending)?;
        let checksum = b64(&scanned.aggregate);
        self.complete_snapshot(&snapshot_id, scanned.written, &checksum, progress, started).await.map_err(pending)?;
        self.control.note_pending(&snapshot_id, false);
        report.blocks_written = scanned.written;
        report.blocks_zero_skipped = scanned.zero;
        report.blocks_unchanged = scanned.unchanged;
        report.bytes_written = progress.bytes.load(Ordering::Relaxed);
        report.retries = progress.retries.load(Ordering::Relaxed);
        report.checksum = checksum;
        report.blocks = scanned.content.iter().map(|(&i, d)| (i, b64(d))).collect();
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    async fn start_snapshot(
        &self,
        volume: u64,
        opts: &UploadOptions,
        progress: &BlockCounters,
    ) -> Result<(String, Status), Error> {
        let tags: Vec<Tag> = opts.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let out = retry("StartSnapshot", &self.retry, &progress.retries, None, || {
            self.ebs
                .start_snapshot()
                .volume_size(volume as i64)
                .description(&opts.description)
                .set_tags(Some(tags.clone()))
                .set_client_token(opts.client_token.clone())
                .set_encrypted(opts.encrypted.then_some(true))
                .set_kms_key_arn(opts.kms_key_arn.clone())
                .timeout(opts.timeout_minutes as i32)
                .set_parent_snapshot_id(opts.parent.as_ref().map(|p| p.0.clone()))
                .send()
        })
        .await?;
        let id = out.snapshot_id().ok_or_else(|| Error::Protocol("StartSnapshot returned no SnapshotId".into()))?;
        if out.block_size() != Some(BLOCK_SIZE as i32) {
            return Err(Error::Protocol(format!(
                "StartSnapshot reported BlockSize {} for {id}; EBS direct blocks are {BLOCK_SIZE} bytes, so ingot will not write to it (the snapshot is left pending and expires after {} minutes)",
                out.block_size().map_or("(none)".into(), |b| b.to_string()),
                opts.timeout_minutes
            )));
        }
        Ok((id.to_string(), out.status().cloned().unwrap_or(Status::Pending)))
    }

    async fn complete_snapshot(
        &self,
        id: &str,
        changed: u64,
        checksum: &str,
        progress: &BlockCounters,
        started: Instant,
    ) -> Result<(), Error> {
        let window = self.retry.not_found_window.saturating_sub(started.elapsed());
        // A CompleteSnapshot whose answer was lost (a timeout, a reset) may have completed
        // the snapshot: its retry is then refused as "already completed", which means done.
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let attempt = || async {
            let retried = attempts.fetch_add(1, Ordering::Relaxed) > 0;
            let answer = self
                .ebs
                .complete_snapshot()
                .snapshot_id(id)
                .changed_blocks_count(changed as i32)
                .checksum(checksum)
                .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                .checksum_aggregation_method(ChecksumAggregationMethod::ChecksumAggregationLinear)
                .send()
                .await;
            match answer {
                Ok(out) => Ok(out.status().cloned()),
                Err(e) => match classify(&e) {
                    Failure::Fatal { code, message } if retried && completed_already(&code, &message) => Ok(None),
                    failure => Err(failure),
                },
            }
        };
        let status =
            retry_classified("CompleteSnapshot", &self.retry, &progress.retries, Some(window), attempt).await?;
        match status {
            Some(Status::Error) => Err(Error::Protocol(format!("CompleteSnapshot put {id} in state error"))),
            _ => Ok(()),
        }
    }

    /// Sends every block the scanner chooses with at most `workers` blocks in memory.
    async fn put_blocks(
        &self,
        id: &str,
        scanner: Scanner,
        opts: &UploadOptions,
        progress: &Arc<BlockCounters>,
        started: Instant,
    ) -> Result<Scanned, Error> {
        let permits = Arc::new(Semaphore::new(opts.workers));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
        let reader = {
            let (permits, handle, control) = (permits.clone(), tokio::runtime::Handle::current(), self.control.clone());
            std::thread::spawn(move || read_blocks(scanner, permits, handle, tx, recycle_rx, &control))
        };
        let ctx = Arc::new(PutContext {
            ebs: self.ebs.clone(),
            id: id.to_string(),
            retry: self.retry,
            limiter: RateLimiter::new(opts.requests_per_second),
            not_found_until: started + self.retry.not_found_window,
            progress: progress.clone(),
        });
        let mut tasks = tokio::task::JoinSet::new();
        let mut failure = None;
        while let Some((block, permit)) = rx.recv().await {
            let Some(block) = block else {
                progress.done.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (ctx, recycle) = (ctx.clone(), recycle_tx.clone());
            tasks
                .spawn(async move { ctx.put(block, Pooled { buf: Vec::new(), back: recycle, _permit: permit }).await });
            while let Some(done) = tasks.try_join_next() {
                failure = failure.or(flatten(done).err());
            }
            if failure.is_some() {
                break;
            }
        }
        drop(rx);
        while failure.is_none() && !self.control.stop_requested() {
            match tasks.join_next().await {
                Some(done) => failure = flatten(done).err(),
                None => break,
            }
        }
        // A stop drops the requests in flight: the snapshot misses blocks, so it must not
        // be completed even when the reader had read them all.
        if failure.is_none() && self.control.stop_requested() {
            failure = Some(Error::Stopped);
        }
        tasks.abort_all();
        permits.close();
        let scanned = reader.join().map_err(|_| Error::Protocol("the block reader panicked".into()))?;
        match failure {
            Some(e) => Err(e),
            None => scanned,
        }
    }
}

/// What the reader found.
struct Scanned {
    written: u64,
    zero: u64,
    unchanged: u64,
    aggregate: [u8; 32],
    content: BTreeMap<u64, [u8; 32]>,
}

/// A block to send (or `None` for a skipped candidate) and the permit that bounds memory.
type Item = (Option<Block>, Option<OwnedSemaphorePermit>);

/// The reader thread: reads and hashes candidates in index order, one permit per block
/// held until its upload ends. Stops when the receiver is gone or the permits are closed.
fn read_blocks(
    mut scanner: Scanner,
    permits: Arc<Semaphore>,
    handle: tokio::runtime::Handle,
    tx: tokio::sync::mpsc::UnboundedSender<Item>,
    recycle: mpsc::Receiver<Vec<u8>>,
    control: &Control,
) -> Result<Scanned, Error> {
    let (mut written, mut zero, mut unchanged) = (0, 0, 0);
    let mut spare = None;
    loop {
        let Ok(permit) = handle.block_on(permits.clone().acquire_owned()) else { break };
        control.check()?;
        let buf = spare.take().or_else(|| recycle.try_recv().ok()).unwrap_or_default();
        let item = match scanner.next_block(buf)? {
            None => break,
            Some(Next::Send(block)) => {
                written += 1;
                (Some(block), Some(permit))
            }
            Some(Next::Skip(why, buf)) => {
                spare = Some(buf);
                match why {
                    Skipped::Zero => zero += 1,
                    Skipped::Unchanged => unchanged += 1,
                }
                (None, None)
            }
        };
        if tx.send(item).is_err() {
            break;
        }
    }
    Ok(Scanned {
        written,
        zero,
        unchanged,
        aggregate: scanner.aggregate(),
        content: std::mem::take(&mut scanner.content),
    })
}

fn flatten(r: Result<Result<(), Error>, tokio::task::JoinError>) -> Result<(), Error> {
    r.map_err(|e| Error::Protocol(format!("an upload task failed: {e}")))?
}

/// Everything a PutSnapshotBlock task needs.
struct PutContext {
    ebs: aws_sdk_ebs::Client,
    id: String,
    retry: crate::RetryPolicy,
    limiter: RateLimiter,
    not_found_until: Instant,
    progress: Arc<BlockCounters>,
}

impl PutContext {
    /// Sends one block (retrying as classified). Its buffer goes back to the reader, and
    /// its permit is released, when the last reference to the body is dropped, wherever
    /// the SDK or the HTTP client keeps one.
    async fn put(&self, block: Block, mut pooled: Pooled) -> Result<(), Error> {
        let checksum = b64(&block.digest);
        pooled.buf = block.data;
        let bytes = Bytes::from_owner(pooled);
        let total = self.progress.total.load(Ordering::Relaxed).max(1);
        let percent = (self.progress.done.load(Ordering::Relaxed) * 100 / total).min(100) as i32;
        let window = self.not_found_until.saturating_duration_since(Instant::now());
        retry("PutSnapshotBlock", &self.retry, &self.progress.retries, Some(window), || {
            let bytes = bytes.clone();
            let checksum = checksum.clone();
            async move {
                self.limiter.wait().await;
                self.ebs
                    .put_snapshot_block()
                    .snapshot_id(&self.id)
                    .block_index(block.index as i32)
                    .block_data(ByteStream::from(bytes))
                    .data_length(BLOCK_SIZE as i32)
                    .checksum(checksum)
                    .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                    .progress(percent)
                    .send()
                    .await
            }
        })
        .await?;
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        self.progress.bytes.fetch_add(BLOCK_SIZE, Ordering::Relaxed);
        Ok(())
    }
}

/// A block's buffer lent to a request body: when dropped it goes back to the reader for
/// the next block, and then the permit that bounds the blocks in memory is released. A
/// block is never copied and a buffer never allocated twice.
struct Pooled {
    buf: Vec<u8>,
    back: mpsc::Sender<Vec<u8>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let _ = self.back.send(std::mem::take(&mut self.buf));
    }
}

/// Spaces requests at least `1 / rate` seconds apart (attempts of retries included).
struct RateLimiter {
    interval: Duration,
    next: std::sync::Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: std::sync::Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}
