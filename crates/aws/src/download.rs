//! `download`: a snapshot into a sparse raw image, every block's checksum verified.

use crate::blocks::BLOCK_SIZE;
use crate::pool::each;
use crate::retry::{classify, retry, retry_classified, Failure};
use crate::{b64, BlockCounters, Digests, Error, Session};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// GetSnapshotBlock requests in flight by default: GetSnapshotBlock has its own
/// per-snapshot limit (1,000 a second) and a download writes every block to a local
/// file; 32 keeps a local disk busy with 16 MiB of blocks in memory.
pub const DEFAULT_DOWNLOAD_WORKERS: usize = 32;

/// GetSnapshotBlock requests in flight when reading a parent snapshot's blocks only to
/// hash them: half the download's, since nothing is written and the upload follows.
pub const PARENT_READ_WORKERS: usize = 16;

/// How to download.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// GetSnapshotBlock requests in flight.
    pub workers: usize,
}

/// What a download did.
#[derive(Clone, Debug, Serialize)]
pub struct DownloadReport {
    /// The snapshot.
    pub snapshot_id: String,
    /// Image size in bytes (the volume size).
    pub size: u64,
    /// Blocks fetched.
    pub blocks: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// SHA-256 of every non-zero block written, each checked against the checksum EBS
    /// sent with it: what the image digest of the download is computed from, without
    /// reading the file back.
    #[serde(skip)]
    pub digests: Digests,
}

impl Session {
    /// Writes snapshot `id` to `out` (created; blocks the snapshot lacks stay holes).
    pub fn download(
        &self,
        id: &str,
        out: &Path,
        opts: &DownloadOptions,
        progress: &Arc<BlockCounters>,
    ) -> Result<DownloadReport, Error> {
        let started = std::time::Instant::now();
        let (size, blocks) = self.rt.block_on(self.list_blocks(id, progress))?;
        let file = Arc::new(File::create(out).map_err(Error::io(out))?);
        file.set_len(size).map_err(Error::io(out))?;
        progress.total.store(blocks.len() as u64, Ordering::Relaxed);
        let (writer, path) = (file.clone(), out.to_path_buf());
        let sink: Sink =
            Arc::new(move |index, data| writer.write_all_at(data, index * BLOCK_SIZE).map_err(Error::io(&path)));
        let digests = self.rt.block_on(self.fetch_blocks(id, &blocks, sink, opts.workers.max(1), progress))?;
        file.sync_all().map_err(Error::io(out))?;
        Ok(DownloadReport {
            snapshot_id: id.to_string(),
            size,
            blocks: blocks.len() as u64,
            retries: progress.retries.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
            digests,
        })
    }

    /// ListSnapshotBlocks, every page: the volume size in bytes and (index, token) pairs.
    async fn list_blocks(&self, id: &str, progress: &BlockCounters) -> Result<(u64, Vec<(i32, String)>), Error> {
        let mut blocks = Vec::new();
        let mut token: Option<String> = None;
        let mut size;
        loop {
            let out = retry("ListSnapshotBlocks", &self.retry, &progress.retries, None, || {
                self.ebs.list_snapshot_blocks().snapshot_id(id).set_next_token(token.clone()).max_results(10_000).send()
            })
            .await?;
            if out.block_size() != Some(BLOCK_SIZE as i32) {
                return Err(Error::Protocol(format!(
                    "ListSnapshotBlocks reported BlockSize {} for {id}; EBS direct blocks are {BLOCK_SIZE} bytes",
                    out.block_size().map_or("(none)".into(), |b| b.to_string())
                )));
            }
            size = out.volume_size().unwrap_or(0) as u64 * (1 << 30);
            for b in out.blocks() {
                if let (Some(i), Some(t)) = (b.block_index(), b.block_token()) {
                    blocks.push((i, t.to_string()));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if let Some(&(i, _)) = blocks.iter().find(|(i, _)| *i < 0 || (*i as u64 + 1) * BLOCK_SIZE > size) {
            return Err(Error::Protocol(format!("{id}: block {i} lies outside the {size}-byte volume")));
        }
        Ok((size, blocks))
    }

    /// The SHA-256 of every block snapshot `id` holds, read back and verified: the parent
    /// digests of an incremental upload when no earlier report has them.
    pub fn snapshot_digests(&self, id: &str, workers: usize, progress: &Arc<BlockCounters>) -> Result<Digests, Error> {
        let (_, blocks) = self.rt.block_on(self.list_blocks(id, progress))?;
        progress.total.store(blocks.len() as u64, Ordering::Relaxed);
        let sink: Sink = Arc::new(|_, _| Ok(()));
        self.rt.block_on(self.fetch_blocks(id, &blocks, sink, workers.max(1), progress))
    }

    /// GetSnapshotBlock of every listed block, `workers` at a time, each verified and
    /// handed to `sink`; returns the verified SHA-256 of every non-zero block.
    async fn fetch_blocks(
        &self,
        id: &str,
        blocks: &[(i32, String)],
        sink: Sink,
        workers: usize,
        progress: &Arc<BlockCounters>,
    ) -> Result<Digests, Error> {
        let digests = Arc::new(Mutex::new(Digests::new()));
        let job = |i: usize| {
            let (index, token) = blocks[i].clone();
            let (ebs, policy, id, sink, progress, digests) =
                (self.ebs.clone(), self.retry, id.to_string(), sink.clone(), progress.clone(), digests.clone());
            async move {
                let (data, digest) = get_block(&ebs, &policy, &id, index, &token, &progress).await?;
                sink(index as u64, &data)?;
                if !ingot_disk::is_zero(&data) {
                    digests.lock().unwrap_or_else(|e| e.into_inner()).insert(index as u64, digest);
                }
                progress.done.fetch_add(1, Ordering::Relaxed);
                progress.bytes.fetch_add(BLOCK_SIZE, Ordering::Relaxed);
                Ok(())
            }
        };
        each(blocks.len(), workers, job, &mut |_| {}).await?;
        let digests = std::mem::take(&mut *digests.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(digests)
    }
}

/// Where fetched blocks go.
type Sink = Arc<dyn Fn(u64, &[u8]) -> Result<(), Error> + Send + Sync>;

/// GetSnapshotBlock with retries; the data's SHA-256 must equal the checksum sent with it.
/// Returns the data and that SHA-256.
async fn get_block(
    ebs: &aws_sdk_ebs::Client,
    policy: &crate::RetryPolicy,
    id: &str,
    index: i32,
    token: &str,
    progress: &BlockCounters,
) -> Result<(Vec<u8>, [u8; 32]), Error> {
    // The request and its body are one attempt: a body cut off mid-way is retried (with
    // backoff, counted) like a failed request.
    let attempt = || async {
        let out = ebs
            .get_snapshot_block()
            .snapshot_id(id)
            .block_index(index)
            .block_token(token)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let checksum = out.checksum().map(str::to_string);
        let data = out.block_data.collect().await;
        let data = data.map_err(|e| Failure::Transient(format!("reading the block's data: {e}")))?;
        Ok((checksum, data.to_vec()))
    };
    let (checksum, data) = retry_classified("GetSnapshotBlock", policy, &progress.retries, None, attempt).await?;
    let digest: [u8; 32] = Sha256::digest(&data).into();
    let want = b64(&digest);
    if data.len() as u64 != BLOCK_SIZE || checksum.as_deref() != Some(want.as_str()) {
        return Err(Error::Checksum {
            snapshot: id.to_string(),
            index: index as u64,
            got: checksum.unwrap_or_else(|| "(none)".into()),
            want: format!("{want}, {} bytes", data.len()),
        });
    }
    Ok((data, digest))
}
