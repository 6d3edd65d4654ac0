//! Hostile input, round 2 (issue 31): what a careful attacker or a careless user tried and
//! what must hold. Each test makes its reproduction itself; what it guards against
//! (a lost file, a hang, a crash) fails the test instead of hanging the suite.

use crate::util::*;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

const SMALL: &str =
    "name = \"small\"\nsize = \"8 MiB\"\n[[partition]]\ntype = \"linux\"\nsize = \"fill\"\nfilesystem = \"ext4\"\n";

/// `ingot build RECIPE -o OUT`, expected to fail before any work: its error.
fn refused(recipe: &Path, out: &Path) -> String {
    let o = run(ingot().arg("build").arg(recipe).arg("-o").arg(out));
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `-o` naming a device node, a symlink, a FIFO or a directory is refused before any work
/// (the recipe's missing source is never reached), and what is there stays as it was.
#[test]
fn the_output_must_be_a_regular_file_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Not a tarball: reading it would fail, so an error about it means the output was not
    // checked first.
    let r = recipe(dir.path(), &format!("{SMALL}[[partition.contents]]\ntar = \"recipe.toml\"\n"));
    let device = dir.path().join("full");
    let made = run(std::process::Command::new("mknod").arg(&device).args(["c", "1", "7"]));
    assert!(made.status.success(), "mknod (the tests run as root): {made:?}");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(run(std::process::Command::new("mkfifo").arg(&fifo)).status.success());
    let directory = dir.path().join("directory");
    std::fs::create_dir(&directory).unwrap();
    for (out, what) in
        [(&device, "a device node"), (&link, "a symbolic link"), (&fifo, "a FIFO"), (&directory, "a directory")]
    {
        let e = refused(&r, out);
        assert!(e.contains(&format!("{} is {what}", out.display())), "{e}");
        assert!(!e.contains("contents[0]"), "checked before the sources are read: {e}");
    }
    assert!(std::fs::symlink_metadata(&device).unwrap().file_type().is_char_device(), "the device stays");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO stays");
    assert_eq!(names_in(dir.path()), ["directory", "fifo", "full", "link", "recipe.toml"], "nothing else written");
}

/// A report path that cannot be written (a directory named OUT.json) is found before the
/// build: the previous image stays byte for byte.
#[test]
fn a_report_that_cannot_be_written_leaves_the_previous_image() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), SMALL);
    let out = dir.path().join("p2");
    std::fs::write(&out, b"the previous image").unwrap();
    std::fs::create_dir(dir.path().join("p2.json")).unwrap();
    let e = refused(&r, &out);
    assert!(e.contains("p2.json is a directory"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous image");
    assert_eq!(names_in(dir.path()), ["p2", "p2.json", "recipe.toml"]);
}

/// An output inside a `dir` source would copy the image into itself: refused, naming the
/// recipe key, and the source directory is left as it was.
#[test]
fn an_output_inside_a_dir_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src2");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("file"), b"payload").unwrap();
    let r = recipe(dir.path(), &format!("{SMALL}[[partition.contents]]\ndir = \"src2\"\n"));
    for out in [src.join("x.raw"), src.join("sub/x.raw")] {
        let e = refused(&r, &out);
        assert!(e.contains("partition[0].contents[0].dir") && e.contains("inside the source directory"), "{e}");
    }
    assert_eq!(names_in(&src), ["file", "sub"]);
    assert_eq!(names_in(&src.join("sub")), Vec::<String>::new());
}

/// A reader that goes away ends the command quietly, as coreutils do; a full disk is an
/// error with a non-zero exit; neither is a panic.
#[test]
fn a_closed_or_full_stdout_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), SMALL);
    let bin = env!("CARGO_BIN_EXE_ingot");
    let commands: [&[&str]; 4] = [&["schema"], &["completions", "bash"], &["check", "--json"], &["check"]];
    for args in commands {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let with_recipe = if args[0] == "check" { format!(" {}", r.display()) } else { String::new() };
        let line = format!("{bin} {}{with_recipe}", args.join(" "));
        // The reader is gone before ingot writes: the write fails with EPIPE.
        let closed = format!("set -o pipefail; {{ sleep 0.3; {line}; }} | true");
        let closed = run(std::process::Command::new("bash").args(["-c", &closed]));
        assert_eq!(closed.status.code(), Some(0), "{line} | true: {closed:?}");
        assert_eq!(String::from_utf8_lossy(&closed.stderr), "", "{line} | true says nothing");
        let full = run(std::process::Command::new("bash").args(["-c", &format!("{line} > /dev/full")]));
        assert_eq!(full.status.code(), Some(1), "{line} > /dev/full: {full:?}");
        let err = String::from_utf8_lossy(&full.stderr);
        assert!(err.contains("cannot write to standard output: No space left on device"), "{line}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A change to a header or an entry array.
type Edit = dyn Fn(&mut [u8]);

/// Rewrites both GPT headers of `image` with `edit(header)` and, when `entries` is given,
/// both entry arrays with `entries(array)`, recomputing every CRC: a hostile table that
/// passes the checksums.
fn rewrite_gpt(image: &Path, edit: impl Fn(&mut [u8]), entries: Option<&Edit>) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(image).unwrap();
    let last = f.metadata().unwrap().len() / 512 - 1;
    for lba in [1, last] {
        let mut h = vec![0u8; 512];
        f.read_exact_at(&mut h, lba * 512).unwrap();
        let field = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap()) as u64;
        if let Some(entries) = entries {
            let array_lba = u64::from_le_bytes(h[72..80].try_into().unwrap());
            let mut array = vec![0u8; (field(80) * field(84)) as usize];
            f.read_exact_at(&mut array, array_lba * 512).unwrap();
            entries(&mut array);
            f.write_all_at(&array, array_lba * 512).unwrap();
            h[88..92].copy_from_slice(&crc32(&array).to_le_bytes());
        }
        edit(&mut h);
        h[16..20].fill(0);
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        f.write_all_at(&h, lba * 512).unwrap();
    }
}

/// `ingot inspect IMAGE --json` under a memory and time bound: its exit code and output.
fn inspect_bounded(image: &Path) -> (Option<i32>, String) {
    let o = bounded(&format!("{} inspect --json {}", env!("CARGO_BIN_EXE_ingot"), image.display()));
    (o.status.code(), String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr))
}

/// GPT entry sizes the UEFI spec does not allow (or ingot will not read: a 4 GiB array)
/// are refused, not allocated; extents that wrap or end before they start are refused,
/// and partitions past the end of the disk or over each other are shown with a warning.
#[test]
fn hostile_gpt_entry_sizes_and_extents_are_refused_or_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), SMALL);
    let image = dir.path().join("gpt.raw");
    build_checked(&r, &image);
    let set = |at: usize, v: u32| move |h: &mut [u8]| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    for (entries, size, says) in [
        (1024, 0xFFFF_FFFF, "entry size 4294967295 is not 128 × 2^n"),
        (1024, 2 << 20, "entry size 2097152"),
        (128, 200, "entry size 200"),
        (4096, 128, "4096 entries"),
    ] {
        let copy = dir.path().join("copy.raw");
        std::fs::copy(&image, &copy).unwrap();
        rewrite_gpt(
            &copy,
            |h| {
                set(80, entries)(h);
                set(84, size)(h);
            },
            None,
        );
        let (code, said) = inspect_bounded(&copy);
        assert_eq!(code, Some(1), "{said}");
        assert!(said.contains(says), "{says}: {said}");
    }
    let lba = |first: u64, last: u64| {
        move |a: &mut [u8]| {
            a[32..40].copy_from_slice(&first.to_le_bytes());
            a[40..48].copy_from_slice(&last.to_le_bytes());
        }
    };
    for (first, last) in [(4096, 2048), (1 << 60, (1 << 60) + 10), ((1 << 55) + 2048, (1 << 55) + 4096)] {
        let copy = dir.path().join("copy.raw");
        std::fs::copy(&image, &copy).unwrap();
        rewrite_gpt(&copy, |_| {}, Some(&lba(first, last)));
        let (code, said) = inspect_bounded(&copy);
        assert_eq!(code, Some(1), "{said}");
        assert!(said.contains(&format!("runs from LBA {first} to LBA {last}: no such extent")), "{said}");
    }
    // Past the end, then over the first partition (a second entry).
    let copy = dir.path().join("copy.raw");
    std::fs::copy(&image, &copy).unwrap();
    rewrite_gpt(&copy, |_| {}, Some(&lba(2048, 1 << 20)));
    let (code, said) = inspect_bounded(&copy);
    assert_eq!(code, Some(0), "{said}");
    let i: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert!(i["partitions"][0]["warnings"][0].as_str().unwrap().contains("past the end of the disk"), "{i}");
    rewrite_gpt(
        &copy,
        |_| {},
        Some(&|a: &mut [u8]| {
            let first = a[..128].to_vec();
            a[128..256].copy_from_slice(&first);
            a[128 + 16] ^= 1; // another unique GUID
            a[32..40].copy_from_slice(&2048u64.to_le_bytes());
            a[40..48].copy_from_slice(&4095u64.to_le_bytes());
        }),
    );
    let (code, said) = inspect_bounded(&copy);
    assert_eq!(code, Some(0), "{said}");
    let i: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(i["partitions"][1]["warnings"][0], "ends at LBA 1048576, past the end of the disk (LBA 16383)", "{i}");
    assert_eq!(i["partitions"][0]["warnings"][0], "overlaps partition 2", "{i}");
    assert_eq!(i["partitions"][1]["filesystem"], serde_json::Value::Null, "not read where it cannot be");
}

/// An MBR partition in the second slot alone is partition 2, as sfdisk and the kernel
/// number it, and its PARTUUID ends in -02.
#[test]
fn mbr_partitions_are_numbered_by_their_slot() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let text = SMALL.replace("size = \"8 MiB\"\n", "size = \"8 MiB\"\ntable = \"mbr\"\n");
    let image = dir.path().join("mbr.raw");
    build_checked(&recipe(dir.path(), &text), &image);
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&image).unwrap();
    let mut entry = [0u8; 16];
    f.read_exact_at(&mut entry, 446).unwrap();
    f.write_all_at(&[0u8; 16], 446).unwrap();
    f.write_all_at(&entry, 462).unwrap();
    let o = run(std::process::Command::new("sfdisk").arg("--json").arg(&image));
    let table: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let node = table["partitiontable"]["partitions"][0]["node"].as_str().unwrap().to_string();
    assert!(node.ends_with("mbr.raw2"), "sfdisk: {node}");
    let (code, said) = inspect_bounded(&image);
    assert_eq!(code, Some(0), "{said}");
    let i: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(i["partitions"][0]["number"], 2, "{i}");
    assert!(i["partitions"][0]["guid"].as_str().unwrap().ends_with("-02"), "{i}");
}

/// `bash -c LINE` under a memory (2 GB of address space) and time (60 s) bound: a
/// regression fails the test instead of hanging the suite or the machine.
fn bounded(line: &str) -> std::process::Output {
    let o = run(std::process::Command::new("bash").args(["-c", &format!("ulimit -v 2000000; timeout 60 {line}")]));
    assert_ne!(o.status.code(), Some(124), "{line} did not finish in 60 s");
    o
}

/// Writes a GNU tar at `path` of empty regular files named `names` (root's, 0644).
fn write_empty_files(path: &Path, names: impl IntoIterator<Item = String>) {
    let mut b = tar::Builder::new(Vec::new());
    for name in names {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &name, &[][..]).unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

/// A tar member nested 40,000 directories deep (an 80 KB name) is refused at once with
/// the kernel's limit named, instead of costing minutes and gigabytes.
#[test]
fn a_deeply_nested_tar_name_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let name = "d/".repeat(40_000) + "leaf";
    write_empty_files(&dir.path().join("deep.tar"), [name]);
    let r = recipe(dir.path(), &format!("{SMALL}[[partition.contents]]\ntar = \"deep.tar\"\n"));
    let out = dir.path().join("deep.raw");
    let o = bounded(&format!("{} build {} -o {}", env!("CARGO_BIN_EXE_ingot"), r.display(), out.display()));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("PATH_MAX") && err.contains("contents[0]"), "{}", &err[..err.len().min(2000)]);
    assert_eq!(names_in(dir.path()), ["deep.tar", "recipe.toml"]);
}

/// A FAT32 root directory whose cluster chain loops back on itself (FAT[2] = 2 in both
/// FATs) and whose entries are all deleted: `inspect` (which walks the ESP for EFI
/// binaries) ends, reporting the volume as damaged, instead of walking for ever.
#[test]
fn a_looping_fat_directory_ends_the_walk() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("hello.raw");
    let report = build(&repo().join("recipes/hello.toml"), &image);
    let esp = report["partitions"][0]["offset"].as_u64().unwrap();
    let f = std::fs::OpenOptions::new().read(true).write(true).open(&image).unwrap();
    let mut boot = [0u8; 512];
    f.read_exact_at(&mut boot, esp).unwrap();
    let u16at = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
    let u32at = |at: usize| u64::from(u32::from_le_bytes(boot[at..at + 4].try_into().unwrap()));
    let (sector, per_cluster, reserved, fats) = (u16at(11), u64::from(boot[13]), u16at(14), u64::from(boot[16]));
    assert_eq!(u16at(22), 0, "hello's ESP is FAT32");
    let (fat_sectors, root) = (u32at(36), u32at(44));
    for n in 0..fats {
        let fat = esp + (reserved + n * fat_sectors) * sector;
        f.write_all_at(&(root as u32).to_le_bytes(), fat + 4 * root).unwrap();
    }
    let data = esp + (reserved + fats * fat_sectors) * sector;
    let cluster = data + (root - 2) * per_cluster * sector;
    for e in 0..per_cluster * sector / 32 {
        f.write_all_at(&[0xE5], cluster + 32 * e).unwrap();
    }
    let o = bounded(&format!("{} inspect --json {}", env!("CARGO_BIN_EXE_ingot"), image.display()));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let i: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let error = i["partitions"][0]["efi_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("cluster chain loops"), "{i}");
}

/// `unbundle` of a manifest with a malformed tag, of one too big, of /dev/zero and of a
/// FIFO: an error naming it, no panic, no hang, and the `-d` directory it made is gone.
#[test]
fn hostile_manifests_are_errors_not_panics_or_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _, _) = identity(dir.path(), "user");
    let malformed = dir.path().join("bad.manifest.xml");
    std::fs::write(
        &malformed,
        "<manifest><machine_configuration></machine_configuration><image></image><version </version></manifest>",
    )
    .unwrap();
    let big = dir.path().join("big.manifest.xml");
    std::fs::write(&big, "<manifest>".repeat(200_000)).unwrap();
    let fifo = dir.path().join("fifo.manifest.xml");
    assert!(run(std::process::Command::new("mkfifo").arg(&fifo)).status.success());
    for (manifest, says) in [
        (malformed.as_path(), "<version> is malformed"),
        (big.as_path(), "2000000 bytes, more than the 1048576 bytes such a file may have"),
        (Path::new("/dev/zero"), "/dev/zero: is a device node, not a regular file"),
        (fifo.as_path(), "fifo.manifest.xml: is a FIFO, not a regular file"),
    ] {
        let out = dir.path().join("restored");
        let line = format!(
            "{} unbundle {} --privatekey {} -d {}",
            env!("CARGO_BIN_EXE_ingot"),
            manifest.display(),
            key.display(),
            out.display()
        );
        let o = bounded(&line);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}: {err}", manifest.display());
        assert!(err.contains(says), "{says}: {err}");
        assert!(!out.exists(), "{}: the -d directory is left", manifest.display());
    }
}

/// Inputs read whole must be regular files of a size fit for their kind: a FIFO, a
/// device or a 3 GiB sparse file as a recipe, an image, a key or a manifest is refused at
/// once, naming it, within the memory bound (each used to block, or grow until out of
/// memory).
#[test]
fn inputs_must_be_regular_files_of_a_sane_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo");
    assert!(run(std::process::Command::new("mkfifo").arg(&fifo)).status.success());
    let sparse = d.join("huge.pem");
    std::fs::File::create(&sparse).unwrap().set_len(3 << 30).unwrap();
    let image = d.join("small.raw");
    build_checked(&recipe(d, SMALL), &image);
    let raw = recipe(d, &SMALL.replace("filesystem = \"ext4\"\n", "[[partition.contents]]\nimage = \"fifo\"\n"));
    let bin = env!("CARGO_BIN_EXE_ingot");
    let (f, s, i, r) = (fifo.display(), sparse.display(), image.display(), raw.display());
    let cert = d.join("cert.pem");
    std::fs::write(&cert, "read before the key").unwrap();
    let bundle = format!(
        "{bin} bundle {i} -d {} --cert {} --user 123456789012 --privatekey",
        d.join("b").display(),
        cert.display()
    );
    let cases = [
        (format!("{bin} check {f}"), format!("{f}: is a FIFO, not a regular file")),
        (format!("{bin} check /dev/zero"), "/dev/zero: is a device node, not a regular file".to_string()),
        (format!("{bin} inspect {f}"), format!("{f}: is a FIFO, not a regular file")),
        (format!("{bin} inspect {}", d.display()), "is a directory, not a regular file".to_string()),
        (format!("{bin} boot {f}"), format!("{f}: is a FIFO, not a regular file")),
        (format!("{bin} build {r} -o {}", d.join("raw.raw").display()), format!("{f}: is a FIFO")),
        (format!("{bundle} {f}"), "is a FIFO, not a regular file".to_string()),
        (format!("{bundle} /dev/zero"), "/dev/zero: is a device node".to_string()),
        (format!("{bundle} {s}"), "3221225472 bytes, more than the 1048576 bytes".to_string()),
    ];
    for (line, says) in cases {
        let o = bounded(&line);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{line}: {err}");
        assert!(err.contains(&says), "{line}: wanted {says:?} in {err}");
    }
}

/// A cause is printed once ("File exists", not "File exists: File exists"), and a control
/// character in a recipe's name is refused at its key rather than sent to the terminal.
#[test]
fn messages_say_each_cause_once_and_send_no_terminal_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = run(ingot().arg("keys").arg(file.join("sub")));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let cause = err.trim().rsplit(": ").next().unwrap().to_string();
    assert_eq!(err.matches(&cause).count(), 1, "{err}");
    let r = recipe(dir.path(), &SMALL.replace("name = \"small\"", "name = \"\\u001b]0;pwned\\u0007\""));
    let o = run(ingot().arg("check").arg(&r));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("name: must be a non-empty file name without '/' or control characters"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    // A partition label that becomes a bad FAT label is reported at the label.
    let esp =
        "name = \"e\"\n[[partition]]\nlabel = \"a.b\"\ntype = \"esp\"\nsize = \"32 MiB\"\nfilesystem = \"vfat\"\n";
    let o = run(ingot().arg("check").arg(recipe(dir.path(), esp)));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("recipe.toml:3:9: partition[0].label: \"a.b\" becomes the FAT volume label"), "{err}");
}

/// What `check` passes, `build` builds: more than 128 GPT partitions and a disk larger
/// than EBS's largest volume are refused by both at the key; an auto-sized ext4 is sized
/// for its inodes (100,000 empty files; an `inode_count` of 1,100,000) instead of failing
/// or clamping the count.
#[test]
fn check_and_build_agree_on_limits_and_auto_sizes_count_inodes() {
    let dir = tempfile::tempdir().unwrap();
    let many = format!("name = \"many\"\n{}", "[[partition]]\ntype = \"linux\"\nsize = \"1 MiB\"\n".repeat(129));
    let size = SMALL.replace("size = \"8 MiB\"", "size = \"8388607 TiB\"");
    for (text, says) in [
        (many, "recipe.toml:386:1: partition: a GPT holds at most 128 partitions (this recipe has 129)"),
        (size, "size: 8388607 TiB is more than the largest disk, 64 TiB"),
    ] {
        let r = recipe(dir.path(), &text);
        for cmd in ["check", "build"] {
            let o = run(ingot()
                .arg(cmd)
                .arg(&r)
                .arg(if cmd == "build" { "-o" } else { "--json" })
                .args((cmd == "build").then(|| dir.path().join("x.raw"))));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{cmd}: {err}");
            assert!(err.contains(says), "{cmd}: wanted {says:?}: {err}");
        }
    }

    write_empty_files(&dir.path().join("many.tar"), (0..100_000).map(|i| format!("f/{i:06}")));
    let auto = "name = \"auto\"\n[[partition]]\ntype = \"linux\"\nsize = \"auto\"\nfilesystem = \"ext4\"\n";
    let files = format!("{auto}[[partition.contents]]\ntar = \"many.tar\"\n");
    let counted = format!("{auto}[partition.ext4]\ninode_count = 1100000\n");
    for (text, at_least) in [(files, 100_012u64), (counted, 1_100_000)] {
        let out = dir.path().join("auto.raw");
        let report = build_checked(&recipe(dir.path(), &text), &out);
        let p = &report["partitions"][0];
        let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        e2fsck_clean(&out, off, len);
        let stats = debugfs(&out, off, len, "stats");
        let count: u64 = stats
            .lines()
            .find_map(|l| l.strip_prefix("Inode count:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no inode count in {stats}"));
        assert!(count >= at_least, "{count} inodes, wanted {at_least} at least");
        std::fs::remove_file(&out).unwrap();
    }
}
