//! Which 512 KiB blocks of an image an upload sends, read and hashed in index order.
//!
//! Candidates are the blocks that hold data (SEEK_DATA), plus, for an encrypted snapshot,
//! the blocks the filesystems rely on reading as zeros, plus, for an incremental upload,
//! the blocks the parent snapshot holds. Each candidate is read and hashed once; all-zero
//! blocks are dropped unless something relies on them, and blocks equal to the parent's are
//! dropped. What remains is sent, and its digests feed the LINEAR aggregate checksum in
//! block-index order as they are read.
//!
//! Given the build report's block digests, every block read is checked against them (so
//! every block the report lists is a candidate), and a block the report and the parent
//! give the same digest is skipped without being read: an incremental upload reads what
//! changed, not the image.

use crate::Error;
pub use ingot_disk::digest::BLOCK_SIZE;
use ingot_disk::is_zero;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// SHA-256 digests of blocks by index.
pub type Digests = ingot_disk::digest::BlockDigests;

/// What to do with all-zero blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZeroBlocks {
    /// Skip them: unwritten blocks of an unencrypted snapshot read as zeros.
    Skip,
    /// Write the all-zero blocks that touch these byte ranges (what the filesystems rely
    /// on reading as zeros); skip the rest.
    WriteRelied(Vec<(u64, u64)>),
    /// Write every block of the image, zero or not.
    WriteAll,
}

/// One block chosen for upload.
#[derive(Debug)]
pub struct Block {
    /// Block index (offset / 512 KiB).
    pub index: u64,
    /// Exactly [`BLOCK_SIZE`] bytes (the image's last block padded with zeros).
    pub data: Vec<u8>,
    /// SHA-256 of `data`.
    pub digest: [u8; 32],
}

/// Why a candidate block was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// All zeros and nothing relies on it.
    Zero,
    /// Same digest as the parent snapshot's block.
    Unchanged,
}

/// The scanner's verdict on one candidate.
#[derive(Debug)]
pub enum Next {
    /// Send it.
    Send(Block),
    /// Skip it; the buffer comes back for reuse.
    Skip(Skipped, Vec<u8>),
}

/// Walks the candidate blocks of an image in index order.
pub struct Scanner {
    path: PathBuf,
    file: File,
    size: u64,
    ranges: Vec<(u64, u64)>,
    range: usize,
    next: u64,
    relied: Vec<(u64, u64)>,
    all_zeros: bool,
    parent: Digests,
    expect: Option<Digests>,
    /// The aggregate checksum state: digests of sent blocks in index order.
    aggregate: Sha256,
    /// Digests of every non-zero block of the image (the new snapshot's content, for a
    /// later incremental upload): the report's, else those seen.
    pub content: Digests,
}

impl Scanner {
    /// Opens `path` and plans its candidates; `expect` is the build report's digests of
    /// its non-zero blocks, if it has one.
    pub fn open(path: &Path, zeros: &ZeroBlocks, parent: Digests, expect: Option<Digests>) -> Result<Scanner, Error> {
        let file = File::open(path).map_err(Error::io(path))?;
        let size = file.metadata().map_err(Error::io(path))?.len();
        let blocks = size.div_ceil(BLOCK_SIZE);
        let mut ranges: Vec<(u64, u64)> = match zeros {
            ZeroBlocks::WriteAll => vec![(0, blocks)],
            _ => ingot_disk::data_ranges(&file, size).map_err(Error::io(path))?.iter().map(|&r| to_blocks(r)).collect(),
        };
        let relied: Vec<(u64, u64)> = match zeros {
            ZeroBlocks::WriteRelied(r) => r.iter().map(|&r| to_blocks(r)).collect(),
            _ => Vec::new(),
        };
        ranges.extend(&relied);
        ranges.extend(parent.keys().map(|&k| (k, k + 1)));
        ranges.extend(expect.iter().flat_map(|e| e.keys()).map(|&k| (k, k + 1)));
        Ok(Scanner {
            path: path.to_path_buf(),
            file,
            size,
            ranges: merge(ranges),
            range: 0,
            next: 0,
            relied: merge(relied),
            all_zeros: *zeros == ZeroBlocks::WriteAll,
            parent,
            content: expect.clone().unwrap_or_default(),
            expect,
            aggregate: Sha256::new(),
        })
    }

    /// The image's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many candidate blocks there are (an upper bound of the blocks sent).
    pub fn candidates(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    /// The next candidate index, in ascending order.
    fn next_index(&mut self) -> Option<u64> {
        while let Some(&(s, e)) = self.ranges.get(self.range) {
            let i = self.next.max(s);
            if i < e {
                self.next = i + 1;
                return Some(i);
            }
            self.range += 1;
        }
        None
    }

    /// Reads the next candidate into `data` (a buffer reused between calls) and decides
    /// what to do with it; `None` at the end.
    pub fn next_block(&mut self, mut data: Vec<u8>) -> Result<Option<Next>, Error> {
        let Some(index) = self.next_index() else { return Ok(None) };
        if let (Some(want), Some(had)) = (self.expect.as_ref().and_then(|e| e.get(&index)), self.parent.get(&index)) {
            if want == had {
                return Ok(Some(Next::Skip(Skipped::Unchanged, data)));
            }
        }
        // A reused buffer is overwritten, not cleared: only a short last block's tail
        // (or a block past the image's end) is zeroed.
        data.resize(BLOCK_SIZE as usize, 0);
        let offset = index * BLOCK_SIZE;
        let n = self.size.saturating_sub(offset).min(BLOCK_SIZE) as usize;
        self.file
            .read_exact_at(&mut data[..n], offset)
            .map_err(|source| Error::Io { path: format!("image block {index} (offset {offset})").into(), source })?;
        data[n..].fill(0);
        let zero = is_zero(&data);
        let digest: [u8; 32] = Sha256::digest(&data).into();
        if let Some(expect) = &self.expect {
            if expect.get(&index) != (!zero).then_some(&digest) {
                return Err(Error::Changed { image: self.path.clone(), index, offset });
            }
        } else if !zero {
            self.content.insert(index, digest);
        }
        let send = match self.parent.get(&index) {
            Some(p) if *p == digest => Err(Skipped::Unchanged),
            Some(_) => Ok(()),
            None if zero && !self.relies_on(index) => Err(Skipped::Zero),
            None => Ok(()),
        };
        Ok(Some(match send {
            Ok(()) => {
                self.aggregate.update(digest);
                Next::Send(Block { index, data, digest })
            }
            Err(why) => Next::Skip(why, data),
        }))
    }

    fn relies_on(&self, index: u64) -> bool {
        if self.all_zeros {
            return true;
        }
        let i = self.relied.partition_point(|&(_, e)| e <= index);
        self.relied.get(i).is_some_and(|&(s, _)| s <= index)
    }

    /// Reads every candidate without sending anything (checking it against the report,
    /// if any) and returns the digests of the non-zero blocks: the content of a snapshot
    /// an earlier upload of the same image (same client token) already made.
    pub fn content_only(mut self) -> Result<Digests, Error> {
        let mut buf = Vec::new();
        while let Some(next) = self.next_block(buf)? {
            buf = match next {
                Next::Send(b) => b.data,
                Next::Skip(_, data) => data,
            };
        }
        Ok(self.content)
    }

    /// The LINEAR aggregate checksum of the blocks sent: SHA-256 over their 32-byte
    /// digests concatenated in block-index order.
    pub fn aggregate(&self) -> [u8; 32] {
        self.aggregate.clone().finalize().into()
    }
}

/// The block indexes `[first, end)` that byte range `[start, end)` touches.
fn to_blocks((start, end): (u64, u64)) -> (u64, u64) {
    (start / BLOCK_SIZE, end.div_ceil(BLOCK_SIZE))
}

/// Sorts and coalesces ranges.
fn merge(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.retain(|(s, e)| s < e);
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn image(blocks: &[(u64, u8)], size: u64) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(size).unwrap();
        for &(i, byte) in blocks {
            f.as_file().write_all_at(&vec![byte; BLOCK_SIZE as usize], i * BLOCK_SIZE).unwrap();
        }
        f.flush().unwrap();
        f
    }

    fn sent(s: &mut Scanner) -> Vec<u64> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while let Some(b) = s.next_block(std::mem::take(&mut buf)).unwrap() {
            match b {
                Next::Send(b) => {
                    out.push(b.index);
                    buf = b.data;
                }
                Next::Skip(_, d) => buf = d,
            }
        }
        out
    }

    #[test]
    fn zero_blocks_are_skipped_unless_relied_on() {
        let f = image(&[(1, 7), (3, 0), (5, 9)], 8 * BLOCK_SIZE);
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), None).unwrap();
        assert_eq!(sent(&mut s), vec![1, 5]);
        let relied = ZeroBlocks::WriteRelied(vec![
            (3 * BLOCK_SIZE + 10, 3 * BLOCK_SIZE + 20),
            (7 * BLOCK_SIZE, 7 * BLOCK_SIZE + 1),
        ]);
        let mut s = Scanner::open(f.path(), &relied, Digests::new(), None).unwrap();
        assert_eq!(sent(&mut s), vec![1, 3, 5, 7]);
        let mut s = Scanner::open(f.path(), &ZeroBlocks::WriteAll, Digests::new(), None).unwrap();
        assert_eq!(sent(&mut s), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn unchanged_blocks_are_skipped_and_vanished_ones_written() {
        let f = image(&[(1, 7), (5, 9)], 8 * BLOCK_SIZE);
        let same: [u8; 32] = Sha256::digest(vec![7u8; BLOCK_SIZE as usize]).into();
        let parent: Digests = [(1, same), (2, [1; 32]), (5, [2; 32])].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, parent, None).unwrap();
        assert_eq!(sent(&mut s), vec![2, 5]);
        assert_eq!(s.content.keys().copied().collect::<Vec<_>>(), vec![1, 5]);
    }

    fn digest(byte: u8) -> [u8; 32] {
        Sha256::digest(vec![byte; BLOCK_SIZE as usize]).into()
    }

    #[test]
    fn blocks_are_checked_against_the_report_and_the_first_difference_named() {
        let f = image(&[(1, 7), (5, 9)], 8 * BLOCK_SIZE);
        let report: Digests = [(1, digest(7)), (5, digest(9))].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), Some(report.clone())).unwrap();
        assert_eq!(sent(&mut s), vec![1, 5]);
        let changed: Digests = [(1, digest(7)), (5, digest(8))].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), Some(changed)).unwrap();
        assert!(matches!(s.next_block(Vec::new()), Ok(Some(Next::Send(_)))));
        let e = s.next_block(Vec::new()).unwrap_err();
        assert!(matches!(e, Error::Changed { index: 5, offset, .. } if offset == 5 * BLOCK_SIZE), "{e}");
        let vanished: Digests = [(1, digest(7)), (3, digest(3)), (5, digest(9))].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), Some(vanished)).unwrap();
        s.next_block(Vec::new()).unwrap();
        assert!(matches!(s.next_block(Vec::new()), Err(Error::Changed { index: 3, .. })), "a listed block now a hole");
        let unlisted: Digests = [(5, digest(9))].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), Some(unlisted)).unwrap();
        assert!(matches!(s.next_block(Vec::new()), Err(Error::Changed { index: 1, .. })), "data the report lacks");
    }

    #[test]
    fn blocks_the_report_and_the_parent_agree_on_are_not_read() {
        let f = image(&[(1, 7), (5, 9)], 8 * BLOCK_SIZE);
        // Block 1 differs on disk from what both reports say: it is skipped unread.
        let report: Digests = [(1, [1; 32]), (5, digest(9))].into_iter().collect();
        let parent: Digests = [(1, [1; 32]), (2, [2; 32])].into_iter().collect();
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, parent, Some(report.clone())).unwrap();
        assert_eq!(sent(&mut s), vec![2, 5]);
        assert_eq!(s.content, report, "the snapshot holds what the report says");
    }

    #[test]
    fn aggregate_is_sha256_of_digests_in_order() {
        let f = image(&[(0, 1), (2, 2)], 3 * BLOCK_SIZE + 100);
        let mut s = Scanner::open(f.path(), &ZeroBlocks::Skip, Digests::new(), None).unwrap();
        assert_eq!(sent(&mut s), vec![0, 2]);
        let mut h = Sha256::new();
        h.update(Sha256::digest(vec![1u8; BLOCK_SIZE as usize]));
        h.update(Sha256::digest(vec![2u8; BLOCK_SIZE as usize]));
        assert_eq!(s.aggregate(), <[u8; 32]>::from(h.finalize()));
    }
}
