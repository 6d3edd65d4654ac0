//! EBS's limits on what a disk image becomes: a volume of whole GiB, a snapshot written
//! within a timeout. They live in the vocabulary crate, below both the recipe (which checks `[ami]`) and the
//! uploader (which checks flags and requests), so that each limit is written once.
//!
//! Sources: the EC2 API Reference, `EbsBlockDevice.VolumeSize` (1–65,536 GiB for the
//! largest volume types), and the EBS direct API Reference, `StartSnapshot.Timeout`
//! ("Valid Range: Minimum value of 10. Maximum value of 4320", default 60).

use std::ops::RangeInclusive;

/// Sizes in GiB an EBS volume may have (the largest types reach 64 TiB).
pub const VOLUME_SIZE_GIB: RangeInclusive<u64> = 1..=65_536;

/// The largest disk ingot writes: the largest EBS volume ([`VOLUME_SIZE_GIB`]). A larger
/// image could be published nowhere, and the integer conversions of the layout and the
/// file (`off_t`) stay far from their limits.
pub const DISK_SIZE_MAX: u64 = *VOLUME_SIZE_GIB.end() << 30;

/// Minutes `StartSnapshot` accepts as the time to complete a snapshot before EBS fails it.
pub const SNAPSHOT_TIMEOUT_MINUTES: RangeInclusive<u32> = 10..=4_320;

/// The snapshot timeout ingot asks for unless told otherwise: StartSnapshot's own default,
/// ample for the upload of a disk image of tens of GiB.
pub const DEFAULT_SNAPSHOT_TIMEOUT_MINUTES: u32 = 60;
