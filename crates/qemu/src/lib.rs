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

pub use firmware::{files, installed, Firmware, FirmwareFiles, AAVMF, AAVMF_SECURE_BOOT, OVMF, OVMF_SECURE_BOOT};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Memory of the guest: a Debian cloud kernel and its initramfs boot in less, and TCG
/// gains nothing from more.
pub const DEFAULT_MEMORY_MIB: u32 = 1024;
/// How long a boot may take by default: a Debian cloud image reaches multi-user in about
/// 90 s under TCG on two cores (docs/boot.md); twice that, plus the firmware.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the watcher wakes when the console is quiet, to check the time limit.
const POLL: Duration = Duration::from_millis(200);
/// How long swtpm may take to make its socket: it starts in milliseconds; a machine
/// loaded by parallel boots is given far more.
const SWTPM_START: Duration = Duration::from_secs(10);

/// The guest's architecture, the one type every ingot crate uses: x86_64 boots
/// `qemu-system-x86_64` (q35), arm64 `qemu-system-aarch64` (virt, a Cortex-A72 under TCG).
pub use ingot_types::Arch;

/// How QEMU runs the guest's instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// KVM when [`kvm_usable`] says so, else TCG; when KVM fails the guest (QEMU reports a
    /// "KVM internal error", as nested or paravirtualized KVM can, or the guest prints
    /// nothing for [`KVM_SILENCE`] before its kernel starts), the boot starts again under
    /// TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// TCG (emulation) only: slower, the same on every machine.
    Tcg,
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
    /// KVM or TCG.
    pub accel: Accel,
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
            accel: Accel::Auto,
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
    /// KVM failed the guest: QEMU's message.
    KvmFailed(String),
}

/// What QEMU prints on its standard error when KVM cannot go on with the guest (it then
/// pauses the guest and waits: the boot would never end).
const KVM_FAILURE: &str = "KVM internal error";
/// How long a guest that KVM was chosen for automatically may stay silent before its
/// kernel's first line. Under KVM the firmware reaches the kernel in a few seconds, and
/// firmware and boot loaders print to the serial console before it; some hosts' KVM (this
/// project's machines' kvm-pvm under SeaBIOS) runs the guest into a hang that prints
/// nothing and never reports an error. Past this, the boot starts again under TCG.
pub const KVM_SILENCE: Duration = Duration::from_secs(20);
/// What the kernel's first console line holds: from then on silence is the guest's own.
const KERNEL_BANNER: &str = "Linux version";

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

/// Whether the first attempt of a boot uses KVM.
fn first_kvm(options: &Options) -> bool {
    match options.accel {
        Accel::Auto => kvm_usable(options.arch),
        Accel::Kvm => true,
        Accel::Tcg => false,
    }
}

/// The QEMU command for `options` (under KVM when `kvm`), with its variable store and TPM
/// state in `work`.
pub fn command(options: &Options, kvm: bool, work: &Path) -> Result<Command, QemuError> {
    let (program, _) = program(options.arch);
    let mut qemu = Command::new(program);
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
    // The disk first in the firmware's boot order: OVMF would otherwise try q35's empty
    // DVD drive first, and that failed attempt is measured into PCR4 ("Calling" and
    // "Returning from EFI Application from Boot Option"), which EC2's boot does not do.
    qemu.arg("-device").arg(match options.disk {
        Disk::Nvme => "nvme,drive=disk,serial=ingot,bootindex=0",
        Disk::VirtioBlk => "virtio-blk-pci,drive=disk,bootindex=0",
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
    while !socket.exists() && started.elapsed() < SWTPM_START {
        std::thread::sleep(Duration::from_millis(50));
    }
    qemu.arg("-chardev").arg(format!("socket,id=chrtpm,path={}", socket.display()));
    qemu.args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device"]);
    qemu.arg(if arch == Arch::Arm64 { "tpm-tis-device,tpmdev=tpm0" } else { "tpm-tis,tpmdev=tpm0" });
    Ok(tpm)
}

/// A line from QEMU.
enum Line {
    /// From the serial console.
    Console(String),
    /// Console output shown on this terminal as it came; `true` once it held the kernel's
    /// banner.
    Shown(bool),
    /// QEMU's report that KVM failed the guest.
    KvmFailed(String),
}

/// When a guest under automatic KVM has been silent too long before its kernel spoke
/// ([`KVM_SILENCE`]): whether anything was printed, how long ago, whether the kernel
/// has started.
struct Silence {
    watching: bool,
    last: Instant,
    kernel: bool,
}

impl Silence {
    /// Watching only a guest that KVM was chosen for automatically.
    fn new(options: &Options, kvm: bool) -> Silence {
        Silence { watching: kvm && options.accel == Accel::Auto, last: Instant::now(), kernel: false }
    }

    /// The console printed something (holding the kernel's banner when `kernel`).
    fn heard(&mut self, kernel: bool) {
        self.last = Instant::now();
        self.kernel |= kernel;
    }

    /// [`Outcome::KvmFailed`] when the guest has been silent too long.
    fn failed(&self) -> Option<Outcome> {
        (self.watching && !self.kernel && self.last.elapsed() > KVM_SILENCE).then(|| {
            Outcome::KvmFailed(format!(
                "the guest printed nothing for {} s under KVM before its kernel started",
                KVM_SILENCE.as_secs()
            ))
        })
    }
}

/// A running QEMU, its swtpm and its scratch directory; QEMU is stopped when dropped.
struct Machine {
    child: Child,
    program: &'static str,
    _tpm: Option<Tpm>,
    _work: tempfile::TempDir,
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each line of `from` to `tx` (made by `line`) until either side closes.
fn forward(
    from: impl std::io::Read + Send + 'static,
    tx: Sender<Line>,
    line: impl Fn(String) -> Option<Line> + Send + 'static,
) {
    std::thread::spawn(move || {
        for bytes in BufReader::new(from).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_owned();
            if let Some(l) = line(text) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        }
    });
}

/// Copies `from` to this process's standard output as it comes (an interactive console
/// is not line by line), telling `tx` of each piece and whether the kernel's banner has
/// been seen.
fn show(mut from: impl std::io::Read + Send + 'static, tx: Sender<Line>) {
    std::thread::spawn(move || {
        use std::io::Write;
        let (mut buf, mut tail) = ([0u8; 4096], Vec::new());
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
            tail.extend_from_slice(&buf[..n]);
            let kernel = tail.windows(KERNEL_BANNER.len()).any(|w| w == KERNEL_BANNER.as_bytes());
            tail.drain(..tail.len().saturating_sub(KERNEL_BANNER.len()));
            if tx.send(Line::Shown(kernel)).is_err() {
                break;
            }
        }
    });
}

/// Starts QEMU for `options`; its standard error goes on to ours, and a KVM failure
/// also to `tx`. With `watched`, the console goes to `tx` too (else it is this terminal).
fn start(options: &Options, kvm: bool, watched: bool, tx: &Sender<Line>) -> Result<Machine, QemuError> {
    let work = tempfile::tempdir().map_err(io("making a directory for the variable store"))?;
    let mut qemu = command(options, kvm, work.path())?;
    let tpm = if options.tpm { Some(tpm(&mut qemu, options.arch, work.path())?) } else { None };
    let (program, package) = program(options.arch);
    if watched {
        qemu.stdin(Stdio::null());
    }
    qemu.stdout(Stdio::piped());
    let mut child = qemu.stderr(Stdio::piped()).spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => QemuError::Missing { what: program.into(), path: "PATH".into(), package },
        _ => QemuError::Io { context: format!("starting {program}"), source: e },
    })?;
    match child.stdout.take() {
        Some(out) if watched => forward(out, tx.clone(), |l| Some(Line::Console(l))),
        Some(out) => show(out, tx.clone()),
        None => {}
    }
    if let Some(err) = child.stderr.take() {
        forward(err, tx.clone(), |l| {
            eprintln!("{l}");
            l.contains(KVM_FAILURE).then_some(Line::KvmFailed(l))
        });
    }
    Ok(Machine { child, program, _tpm: tpm, _work: work })
}

/// Boots as `options` say and watches the serial console: each line goes to `console`;
/// with `expect`, the first line matching it ends the boot. A kernel panic or the time
/// limit ends it too. QEMU is stopped before this returns. Under [`Accel::Auto`], a boot
/// KVM fails starts again under TCG, after `console` is told.
pub fn run(
    options: &Options,
    expect: Option<&regex_lite::Regex>,
    mut console: impl FnMut(&str),
) -> Result<Outcome, QemuError> {
    let kvm = first_kvm(options);
    match watch(options, kvm, expect, &mut console)? {
        Outcome::KvmFailed(why) if kvm && options.accel == Accel::Auto => {
            console(&format!("ingot boot: KVM failed ({why}); booting again with TCG"));
            watch(options, false, expect, &mut console)
        }
        outcome => Ok(outcome),
    }
}

/// One boot of [`run`].
fn watch(
    options: &Options,
    kvm: bool,
    expect: Option<&regex_lite::Regex>,
    console: &mut impl FnMut(&str),
) -> Result<Outcome, QemuError> {
    let (tx, rx) = channel();
    let mut machine = start(options, kvm, true, &tx)?;
    drop(tx);
    let started = Instant::now();
    let mut silence = Silence::new(options, kvm);
    loop {
        if started.elapsed() > options.timeout {
            return Ok(Outcome::Timeout);
        }
        if let Some(failed) = silence.failed() {
            return Ok(failed);
        }
        match rx.recv_timeout(POLL) {
            Ok(Line::Console(line)) => {
                silence.heard(line.contains(KERNEL_BANNER));
                console(&line);
                if let Some(m) = expect.and_then(|e| e.find(&line)) {
                    return Ok(Outcome::Matched(line[m.start()..].to_string()));
                }
                if line.contains("Kernel panic") {
                    return Ok(Outcome::Panic(line));
                }
            }
            Ok(Line::KvmFailed(why)) => return Ok(Outcome::KvmFailed(why)),
            Ok(Line::Shown(kernel)) => silence.heard(kernel),
            Err(RecvTimeoutError::Disconnected) => {
                return Ok(Outcome::Exited(machine.child.wait().ok().and_then(|s| s.code())));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Boots as `options` say with the serial console on this terminal (QEMU's stdin and
/// stdout are ours) until QEMU exits or the time limit passes; returns how it ended
/// ([`Outcome::Exited`], [`Outcome::Timeout`] or, under [`Accel::Kvm`],
/// [`Outcome::KvmFailed`]). Under [`Accel::Auto`], a boot KVM fails starts again under TCG.
pub fn interactive(options: &Options) -> Result<Outcome, QemuError> {
    let kvm = first_kvm(options);
    match attended(options, kvm)? {
        Outcome::KvmFailed(why) if kvm && options.accel == Accel::Auto => {
            eprintln!("ingot boot: KVM failed ({why}); booting again with TCG");
            attended(options, false)
        }
        outcome => Ok(outcome),
    }
}

/// One boot of [`interactive`].
fn attended(options: &Options, kvm: bool) -> Result<Outcome, QemuError> {
    let (tx, rx) = channel();
    let mut machine = start(options, kvm, false, &tx)?;
    drop(tx);
    let started = Instant::now();
    let mut silence = Silence::new(options, kvm);
    loop {
        let waited = machine.child.try_wait().map_err(io(format!("waiting for {}", machine.program)))?;
        if let Some(status) = waited {
            return Ok(Outcome::Exited(status.code()));
        }
        if started.elapsed() > options.timeout {
            return Ok(Outcome::Timeout);
        }
        if let Some(failed) = silence.failed() {
            return Ok(failed);
        }
        match rx.recv_timeout(POLL) {
            Ok(Line::KvmFailed(why)) => return Ok(Outcome::KvmFailed(why)),
            Ok(Line::Shown(kernel)) => silence.heard(kernel),
            Ok(Line::Console(line)) => silence.heard(line.contains(KERNEL_BANNER)),
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(POLL),
            _ => {}
        }
    }
}
