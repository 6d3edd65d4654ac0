//! Helpers shared by the end-to-end tests: running the binary, and checking images with
//! independent tools (sgdisk, fsck.fat, mtools, sfdisk). A missing tool fails the test
//! and names the script that installs it.

pub mod aws;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root (the package's manifest directory).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test payload's root tree for Debian architecture `arch` (`amd64`, `arm64`:
/// target/test-payload/ARCH/root); fails, naming the script that makes it, unless it holds
/// the file `needs`.
pub fn payload(arch: &str, needs: &str) -> PathBuf {
    let root = repo().join("target/test-payload").join(arch).join("root");
    assert!(
        root.join(needs).is_file(),
        "no {arch} test payload: run scripts/make-test-payload.sh {arch} (scripts/test.sh does)"
    );
    root
}

/// The `ingot` binary under test, with a clean environment for determinism.
pub fn ingot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ingot"));
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs a command, failing the test if the tool is missing.
pub fn run(cmd: &mut Command) -> Output {
    let name = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {name}: {e}; install the test dependencies with scripts/install-test-deps.sh")
    })
}

/// Runs `cmd` in a pseudo-terminal (util-linux `script`), typing `input` into it: everything
/// it wrote to the terminal (stdout and stderr, escape sequences included). The command
/// must succeed.
pub fn in_terminal(input: &str, cmd: &Command) -> String {
    use std::io::Write;
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect();
    let mut script = Command::new("script");
    script.args(["-qec", &line.join(" "), "/dev/null"]).env("TERM", "xterm");
    script.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut child = script.spawn().unwrap_or_else(|e| {
        panic!("cannot run script: {e}; install the test dependencies with scripts/install-test-deps.sh")
    });
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{line:?}: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `ingot build RECIPE -o OUT --json` and returns the parsed report.
pub fn build(recipe: &Path, out: &Path) -> serde_json::Value {
    let o = run(ingot().arg("build").arg(recipe).arg("-o").arg(out).arg("--json"));
    assert!(o.status.success(), "ingot build failed: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "--json must keep stderr quiet, got {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("build --json prints a JSON report")
}

/// Builds like [`build`], then checks the image with the independent tools: `sgdisk -v`
/// (GPT), `e2fsck -fn` on every ext4 partition, `fsck.fat -n` on every FAT one,
/// `fsck.erofs --extract` on every EROFS one.
pub fn build_checked(recipe: &Path, out: &Path) -> serde_json::Value {
    let report = build(recipe, out);
    if report["table"] == "gpt" {
        sgdisk_verify(out);
    }
    for p in report["partitions"].as_array().unwrap() {
        let (offset, size) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        match p["filesystem"].as_str() {
            Some("ext4") => e2fsck_clean(out, offset, size),
            Some("vfat") => fsck_fat(out, offset, size),
            Some("erofs") => fsck_erofs(out, offset, size),
            _ => {}
        }
    }
    report
}

/// Runs `ingot build` expecting failure; returns stderr. Asserts that nothing is left
/// at OUT, at OUT.json, or as a temporary file in OUT's directory.
pub fn build_fails(recipe: &Path, out: &Path) -> String {
    let before = listing(out.parent().unwrap());
    let o = run(ingot().arg("build").arg(recipe).arg("-o").arg(out));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "ingot build should have failed; stdout: {}", String::from_utf8_lossy(&o.stdout));
    assert!(!out.exists(), "a failed build left {}", out.display());
    assert!(!PathBuf::from(format!("{}.json", out.display())).exists(), "a failed build left a report");
    if out.parent().unwrap().is_dir() {
        assert_eq!(before, listing(out.parent().unwrap()), "a failed build left files behind");
    }
    assert!(stderr.starts_with("error: "), "errors start with `error: `, got {stderr}");
    stderr
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `sgdisk -v` must report no problems and no warnings.
pub fn sgdisk_verify(image: &Path) {
    let o = run(Command::new("sgdisk").arg("-v").arg(image));
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "sgdisk -v failed: {out}");
    assert!(out.contains("No problems found"), "sgdisk -v: {out}");
    for bad in ["Warning", "Problem:", "Caution", "corrupt", "mismatch"] {
        assert!(!out.contains(bad), "sgdisk -v printed {bad:?}: {out}");
    }
}

/// Copies `len` bytes at `offset` of `image` to a file of its own.
pub fn extract(image: &Path, offset: u64, len: u64, to: &Path) {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    let f = std::fs::File::open(image).unwrap();
    let out = std::fs::File::create(to).unwrap();
    out.set_len(len).unwrap();
    // Copy the data runs only (SEEK_DATA / SEEK_HOLE): holes stay holes, so a partition
    // of tens of GiB holding little costs what it holds.
    let (end, mut pos) = (offset + len, offset);
    let mut buf = vec![0u8; 1 << 20];
    while pos < end {
        // SAFETY: lseek on a descriptor we own has no memory effects.
        let data = unsafe { libc::lseek(f.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 || data as u64 >= end {
            break;
        }
        // SAFETY: as above.
        let hole = (unsafe { libc::lseek(f.as_raw_fd(), data, libc::SEEK_HOLE) } as u64).min(end);
        let mut at = data as u64;
        while at < hole {
            let n = (hole - at).min(buf.len() as u64) as usize;
            f.read_exact_at(&mut buf[..n], at).unwrap();
            out.write_all_at(&buf[..n], at - offset).unwrap();
            at += n as u64;
        }
        pos = hole;
    }
}

/// Runs `checker` on a copy of the partition at `offset`: it must exit 0 and print
/// only lines `expected` accepts (a clean exit code can hide notes and repairs).
fn check_quiet(image: &Path, offset: u64, len: u64, checker: &[&str], expected: impl Fn(&str) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.img");
    extract(image, offset, len, &part);
    let o = run(Command::new(checker[0]).args(&checker[1..]).arg(&part));
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let name = checker.join(" ");
    assert!(o.status.success(), "{name} failed: {out}");
    let extra: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty() && !expected(l)).collect();
    assert!(extra.is_empty(), "{name} printed more than its summary: {out}");
}

/// `fsck.fat -n` of the partition at `offset`: exit 0, nothing but banner and summary.
pub fn fsck_fat(image: &Path, offset: u64, len: u64) {
    check_quiet(image, offset, len, &["fsck.fat", "-n"], |l| l.starts_with("fsck.fat ") || l.contains(" files, "));
}

/// `fsck.erofs --extract` (erofs-utils: every inode, directory and file's data decoded)
/// of the partition at `offset`: exit 0, nothing printed.
pub fn fsck_erofs(image: &Path, offset: u64, len: u64) {
    check_quiet(image, offset, len, &["fsck.erofs", "--extract"], |_| false);
}

/// Copies `path` from the ESP (the first partition in `report`) of `image` to `to`.
pub fn from_esp(image: &Path, report: &serde_json::Value, path: &str, to: &Path) {
    let esp = report["partitions"][0]["offset"].as_u64().unwrap();
    let o = run(Command::new("mcopy")
        .arg("-i")
        .arg(format!("{}@@{esp}", image.display()))
        .arg(format!("::{path}"))
        .arg(to));
    assert!(o.status.success(), "mcopy {path}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Reads every file of the FAT partition at `offset` with mtools: path → SHA-256.
pub fn fat_files(image: &Path, offset: u64) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{}@@{offset}", image.display());
    let o = run(Command::new("mcopy")
        .args(["-s", "-n", "-m", "-i", &spec, "::/"])
        .arg(dir.path())
        .env("MTOOLS_SKIP_CHECK", "1"));
    assert!(o.status.success(), "mcopy failed: {}", String::from_utf8_lossy(&o.stderr));
    hash_tree(dir.path())
}

/// Every regular file under `root`: relative path → SHA-256 hex.
pub fn hash_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, sha256_file(&p));
            }
        }
    }
    out
}

/// SHA-256 of `data`, lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(p: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    hex(&h.finalize())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes the file occupies on disk.
pub fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// Writes a recipe file and returns its path.
pub fn recipe(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("recipe.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A small deterministic pseudo-random byte stream (xorshift) for test content.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `e2fsck -fn` of the partition at `offset`: exit 0, nothing but its version, the five
/// pass headers and the summary line.
pub fn e2fsck_clean(image: &Path, offset: u64, len: u64) {
    check_quiet(image, offset, len, &["e2fsck", "-fn"], |l| {
        l.starts_with("e2fsck ") || l.starts_with("Pass ") || l.contains(" files (")
    });
}

/// `debugfs -R CMD` on the partition at `offset`: its stdout.
pub fn debugfs(image: &Path, offset: u64, len: u64, cmd: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.img");
    extract(image, offset, len, &part);
    let o = run(Command::new("debugfs").arg("-R").arg(cmd).arg(&part));
    assert!(o.status.success(), "debugfs failed: {}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let complaints: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("debugfs ")).collect();
    assert!(complaints.is_empty(), "debugfs -R {cmd:?} complained: {stderr}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Makes an RSA key and a self-signed certificate with openssl: (key, cert, public key).
pub fn identity(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let key = dir.join(format!("{name}-pk.pem"));
    let cert = dir.join(format!("{name}-cert.pem"));
    let public = dir.join(format!("{name}-pub.pem"));
    let o = run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    assert!(o.status.success(), "openssl req: {}", String::from_utf8_lossy(&o.stderr));
    let o = run(Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&cert));
    std::fs::write(&public, o.stdout).unwrap();
    (key, cert, public)
}

/// The image digest of `len` bytes at `offset` of `image` (all of it when `None`), as
/// scripts/image-digest.py (the script docs/recipe.md gives) computes it, independently of
/// ingot's code.
pub fn image_digest(image: &Path, range: Option<(u64, u64)>) -> String {
    let mut cmd = Command::new(aws::python());
    cmd.arg(repo().join("scripts/image-digest.py")).arg(image);
    if let Some((offset, len)) = range {
        cmd.arg(offset.to_string()).arg(len.to_string());
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "image-digest.py: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Spawns `cmd`, waits until `ready()` ([`spawn_until`]), sends it SIG`signal` (`INT` or
/// `TERM`) and returns its output.
pub fn interrupted(cmd: &mut Command, ready: impl Fn() -> bool, signal: &str) -> Output {
    let child = spawn_until(cmd, ready);
    send_signal(child.id(), signal);
    child.wait_with_output().unwrap()
}

/// Spawns `cmd` with its output piped and waits (at most a minute) until `ready()`.
pub fn spawn_until(cmd: &mut Command, ready: impl Fn() -> bool) -> std::process::Child {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the ingot binary starts");
    let started = std::time::Instant::now();
    while !ready() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the moment to signal it never came");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Sends SIG`signal` to process `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let kill = run(Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()));
    assert!(kill.status.success(), "kill -{signal} {pid}");
}

/// The names of the entries of `dir`, sorted (none when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Appends to `b` the regular file `name` holding `data`, 0644, root's, modified at
/// `mtime`, after the PAX records `pax` (xattrs as `SCHILY.xattr.NAME`) when there are any.
pub fn append_file<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mtime: u64,
    pax: &[(&str, &[u8])],
) {
    if !pax.is_empty() {
        b.append_pax_extensions(pax.iter().copied()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, name, data).unwrap();
}
