use std::path::PathBuf;

/// Why the boot chain could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A file the boot chain reads is missing from the root tree, or is not a file.
    #[error(
        "{key}: {path} {} partition[{partition}]'s tree{}{hint}",
        found.map_or("is not in".to_string(), |k| format!("is a {k} in")),
        if found.is_none() { "; check the path or the partition's contents" } else { ", not a file" }
    )]
    NotInTree {
        /// The recipe key that asked for it (`boot.kernel`, `boot.uefi = "uki"`, …).
        key: String,
        /// The path in the tree.
        path: String,
        /// The root partition's index.
        partition: usize,
        /// What is there instead, if anything.
        found: Option<&'static str>,
        /// Where the file comes from (` (Debian: …)`), or empty.
        hint: &'static str,
    },
    /// GRUB's modules for a platform are not in the root tree.
    #[error("GRUB's {platform} modules are not in the root tree at {dir} (Debian: {package})")]
    NoGrubModules {
        /// `i386-pc`, `x86_64-efi`, `arm64-efi`.
        platform: &'static str,
        /// Where they were looked for.
        dir: String,
        /// The Debian package that ships them.
        package: &'static str,
    },
    /// A file of the boot chain has the wrong size.
    #[error("{path} is {len} bytes, not one sector")]
    BadBootImage {
        /// The path in the tree.
        path: String,
        /// Its size.
        len: usize,
    },
    /// A host tool could not be started.
    #[error("{what} with {tool}, which is not on this machine (Debian: {package})")]
    ToolMissing {
        /// What it was for.
        what: &'static str,
        /// The tool.
        tool: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// A host tool failed.
    #[error("{tool} failed ({status}) {doing}")]
    ToolFailed {
        /// The tool and its main argument.
        tool: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it was doing.
        doing: String,
    },
    /// The UKI stub cannot take the UKI's sections.
    #[error("{path} in the root tree cannot be the UKI's systemd-stub: {why}")]
    BadStub {
        /// The stub's path in the tree.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// An EFI binary could not be signed.
    #[error("signing {path} with secure_boot.db_key: {source}")]
    Sign {
        /// The file, as it is named in the root tree or on the ESP.
        path: String,
        /// Why.
        #[source]
        source: crate::authenticode::SignError,
    },
    /// A binary built for another architecture than the recipe's.
    #[error(
        "{path} in the root tree is an {found} binary, but the recipe's boot.arch is {want}: \
         take it from the {want} packages, or set boot.arch"
    )]
    WrongArch {
        /// The file's path in the tree.
        path: String,
        /// Its architecture.
        found: String,
        /// The recipe's.
        want: &'static str,
    },
    /// GRUB's core.img does not fit where BIOS boot code goes.
    #[error("GRUB's core.img is {size} bytes and does not fit {place}; make it larger")]
    CoreTooLarge {
        /// core.img's size.
        size: usize,
        /// The room, described.
        place: String,
    },
    /// A file could not be added to a tree.
    #[error("{tree}")]
    Tree {
        /// `ESP` or `root`.
        tree: &'static str,
        /// What went wrong.
        #[source]
        source: ingot_tree::TreeError,
    },
    /// A temporary or boot file could not be read or written.
    #[error("{what}")]
    Io {
        /// What was being done, with the path if there is one.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A UKI whose measurements cannot be predicted.
    #[error("cannot predict the TPM measurements of {path}: {why}")]
    Measure {
        /// The UKI.
        path: String,
        /// Why.
        why: String,
    },
    /// Writing the boot code into the image failed.
    #[error("writing the BIOS boot code")]
    Disk(#[from] ingot_disk::DiskError),
}

impl BootError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BootError {
        let what = what.into();
        move |source| BootError::Io { what, source }
    }

    pub(crate) fn io_at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BootError {
        BootError::io(PathBuf::from(path).display().to_string())
    }
}
