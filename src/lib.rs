//! ingot's pipelines: they tie the recipe, tree, filesystem, boot, disk, bundle and AWS
//! crates together. The `ingot` binary is a thin command line over these functions: it
//! parses flags into the option types here, draws [`Progress`] and prints the reports.
//!
//! ```no_run
//! let opts = ingot::BuildOptions {
//!     recipe: "recipes/hello.toml".into(),
//!     out: None,
//!     progress: ingot::Progress::hidden(),
//!     digests: ingot::ReportDigests::default(),
//!     control: ingot::Control::new(),
//! };
//! let report = ingot::build(&opts)?;
//! println!("{} {:?}", report.image.display(), report.digest);
//! # Ok::<(), ingot::Error>(())
//! ```

mod account;
mod build;
pub mod bundle;
mod check;
mod error;
mod hash;
mod input;
mod inspect;
pub mod instance_store;
pub mod lifecycle;
mod measure;
mod options;
mod progress;
pub mod publish;
mod report;
pub mod secure_boot;
mod staged;
mod verity;

pub use build::{build, BuildOptions};
pub use check::{check, BootPlan, Check, CheckedPartition};
pub use error::{Error, Result};
pub use hash::ReportDigests;
pub use ingot_types::control::{Control, Stopped};
pub use inspect::{
    inspect, is_fat_reader_panic, EfiBinary, FilesystemInfo, InspectedPartition, Inspection, VerityInfo,
};
pub use measure::{
    measure, BankMeasurements, EventValue, Measurements, NitroTpm, NitroTpmMeasurements, PcrValue,
    Scope as MeasureScope, PCR_TAGS,
};
pub use options::{
    AwsChoice, BundleChoice, Field, InstanceStoreChoice, RegisterChoice, UploadChoice, DEFAULT_BUNDLE_ARCH,
    DEFAULT_BUNDLE_REGION,
};
pub use progress::{Event, Progress};
pub use report::{PartitionReport, Report};
pub use verity::{verify, VerityCheck, VerityReport};
