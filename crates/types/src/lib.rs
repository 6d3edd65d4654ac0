//! The words every ingot crate shares, one type each, in a crate that depends on no other
//! of ingot's: the architecture ([`Arch`]), an AMI's boot mode, volume type and
//! deregistration protection ([`ami`]), the boot loader ([`boot`]), the partition table
//! kind ([`disk`]), partition types in one table ([`partition`]), EROFS compression
//! ([`filesystem`]), EBS's limits ([`ebs`]), the calendar
//! ([`calendar`]), the files a run reads as input and their limits ([`input`]), and one
//! run's cancellation and clean-up ([`control`]). Each enum has `ALL`, `as_str`,
//! `Display`, `FromStr` and serde in one spelling, and its one validation.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let recipe = dir.path().join("r.toml");
//! std::fs::write(&recipe, "name = \"x\"\n")?;
//! let text = ingot_types::input::read_to_string(&recipe, ingot_types::input::RECIPE_MAX)?;
//! assert_eq!(text, "name = \"x\"\n");
//! assert_eq!("x86_64".parse::<ingot_types::Arch>()?, ingot_types::Arch::X86_64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ami;
mod arch;
pub mod boot;
pub mod calendar;
pub mod control;
pub mod disk;
pub mod ebs;
pub mod filesystem;
pub mod input;
mod names;
pub mod partition;

pub use ami::{BootMode, BootRule, Machine, Protection, RootVolume, VolumeType};
pub use arch::Arch;
pub use boot::{CoreLocation, RootFs, UefiLoader};
pub use disk::TableKind;
pub use names::Unknown;
pub use partition::{PartitionType, PARTITION_TYPES};
