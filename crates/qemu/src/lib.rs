//! Booting a disk image under QEMU, as `ingot boot` does and the test suite does through
//! it: the machine and firmware for the image's architecture (OVMF or SeaBIOS for x86_64,
//! AAVMF for arm64), the disk on NVMe or virtio-blk, attached with `snapshot=on` unless
//! the image may change, KVM when `/dev/kvm` is usable for the guest's architecture (TCG
//! otherwise), a software TPM (swtpm) on request, and the serial console read line by
//! line: a line matching the expected pattern ends the boot (success), a kernel panic
//! ends it (failure), and so does the time limit.
//!
//! ```no_run
//! let options = ingot_qemu::Options::new("out/hello.raw".into(), ingot_qemu::Arch::X86_64);
//! let expect = regex_lite::Regex::new("login:").unwrap();
//! let outcome = ingot_qemu::run(&options, Some(&expect), |line| println!("{line}"))?;
//! assert!(matches!(outcome, ingot_qemu::Outcome::Matched(_)));
//! # Ok::<(), ingot_qemu::QemuError>(())
//! ```

mod firmware;

pub use firmware::{Firmware, FirmwareFiles, AAVMF, OVMF, OVMF_SECURE_BOOT};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Memory of the guest: a Debian cloud kernel and its initramfs boot in less, and TCG
/// gains nothing from more.
pub const DEFAULT_MEMORY_MIB: u32 = 1024;
/// How long a boot may take by default: a Debian cloud image reaches multi-user in about
/// 90 s under TCG on two cores (docs/boot.md); twice that, plus the firmware.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the watcher wakes when the console is quiet, to check the time limit.
const POLL: Duration = Duration::from_millis(200);

/// The guest's architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64: `qemu-system-x86_64`, q35.
    X86_64,
    /// arm64: `qemu-system-aarch64`, virt with a Cortex-A72 (under TCG).
    Arm64,
}

/// The disk's controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disk {
    /// NVMe, as EC2's Nitro instances expose EBS.
    Nvme,
    /// virtio-blk (PCI).
    VirtioBlk,
}

/// How to boot.
#[derive(Clone, Debug)]
pub struct Options {
    /// The raw disk image.
    pub image: PathBuf,
    /// The guest's architecture.
    pub arch: Arch,
    /// The firmware: UEFI (the default), UEFI enforcing Secure Boot, or SeaBIOS.
    pub firmware: Firmware,
    /// A variable store to start the UEFI firmware from (copied; the file never
    /// changes); the firmware's empty store when `None`.
    pub vars: Option<PathBuf>,
    /// The disk's controller.
    pub disk: Disk,
    /// Let the guest write to the image (no `snapshot=on`).
    pub write: bool,
    /// Attach a TPM 2.0 emulated by swtpm.
    pub tpm: bool,
    /// Guest memory.
    pub memory_mib: u32,
    /// The time limit.
    pub timeout: Duration,
}

impl Options {
    /// UEFI on NVMe, read-only, no TPM, the default memory and time limit.
    pub fn new(image: PathBuf, arch: Arch) -> Options {
        Options {
            image,
            arch,
            firmware: Firmware::Uefi,
            vars: None,
            disk: Disk::Nvme,
            write: false,
            tpm: false,
            memory_mib: DEFAULT_MEMORY_MIB,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// How a watched boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A console line matched: from the match's start to the line's end.
    Matched(String),
    /// The kernel panicked: the panic line.
    Panic(String),
    /// The time limit passed.
    Timeout,
    /// QEMU exited first, with this status (`None`: killed by a signal).
    Exited(Option<i32>),
}

/// Why QEMU could not be started.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// A program or firmware file is missing.
    #[error("{what} not found ({path}): install Debian's {package} package")]
    Missing {
        /// What is missing.
        what: String,
        /// Where it was looked for.
        path: String,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// Another failure, with the file or program it concerns.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> QemuError {
    let context = context.into();
    move |source| QemuError::Io { context, source }
}

/// The QEMU program for `arch` and its Debian package.
fn program(arch: Arch) -> (&'static str, &'static str) {
    match arch {
        Arch::X86_64 => ("qemu-system-x86_64", "qemu-system-x86"),
        Arch::Arm64 => ("qemu-system-aarch64", "qemu-system-arm"),
    }
}

/// Whether KVM can run `arch` here: the host is the same architecture and `/dev/kvm`
/// opens for reading and writing.
pub fn kvm_usable(arch: Arch) -> bool {
    let host = match std::env::consts::ARCH {
        "x86_64" => Arch::X86_64,
        "aarch64" => Arch::Arm64,
        _ => return false,
    };
    host == arch && std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// The QEMU command for `options`, with its variable store and TPM state in `work`.
pub fn command(options: &Options, work: &Path) -> Result<Command, QemuError> {
    let (program, _) = program(options.arch);
    let mut qemu = Command::new(program);
    let kvm = kvm_usable(options.arch);
    match options.arch {
        Arch::X86_64 => {
            let smm = options.firmware == Firmware::SecureBoot;
            qemu.args(["-machine", if smm { "q35,smm=on" } else { "q35" }]);
            if smm {
                qemu.args(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
            }
        }
        Arch::Arm64 => {
            qemu.args(["-machine", "virt", "-cpu", if kvm { "host" } else { "cortex-a72" }]);
        }
    }
    qemu.args(["-accel", if kvm { "kvm" } else { "tcg" }]);
    qemu.args(["-m", &options.memory_mib.to_string(), "-nographic", "-no-reboot", "-nic", "none"]);
    qemu.args(["-serial", "stdio", "-monitor", "none"]);
    firmware::attach(&mut qemu, options, work)?;
    let snapshot = if options.write { "" } else { ",snapshot=on" };
    qemu.arg("-drive").arg(format!("file={},if=none,id=disk,format=raw{snapshot}", options.image.display()));
    qemu.arg("-device").arg(match options.disk {
        Disk::Nvme => "nvme,drive=disk,serial=ingot",
        Disk::VirtioBlk => "virtio-blk-pci,drive=disk",
    });
    Ok(qemu)
}

/// A swtpm process for the guest's TPM, stopped when dropped.
struct Tpm(Child);

impl Drop for Tpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts swtpm (TPM 2.0, state in `work`) and adds its device to `qemu`.
fn tpm(qemu: &mut Command, arch: Arch, work: &Path) -> Result<Tpm, QemuError> {
    let socket = work.join("swtpm.sock");
    let state = work.join("tpm");
    std::fs::create_dir_all(&state).map_err(io(format!("{}", state.display())))?;
    let child = Command::new("swtpm")
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                QemuError::Missing { what: "swtpm".into(), path: "PATH".into(), package: "swtpm" }
            }
            _ => QemuError::Io { context: "starting swtpm".into(), source: e },
        })?;
    let tpm = Tpm(child);
    let started = Instant::now();
    while !socket.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    qemu.arg("-chardev").arg(format!("socket,id=chrtpm,path={}", socket.display()));
    qemu.args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device"]);
    qemu.arg(if arch == Arch::Arm64 { "tpm-tis-device,tpmdev=tpm0" } else { "tpm-tis,tpmdev=tpm0" });
    Ok(tpm)
}

/// Boots as `options` say and watches the serial console: each line goes to `console`;
/// with `expect`, the first line matching it ends the boot. A kernel panic or the time
/// limit ends it too. QEMU is stopped before this returns.
pub fn run(options: &Options, expect: Option<&regex_lite::Regex>, mut console: impl FnMut(&str)) -> Result<Outcome, QemuError> {
    let work = tempfile::tempdir().map_err(io("making a directory for the variable store"))?;
    let mut qemu = command(options, work.path())?;
    let _tpm = if options.tpm { Some(tpm(&mut qemu, options.arch, work.path())?) } else { None };
    let (program, package) = program(options.arch);
    let mut child = qemu.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| {
        match e.kind() {
            std::io::ErrorKind::NotFound => QemuError::Missing { what: program.into(), path: "PATH".into(), package },
            _ => QemuError::Io { context: format!("starting {program}"), source: e },
        }
    })?;
    let out = child.stdout.take().ok_or_else(|| QemuError::Io {
        context: format!("reading {program}'s console"),
        source: std::io::Error::other("no stdout"),
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_owned();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let outcome = loop {
        if started.elapsed() > options.timeout {
            break Outcome::Timeout;
        }
        match rx.recv_timeout(POLL) {
            Ok(line) => {
                console(&line);
                if let Some(m) = expect.and_then(|e| e.find(&line)) {
                    break Outcome::Matched(line[m.start()..].to_string());
                }
                if line.contains("Kernel panic") {
                    break Outcome::Panic(line);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break Outcome::Exited(child.wait().ok().and_then(|s| s.code()));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(outcome)
}

/// Boots as `options` say with the serial console on this terminal (QEMU's stdin and
/// stdout are ours) until QEMU exits or the time limit passes; returns QEMU's exit
/// status, `None` when it was stopped at the limit.
pub fn interactive(options: &Options) -> Result<Option<i32>, QemuError> {
    let work = tempfile::tempdir().map_err(io("making a directory for the variable store"))?;
    let mut qemu = command(options, work.path())?;
    let _tpm = if options.tpm { Some(tpm(&mut qemu, options.arch, work.path())?) } else { None };
    let (program, package) = program(options.arch);
    let mut child = qemu.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => QemuError::Missing { what: program.into(), path: "PATH".into(), package },
        _ => QemuError::Io { context: format!("starting {program}"), source: e },
    })?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(io(format!("waiting for {program}")))? {
            return Ok(status.code());
        }
        if started.elapsed() > options.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}
