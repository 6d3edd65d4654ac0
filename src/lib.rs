//! ingot's pipelines: they tie the recipe, tree, filesystem and disk crates together.
//! The `ingot` binary is a thin command line over these functions.
//!
//! ```no_run
//! let opts = ingot::BuildOptions {
//!     recipe: "recipes/hello.toml".into(),
//!     out: None,
//!     progress: ingot::Progress::hidden(),
//!     digest: true,
//! };
//! let report = ingot::build(&opts).unwrap();
//! println!("{} {:?}", report.image.display(), report.sha256);
//! ```

#![warn(missing_docs)]

mod boot;
mod build;
mod grub;
mod hash;
mod inspect;
pub mod instance_store;
mod progress;
pub mod publish;
mod report;
mod uki;

pub use build::{build, BuildOptions};
pub use inspect::{inspect, InspectedPartition, Inspection};
pub use progress::Progress;
pub use report::{PartitionReport, Report};
