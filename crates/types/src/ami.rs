//! The words of an AMI that EC2 defines (EC2 API Reference: RegisterImage's `BootMode`,
//! `EbsBlockDevice.VolumeType`, EnableImageDeregistrationProtection's `WithCooldown`), and
//! the rules between them that hold for every AMI. The recipe's `[ami]` checks them
//! where it is read (with the recipe's key and line); `ingot-aws` takes them as they are.
//!
//! ```
//! use ingot_types::{Arch, BootMode, VolumeType};
//! assert_eq!("uefi-preferred".parse::<BootMode>()?, BootMode::UefiPreferred);
//! assert!(VolumeType::Io2.takes_iops() && !VolumeType::Io2.takes_throughput());
//! assert!(BootMode::UefiPreferred.check(Arch::Arm64, false).is_err());
//! assert!(BootMode::Uefi.check(Arch::Arm64, true).is_ok());
//! # Ok::<(), ingot_types::Unknown>(())
//! ```

use crate::names::ec2_names;
use crate::Arch;

ec2_names! {
    /// An AMI's boot mode (`boot_mode`).
    BootMode ("legacy-bios, uefi or uefi-preferred") {
        /// `legacy-bios`: BIOS only.
        LegacyBios = "legacy-bios",
        /// `uefi`: UEFI only (arm64, NitroTPM, Secure Boot).
        Uefi = "uefi",
        /// `uefi-preferred`: UEFI where the instance type has it, else BIOS.
        UefiPreferred = "uefi-preferred",
    }
}

ec2_names! {
    /// Deregistration protection (`deregistration_protection`): EC2's
    /// EnableImageDeregistrationProtection, `WithCooldown` or not.
    Protection ("with-cooldown or without-cooldown") {
        /// Once disabled, the AMI stays protected for 24 more hours.
        WithCooldown = "with-cooldown",
        /// Disabling it takes effect at once.
        WithoutCooldown = "without-cooldown",
    }
}

ec2_names! {
    /// An EBS volume type (`volume_type`).
    VolumeType ("gp3, gp2, io1, io2, st1, sc1 or standard") {
        /// General purpose SSD, gp3 (takes iops and throughput).
        Gp3 = "gp3",
        /// General purpose SSD, gp2.
        Gp2 = "gp2",
        /// Provisioned IOPS SSD, io1.
        Io1 = "io1",
        /// Provisioned IOPS SSD, io2.
        Io2 = "io2",
        /// Throughput-optimised HDD.
        St1 = "st1",
        /// Cold HDD.
        Sc1 = "sc1",
        /// Magnetic (previous generation).
        Standard = "standard",
    }
}

impl VolumeType {
    /// Whether the volume takes provisioned IOPS (`iops`): gp3, io1, io2.
    pub fn takes_iops(self) -> bool {
        matches!(self, VolumeType::Gp3 | VolumeType::Io1 | VolumeType::Io2)
    }

    /// Whether the volume takes provisioned throughput (`throughput`): gp3 only.
    pub fn takes_throughput(self) -> bool {
        self == VolumeType::Gp3
    }
}

/// A boot mode the AMI's other settings rule out, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootRule {
    /// arm64 instances boot with UEFI only.
    #[error("arm64 AMIs boot with UEFI only: set boot_mode = \"uefi\"")]
    Arm64NeedsUefi,
    /// NitroTPM is UEFI only.
    #[error("tpm = true needs boot_mode = \"uefi\" (NitroTPM is UEFI only)")]
    TpmNeedsUefi,
}

impl BootMode {
    /// The boot mode an AMI gets unless told otherwise: UEFI where only UEFI will do
    /// (arm64, Secure Boot), else UEFI where the instance type has it.
    pub fn default_for(arch: Arch, secure_boot: bool) -> BootMode {
        if arch == Arch::Arm64 || secure_boot {
            BootMode::Uefi
        } else {
            BootMode::UefiPreferred
        }
    }

    /// Whether an AMI of `arch`, with NitroTPM or not, may have this boot mode.
    pub fn check(self, arch: Arch, tpm: bool) -> Result<(), BootRule> {
        if arch == Arch::Arm64 && self != BootMode::Uefi {
            return Err(BootRule::Arm64NeedsUefi);
        }
        if tpm && self != BootMode::Uefi {
            return Err(BootRule::TpmNeedsUefi);
        }
        Ok(())
    }
}

/// What an AMI says about the instances launched from it (RegisterImage's
/// `Architecture`, `BootMode`, `EnaSupport`, `SriovNetSupport`, `TpmSupport` and
/// `ImdsSupport`): the recipe's `[ami]` and the EC2 request hold this one value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Machine {
    /// The architecture (from `[boot] arch`).
    pub architecture: Arch,
    /// The boot mode.
    pub boot_mode: BootMode,
    /// ENA support.
    pub ena: bool,
    /// SriovNetSupport `simple`.
    pub sriov: bool,
    /// NitroTPM v2.0 (UEFI only: [`BootMode::check`]).
    pub tpm: bool,
    /// Require IMDSv2 on instances launched from it.
    pub imds_v2: bool,
}

/// The root volume an EBS-backed AMI maps (RegisterImage's `RootDeviceName` and its
/// `BlockDeviceMapping.Ebs`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RootVolume {
    /// The root device name, e.g. `/dev/xvda`.
    pub root_device_name: String,
    /// The volume type.
    pub volume_type: VolumeType,
    /// The size in GiB (default: the snapshot's).
    pub volume_size_gib: Option<u64>,
    /// Provisioned IOPS ([`VolumeType::takes_iops`]).
    pub iops: Option<u32>,
    /// Provisioned throughput in MiB/s ([`VolumeType::takes_throughput`]).
    pub throughput: Option<u32>,
    /// Delete the volume when the instance terminates.
    pub delete_on_termination: bool,
}
