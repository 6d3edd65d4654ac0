//! Writing a bundle: tar, gzip, encrypt and split on three threads.

use crate::crypto::{self, Encryptor};
use crate::{tar, BundleError, Manifest};
use flate2::{Compression, GzBuilder};
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// The size of every part but the last: 10 MiB.
pub const PART_SIZE: u64 = 10 * 1024 * 1024;
/// The largest image an instance-store AMI may hold: 10 GiB.
pub const SIZE_LIMIT: u64 = 10 << 30;

/// What goes into the bundle besides the image.
#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    /// The image's name in the bundle (file names `NAME.part.N`, `NAME.manifest.xml`).
    pub name: String,
    /// The 12-digit AWS account id of the bundle's owner.
    pub user: String,
    /// `x86_64` or `i386`.
    pub architecture: String,
    /// The user's X.509 certificate (PEM).
    pub user_cert: String,
    /// The user's RSA private key (PEM), which signs the manifest.
    pub user_key: String,
    /// EC2's bundle certificate for the partition (PEM).
    pub ec2_cert: String,
    /// Block device mappings (virtual name, device).
    pub mappings: Vec<(String, String)>,
    /// `kernel_id`.
    pub kernel_id: Option<String>,
    /// `ramdisk_id`.
    pub ramdisk_id: Option<String>,
    /// Product codes.
    pub product_codes: Vec<String>,
    /// The tar member's modification time.
    pub mtime: u64,
}

/// What `bundle` wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BundleReport {
    /// `DIR/NAME.manifest.xml`.
    pub manifest: PathBuf,
    /// The parts in order: path, size, SHA-1.
    pub parts: Vec<(PathBuf, u64, String)>,
    /// SHA-1 of the tar stream.
    pub digest: String,
    /// The image's size.
    pub size: u64,
    /// Sum of the parts' sizes.
    pub bundled_size: u64,
}

/// Bundles `image` into `dir` (created if missing). On failure the parts written so far
/// are removed and no manifest is left.
pub fn bundle(image: &Path, dir: &Path, opts: &BundleOptions) -> Result<BundleReport, BundleError> {
    let (ec2, user_pub, user_key) = keys(opts)?;
    let file = File::open(image).map_err(BundleError::io(image))?;
    let size = file.metadata().map_err(BundleError::io(image))?.len();
    if size > SIZE_LIMIT {
        return Err(BundleError::Invalid(format!(
            "{}: {size} bytes is over the 10 GiB an instance-store AMI may hold; publish it as an EBS-backed AMI instead",
            image.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(BundleError::io(dir))?;
    let key: [u8; 16] = random()?;
    let iv: [u8; 16] = random()?;
    let mut splitter = Splitter::new(dir, &opts.name);
    let digest = match stream(&file, image, size, opts, &key, &iv, &mut splitter) {
        Ok(d) => d,
        Err(e) => {
            splitter.remove();
            return Err(e);
        }
    };
    let parts = splitter.finish()?;
    let (key_hex, iv_hex) = (hex::encode(key), hex::encode(iv));
    let mut m = Manifest {
        bundler: ("ingot".into(), env!("CARGO_PKG_VERSION").into(), "0".into()),
        architecture: opts.architecture.clone(),
        mappings: opts.mappings.clone(),
        kernel_id: opts.kernel_id.clone(),
        ramdisk_id: opts.ramdisk_id.clone(),
        product_codes: opts.product_codes.clone(),
        name: opts.name.clone(),
        user: opts.user.clone(),
        digest: digest.clone(),
        size,
        bundled_size: parts.iter().map(|p| p.1).sum(),
        ec2_key: crypto::seal(&ec2, key_hex.as_bytes())?,
        user_key: crypto::seal(&user_pub, key_hex.as_bytes())?,
        ec2_iv: crypto::seal(&ec2, iv_hex.as_bytes())?,
        user_iv: crypto::seal(&user_pub, iv_hex.as_bytes())?,
        parts: parts.iter().map(|p| (file_name(&p.0), p.2.clone())).collect(),
        signature: String::new(),
    };
    m.signature = crypto::sign(&user_key, m.signed_bytes().as_bytes());
    let manifest = dir.join(format!("{}.manifest.xml", opts.name));
    let temp = dir.join(format!(".{}.manifest.xml.partial", opts.name));
    std::fs::write(&temp, m.to_xml()).map_err(BundleError::io(&temp))?;
    std::fs::rename(&temp, &manifest).map_err(BundleError::io(&manifest))?;
    Ok(BundleReport { manifest, bundled_size: m.bundled_size, parts, digest, size })
}

impl BundleReport {
    /// Checks that every part on disk still has its size and SHA-1 (before reusing a
    /// bundle written earlier).
    pub fn check_parts(&self) -> Result<(), BundleError> {
        for (path, size, sha1) in &self.parts {
            let data = std::fs::read(path).map_err(BundleError::io(path))?;
            let got = hex::encode(Sha1::digest(&data));
            if data.len() as u64 != *size || got != *sha1 {
                return Err(BundleError::Corrupt(format!(
                    "{}: {} bytes with SHA-1 {got}, the bundle was written with {size} bytes and SHA-1 {sha1}",
                    path.display(),
                    data.len()
                )));
            }
        }
        Ok(())
    }
}

/// Checks `opts` as [`bundle`] does before reading the image: the account id, name and
/// architecture, that the certificates and key are RSA PEM, and that the key belongs to
/// the user's certificate. For callers that want to fail before other work.
pub fn check_options(opts: &BundleOptions) -> Result<(), BundleError> {
    keys(opts).map(|_| ())
}

/// The EC2 and user public keys and the user's private key, after [`check`].
fn keys(opts: &BundleOptions) -> Result<(rsa::RsaPublicKey, rsa::RsaPublicKey, rsa::RsaPrivateKey), BundleError> {
    check(opts)?;
    let ec2 = crypto::certificate_key(&opts.ec2_cert, "the EC2 certificate")?;
    let user_pub = crypto::certificate_key(&opts.user_cert, "the user certificate")?;
    let user_key = crypto::private_key(&opts.user_key, "the user private key")?;
    if rsa::RsaPublicKey::from(&user_key) != user_pub {
        return Err(BundleError::Key("the user private key does not belong to the user certificate".into()));
    }
    Ok((ec2, user_pub, user_key))
}

fn check(opts: &BundleOptions) -> Result<(), BundleError> {
    if opts.user.len() != 12 || !opts.user.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BundleError::Invalid(format!("user {:?}: expected the 12-digit AWS account id", opts.user)));
    }
    if opts.name.is_empty() || opts.name.len() > 100 || opts.name.contains('/') || opts.name.starts_with('.') {
        return Err(BundleError::Invalid(format!(
            "image name {:?}: 1–100 characters, no '/', not starting with '.'",
            opts.name
        )));
    }
    if !matches!(opts.architecture.as_str(), "x86_64" | "i386") {
        return Err(BundleError::Invalid(format!(
            "architecture {:?}: instance-store AMIs are x86_64 or i386",
            opts.architecture
        )));
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn random<const N: usize>() -> Result<[u8; N], BundleError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| BundleError::Key(format!("no randomness for the AES key: {e}")))?;
    Ok(b)
}

/// Runs the three stages; returns the SHA-1 of the tar stream.
fn stream(
    file: &File,
    image: &Path,
    size: u64,
    opts: &BundleOptions,
    key: &[u8; 16],
    iv: &[u8; 16],
    splitter: &mut Splitter,
) -> Result<String, BundleError> {
    let (tar_tx, tar_rx) = sync_channel::<Vec<u8>>(4);
    let (gz_tx, gz_rx) = sync_channel::<Vec<u8>>(4);
    std::thread::scope(|s| {
        let tar = s.spawn(move || -> io::Result<String> {
            let mut w = Chunks::new(tar_tx);
            tar::write(file, &opts.name, size, opts.mtime, &mut w)?;
            w.flush()?;
            Ok(hex::encode(w.sha1.finalize()))
        });
        let gz = s.spawn(move || compress(tar_rx, gz_tx));
        let mut enc = Encryptor::new(key, iv);
        let mut failed = None;
        for chunk in gz_rx {
            if failed.is_none() {
                failed = splitter.write(&enc.update(&chunk)).err();
            }
        }
        let tar = tar.join().map_err(|_| BundleError::Corrupt("the tar thread panicked".into()))?;
        let gz = gz.join().map_err(|_| BundleError::Corrupt("the gzip thread panicked".into()))?;
        let digest = tar.map_err(BundleError::io(image))?;
        gz.map_err(BundleError::io(image))?;
        if let Some(e) = failed {
            return Err(e);
        }
        splitter.write(&enc.finish())?;
        Ok(digest)
    })
}

/// gzip -9, no file name, mtime 0.
fn compress(rx: Receiver<Vec<u8>>, tx: SyncSender<Vec<u8>>) -> io::Result<()> {
    let mut gz = GzBuilder::new().mtime(0).write(Chunks::new(tx), Compression::best());
    for chunk in rx {
        gz.write_all(&chunk)?;
    }
    gz.finish()?.flush()
}

/// A writer that sends 1 MiB chunks down a channel, hashing them with SHA-1.
struct Chunks {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    sha1: Sha1,
}

impl Chunks {
    fn new(tx: SyncSender<Vec<u8>>) -> Chunks {
        Chunks { tx, buf: Vec::with_capacity(1 << 20), sha1: Sha1::new() }
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.sha1.update(&self.buf);
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 20));
        self.tx.send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the next stage stopped"))
    }
}

/// Cuts the encrypted stream into `NAME.part.N` files of [`PART_SIZE`] bytes. Parts are
/// written under temporary names and renamed once their count (and so the width of N) is
/// known.
struct Splitter {
    dir: PathBuf,
    name: String,
    current: Option<(File, u64, Sha1)>,
    done: Vec<(PathBuf, u64, String)>,
}

impl Splitter {
    fn new(dir: &Path, name: &str) -> Splitter {
        Splitter { dir: dir.to_path_buf(), name: name.to_string(), current: None, done: Vec::new() }
    }

    fn temp(&self, i: usize) -> PathBuf {
        self.dir.join(format!(".{}.part.{i}.partial", self.name))
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), BundleError> {
        while !data.is_empty() {
            if self.current.is_none() {
                let path = self.temp(self.done.len());
                let f = File::create(&path).map_err(BundleError::io(&path))?;
                self.current = Some((f, 0, Sha1::new()));
            }
            let i = self.done.len();
            let path = self.temp(i);
            let Some((f, n, sha)) = self.current.as_mut() else { break };
            let take = (PART_SIZE - *n).min(data.len() as u64) as usize;
            f.write_all(&data[..take]).map_err(BundleError::io(&path))?;
            sha.update(&data[..take]);
            *n += take as u64;
            data = &data[take..];
            if *n == PART_SIZE {
                self.close()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), BundleError> {
        if let Some((f, n, sha)) = self.current.take() {
            let path = self.temp(self.done.len());
            f.sync_all().map_err(BundleError::io(&path))?;
            self.done.push((path, n, hex::encode(sha.finalize())));
        }
        Ok(())
    }

    /// Closes the last part and gives every part its final name.
    fn finish(mut self) -> Result<Vec<(PathBuf, u64, String)>, BundleError> {
        self.close()?;
        let width = self.done.len().to_string().len();
        let mut out = Vec::new();
        for (i, (temp, n, sha)) in std::mem::take(&mut self.done).into_iter().enumerate() {
            let path = self.dir.join(format!("{}.part.{i:0width$}", self.name));
            std::fs::rename(&temp, &path).map_err(BundleError::io(&path))?;
            out.push((path, n, sha));
        }
        Ok(out)
    }

    /// Removes every part written (after a failure).
    fn remove(&mut self) {
        let n = self.done.len() + usize::from(self.current.is_some());
        for i in 0..n {
            let _ = std::fs::remove_file(self.temp(i));
        }
    }
}
