//! Reading a bundle back: every digest and the signature checked, the image restored
//! sparse.

use crate::crypto::{self, Decryptor};
use crate::{BundleError, Manifest, MANIFEST_MAX_BYTES};
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What `unbundle` restored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UnbundleReport {
    /// The image written.
    pub image: PathBuf,
    /// Its size.
    pub size: u64,
    /// Parts read.
    pub parts: usize,
    /// SHA-1 of the tar stream (equal to the manifest's).
    pub digest: String,
}

/// Checks the bundle whose manifest is `manifest_path` (signature, every part's SHA-1,
/// the tar stream's SHA-1, the size) with the user's private key, and writes the image
/// to `out_dir/NAME`. Nothing is left at that path when a check fails.
pub fn unbundle(manifest_path: &Path, user_key_pem: &str, out_dir: &Path) -> Result<UnbundleReport, BundleError> {
    let xml = ingot_types::input::read_to_string(manifest_path, MANIFEST_MAX_BYTES as u64)?;
    let (m, signed) = Manifest::parse(&xml)?;
    let key = crypto::private_key(user_key_pem, "the user private key")?;
    if !crypto::verify(&rsa::RsaPublicKey::from(&key), signed.as_bytes(), &m.signature) {
        return Err(BundleError::Corrupt(format!(
            "{}: the signature does not verify with this key: the manifest was changed, or the bundle is another user's",
            manifest_path.display()
        )));
    }
    let aes_key = secret(&key, &m.user_key, "user_encrypted_key")?;
    let aes_iv = secret(&key, &m.user_iv, "user_encrypted_iv")?;
    if m.name.contains('/') || m.name.starts_with('.') || m.name.is_empty() {
        return Err(BundleError::Manifest(format!("image name {:?} is not a plain file name", m.name)));
    }
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let out = out_dir.join(&m.name);
    let temp =
        tempfile::Builder::new().prefix(".ingot-unbundle.").tempfile_in(out_dir).map_err(BundleError::io(out_dir))?;
    let parts = Parts { dir: dir.to_path_buf(), list: m.parts.clone(), next: 0, data: Vec::new(), pos: 0 };
    let clear = Decrypting {
        inner: parts,
        dec: Some(Decryptor::new(&aes_key, &aes_iv)),
        chunk: vec![0; 1 << 16],
        out: Vec::new(),
        pos: 0,
    };
    let mut tar = Hashing { inner: flate2::read::GzDecoder::new(clear), sha1: Sha1::new() };
    let size = extract(&mut tar, &m, temp.as_file()).map_err(unwrap_io)?;
    io::copy(&mut tar, &mut io::sink()).map_err(unwrap_io)?;
    let digest = hex::encode(tar.sha1.finalize());
    if digest != m.digest {
        return Err(BundleError::Corrupt(format!(
            "the tar stream's SHA-1 is {digest}, the manifest says {}",
            m.digest
        )));
    }
    if size != m.size {
        return Err(BundleError::Corrupt(format!("the image has {size} bytes, the manifest says {}", m.size)));
    }
    // tempfile makes 0600 files; a restored image is an ordinary output, as `build` writes.
    use std::os::unix::fs::PermissionsExt;
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(BundleError::io(&out))?;
    temp.persist(&out).map_err(|e| BundleError::Io { path: out.clone(), source: e.error })?;
    Ok(UnbundleReport { image: out, size, parts: m.parts.len(), digest })
}

/// Decrypts one of the manifest's hex key/IV fields: 32 hex characters → 16 bytes.
fn secret(key: &rsa::RsaPrivateKey, field: &str, what: &str) -> Result<[u8; 16], BundleError> {
    let text = crypto::open(key, field, what)?;
    let bytes = std::str::from_utf8(&text).ok().and_then(|t| hex::decode(t).ok());
    bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| BundleError::Corrupt(format!("{what} is not 32 hex digits")))
}

/// Errors found inside the reader chain travel as io::Error; bring them back.
fn unwrap_io(e: io::Error) -> BundleError {
    match e.get_ref().and_then(|i| i.downcast_ref::<Message>()) {
        Some(m) => BundleError::Corrupt(m.0.clone()),
        None => BundleError::Corrupt(format!("the bundle's stream is damaged: {e}")),
    }
}

#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

fn fail(text: String) -> io::Error {
    io::Error::other(Message(text))
}

/// The parts in order. Each part (at most 10 MiB) is read whole and checked against its
/// SHA-1 before any of it is used, so a damaged part is named as such.
struct Parts {
    dir: PathBuf,
    list: Vec<(String, String)>,
    next: usize,
    data: Vec<u8>,
    pos: usize,
}

impl Parts {
    fn load(&mut self) -> io::Result<bool> {
        let Some((name, want)) = self.list.get(self.next) else { return Ok(false) };
        self.next += 1;
        if name.contains('/') || name.starts_with('.') {
            return Err(fail(format!("part file name {name:?} is not a plain file name")));
        }
        let path = self.dir.join(name);
        let f = File::open(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        self.data.clear();
        f.take(crate::PART_SIZE + 1).read_to_end(&mut self.data)?;
        if self.data.len() as u64 > crate::PART_SIZE {
            return Err(fail(format!("part {name} is larger than a part can be")));
        }
        let got = hex::encode(Sha1::digest(&self.data));
        if &got != want {
            return Err(fail(format!("part {name}: SHA-1 {got} does not match the manifest's {want}")));
        }
        self.pos = 0;
        Ok(true)
    }
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.data.len() {
            if !self.load()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// AES-128-CBC decryption as a reader.
struct Decrypting<R> {
    inner: R,
    dec: Option<Decryptor>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl<R: Read> Read for Decrypting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            let Some(dec) = self.dec.as_mut() else { return Ok(0) };
            let n = self.inner.read(&mut self.chunk)?;
            self.out = if n == 0 {
                let dec = self.dec.take().ok_or_else(|| fail("decryptor gone".into()))?;
                dec.finish().map_err(|e| fail(e.to_string()))?
            } else {
                dec.update(&self.chunk[..n])
            };
            self.pos = 0;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Hashes what is read through it with SHA-1.
struct Hashing<R> {
    inner: R,
    sha1: Sha1,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha1.update(&buf[..n]);
        Ok(n)
    }
}

/// A tar numeric field: octal, or GNU base-256 when the top bit is set.
fn field(b: &[u8]) -> io::Result<u64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let mut v: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(c)))
                .ok_or_else(|| fail("a tar number overflows".into()))?;
        }
        return Ok(v);
    }
    let text = std::str::from_utf8(b).map_err(|_| fail("a tar number is not text".into()))?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(text, 8).map_err(|_| fail(format!("tar number {text:?} is not octal")))
}

/// Extracts the one member into `out`; returns the image's size.
fn extract(r: &mut impl Read, m: &Manifest, out: &File) -> io::Result<u64> {
    let mut h = [0u8; 512];
    r.read_exact(&mut h)?;
    let name_end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
    let name = String::from_utf8_lossy(&h[..name_end]);
    if name.trim_start_matches("./") != m.name {
        return Err(fail(format!("the tar member is {name:?}, the manifest names {:?}", m.name)));
    }
    let stored = field(&h[124..136])?;
    let (map, size) = match h[156] {
        b'S' => {
            let mut map = Vec::new();
            for i in 0..4 {
                let at = 386 + i * 24;
                map.push((field(&h[at..at + 12])?, field(&h[at + 12..at + 24])?));
            }
            let mut extended = h[482] != 0;
            while extended {
                let mut e = [0u8; 512];
                r.read_exact(&mut e)?;
                for i in 0..21 {
                    map.push((field(&e[i * 24..i * 24 + 12])?, field(&e[i * 24 + 12..i * 24 + 24])?));
                }
                extended = e[504] != 0;
            }
            map.retain(|&(o, n)| o != 0 || n != 0);
            (map, field(&h[483..495])?)
        }
        b'0' | 0 => (vec![(0, stored)], stored),
        t => return Err(fail(format!("tar member type {:?} is not a file", t as char))),
    };
    if map.iter().map(|r| r.1).sum::<u64>() != stored {
        return Err(fail("the sparse map does not add up to the stored size".into()));
    }
    if size > crate::SIZE_LIMIT || map.iter().any(|&(o, n)| o.checked_add(n).is_none_or(|e| e > size)) {
        return Err(fail(format!("the sparse map points outside the {size}-byte image")));
    }
    out.set_len(size)?;
    let mut buf = vec![0u8; 1 << 20];
    for &(off, len) in &map {
        let mut pos = 0;
        while pos < len {
            let n = (len - pos).min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..n])?;
            if !ingot_disk::is_zero(&buf[..n]) {
                out.write_all_at(&buf[..n], off + pos)?;
            }
            pos += n as u64;
        }
    }
    Ok(size)
}
