//! Sparse disk images and their partition tables.
//!
//! `ingot-disk` knows regions and tables, not filesystems. An [`Image`] is a file created
//! at its full size with no data in it; writers get a [`Region`] (a window onto the image
//! that implements `Read`, `Write` and `Seek`) and only the bytes they write take space. A
//! write of zeros to a part of the image nothing has written yet is skipped: it would only
//! turn a hole into allocated zeros.
//!
//! Partition tables are written with [`gpt::write`] and [`mbr::write`] and read back with
//! [`read_table`].
//!
//! ```
//! use ingot_disk::{gpt, Image, SECTOR};
//! use std::io::Write;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("disk.raw");
//! let mut image = Image::create(&path, 8 << 20).unwrap();
//! image.region(1 << 20, 1 << 20).unwrap().write_all(b"hello").unwrap();
//! let table = gpt::Table {
//!     disk_guid: uuid::Uuid::from_u128(1),
//!     partitions: vec![gpt::Partition {
//!         type_guid: uuid::uuid!("0fc63daf-8483-4772-8e79-3d69d8477de4"), // Linux data
//!         guid: uuid::Uuid::from_u128(2),
//!         first_lba: 2048,
//!         last_lba: 4095,
//!         attributes: 0,
//!         name: "data".into(),
//!     }],
//! };
//! gpt::write(&mut image, &table).unwrap();
//! let read = ingot_disk::read_table(image.file(), 8 << 20).unwrap();
//! assert_eq!(read.partitions()[0].first_lba, 2048);
//! # let _ = SECTOR;
//! ```

pub mod digest;
mod error;
pub mod gpt;
mod image;
pub mod mbr;
mod ranges;
mod read;
mod sparse;

pub use error::DiskError;
pub use image::{is_zero, Image, Region};
pub use ranges::RangeSet;
pub use read::{read_table, Table, TableEntry, GPT_ENTRIES_MAX, GPT_ENTRY_SIZE_MAX};
pub use sparse::data_ranges;

/// The logical sector size of every image ingot writes (EBS and Nitro NVMe disks use 512).
pub const SECTOR: u64 = 512;
