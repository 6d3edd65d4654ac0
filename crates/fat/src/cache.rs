//! A write-back block cache between fatfs and the disk.
//!
//! fatfs reads and writes FAT entries and directory entries a few bytes at a time; on a
//! file that is one system call each (over a million for 2,000 files). Blocks that fatfs
//! reads are kept in memory and written back, sorted, at [`BlockCache::flush`]; writes to
//! blocks never read (file content) go straight to the disk. Memory stays bounded by the
//! metadata fatfs touches: the FATs and the directories. Consecutive writes of file
//! content (fatfs writes one cluster at a time) are combined into writes of up to 1 MiB.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

const BLOCK: u64 = 4096;
const COMBINE: usize = 1 << 20;

struct Block {
    data: Box<[u8]>,
    dirty: bool,
}

/// A [`Read`] + [`Write`] + [`Seek`] cache over `disk` of `len` bytes.
pub(crate) struct BlockCache<D: Read + Write + Seek> {
    disk: D,
    len: u64,
    pos: u64,
    blocks: BTreeMap<u64, Block>,
    /// Content written straight through but not yet sent: its offset and bytes.
    pending: (u64, Vec<u8>),
}

impl<D: Read + Write + Seek> BlockCache<D> {
    pub(crate) fn new(disk: D, len: u64) -> Self {
        BlockCache { disk, len, pos: 0, blocks: BTreeMap::new(), pending: (0, Vec::with_capacity(COMBINE)) }
    }

    fn send_pending(&mut self) -> io::Result<()> {
        if !self.pending.1.is_empty() {
            self.disk.seek(SeekFrom::Start(self.pending.0))?;
            self.disk.write_all(&self.pending.1)?;
            self.pending.1.clear();
        }
        Ok(())
    }

    fn write_through(&mut self, buf: &[u8]) -> io::Result<()> {
        let (start, data) = &self.pending;
        if data.is_empty() || start + data.len() as u64 != self.pos || data.len() + buf.len() > COMBINE {
            self.send_pending()?;
            self.pending.0 = self.pos;
        }
        if buf.len() >= COMBINE {
            self.disk.seek(SeekFrom::Start(self.pos))?;
            return self.disk.write_all(buf);
        }
        self.pending.1.extend_from_slice(buf);
        Ok(())
    }

    fn load(&mut self, index: u64) -> io::Result<&mut Block> {
        if !self.blocks.contains_key(&index) {
            self.send_pending()?;
            let start = index * BLOCK;
            let n = BLOCK.min(self.len - start) as usize;
            let mut data = vec![0u8; BLOCK as usize].into_boxed_slice();
            self.disk.seek(SeekFrom::Start(start))?;
            self.disk.read_exact(&mut data[..n])?;
            self.blocks.insert(index, Block { data, dirty: false });
        }
        self.blocks.get_mut(&index).ok_or_else(|| io::Error::other("block cache lost a block"))
    }

    /// Writes every dirty block back, in disk order.
    pub(crate) fn flush_blocks(&mut self) -> io::Result<()> {
        self.send_pending()?;
        for (index, block) in self.blocks.iter_mut().filter(|(_, b)| b.dirty) {
            let start = index * BLOCK;
            let n = BLOCK.min(self.len - start) as usize;
            self.disk.seek(SeekFrom::Start(start))?;
            self.disk.write_all(&block.data[..n])?;
            block.dirty = false;
        }
        self.disk.flush()
    }
}

impl<D: Read + Write + Seek> Read for BlockCache<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let (index, within) = (self.pos / BLOCK, (self.pos % BLOCK) as usize);
        let n = buf.len().min(BLOCK as usize - within).min((self.len - self.pos) as usize);
        let block = self.load(index)?;
        buf[..n].copy_from_slice(&block.data[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Read + Write + Seek> Write for BlockCache<D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the end of the volume"));
        }
        let (index, within) = (self.pos / BLOCK, (self.pos % BLOCK) as usize);
        let n = if let Some(block) = self.blocks.get_mut(&index) {
            let n = buf.len().min(BLOCK as usize - within).min((self.len - self.pos) as usize);
            block.data[within..within + n].copy_from_slice(&buf[..n]);
            block.dirty = true;
            n
        } else {
            // Straight through, up to the next cached block.
            let next_cached = self.blocks.range(index..).next().map_or(self.len, |(i, _)| i * BLOCK);
            let n = (buf.len() as u64).min(next_cached - self.pos) as usize;
            self.write_through(&buf[..n])?;
            n
        };
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<D: Read + Write + Seek> Seek for BlockCache<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = p.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_and_writes_agree_with_the_disk_after_flush() {
        let mut cache = BlockCache::new(Cursor::new(vec![0u8; 20_000]), 20_000);
        cache.seek(SeekFrom::Start(4090)).unwrap();
        let mut b = [0u8; 10];
        cache.read_exact(&mut b).unwrap(); // caches blocks 0 and 1
        cache.seek(SeekFrom::Start(4094)).unwrap();
        cache.write_all(b"abcd").unwrap(); // into cached blocks
        cache.seek(SeekFrom::Start(16_380)).unwrap();
        cache.write_all(b"tail-end").unwrap(); // straight through, crossing into the short last block
        cache.seek(SeekFrom::Start(4094)).unwrap();
        cache.read_exact(&mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"abcd");
        cache.flush_blocks().unwrap();
        let disk = cache.disk.into_inner();
        assert_eq!(&disk[4094..4098], b"abcd");
        assert_eq!(&disk[16_380..16_388], b"tail-end");
        let mut short = BlockCache::new(Cursor::new(vec![0u8; 5000]), 5000);
        short.seek(SeekFrom::Start(4999)).unwrap();
        assert_eq!(short.read(&mut b).unwrap(), 1);
        assert_eq!(short.read(&mut b).unwrap(), 0);
    }
}
