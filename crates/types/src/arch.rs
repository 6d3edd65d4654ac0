//! The CPU architecture an image boots on: one type for the recipe's `[boot] arch`, the
//! boot chain's EFI file names, QEMU's machine and EC2's `Architecture`.
//!
//! ```
//! use ingot_types::Arch;
//! let arch: Arch = "arm64".parse()?;
//! assert_eq!((arch.as_str(), arch.efi_suffix()), ("arm64", "aa64"));
//! assert_eq!(arch.to_string(), "arm64");
//! assert!("aarch64".parse::<Arch>().unwrap_err().to_string().contains("x86_64 or arm64"));
//! # Ok::<(), ingot_types::Unknown>(())
//! ```

/// An architecture, spelled as the recipe and EC2 spell it (`x86_64`, `arm64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    /// x86-64: BOOTX64.EFI, systemd-bootx64.efi, `qemu-system-x86_64`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit ARM: BOOTAA64.EFI, systemd-bootaa64.efi, `qemu-system-aarch64`.
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// Every architecture, in the order the documentation lists them.
    pub const ALL: &'static [Arch] = &[Arch::X86_64, Arch::Arm64];

    /// The name the recipe's `arch` and EC2 give it (`x86_64`, `arm64`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The suffix of EFI file names for this architecture (`x64`, `aa64`; UEFI 2.10
    /// §3.5.1.1, removable media boot behavior).
    pub fn efi_suffix(self) -> &'static str {
        match self {
            Arch::X86_64 => "x64",
            Arch::Arm64 => "aa64",
        }
    }
}

crate::names::text_forms!(Arch, "x86_64 or arm64");
