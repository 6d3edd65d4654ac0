//! ingot's recipe: the TOML file that says what disk to build.
//!
//! [`Recipe::load`] parses and validates a recipe; every error names the file, line and
//! column of the key at fault (and, for a misspelt key, the nearest valid one).
//! [`Recipe::layout`] then places the partitions on the disk, once the sizes of any
//! `size = "auto"` partitions are known, and yields a [`Plan`] in which every size, offset
//! and identifier is resolved.
//!
//! ```
//! let toml = r#"
//! name = "demo"
//! size = "64 MiB"
//! [[partition]]
//! label = "ESP"
//! type = "esp"
//! size = "fill"
//! filesystem = "vfat"
//! "#;
//! let recipe = ingot_recipe::Recipe::parse(toml, "demo.toml".as_ref()).unwrap();
//! let plan = recipe.layout(&[None]).unwrap();
//! assert_eq!(plan.partitions[0].offset, 1 << 20);
//! assert_eq!(plan.disk_size, 64 << 20);
//! ```

mod ami;
mod boot;
mod caps;
mod error;
mod filesystem;
mod layout;
mod model;
mod partition_type;
mod schema;
mod secure_boot;
mod seed;
mod units;
mod validate;
mod verity;

pub use ami::{check_parameter_template, COPY_COMPLETION_MINUTES, COPY_COMPLETION_STEP, SSM_NAME_MAX};
pub use caps::capability_xattr;
pub use error::RecipeError;
pub use layout::{Plan, PlannedPartition};
pub use model::{
    Ami, Boot, Erofs, Ext4, Filesystem, Override, PartitionSpec, Recipe, SecureBoot, SizeSpec, Source, Verity, Vfat,
};
pub use schema::json_schema;
pub use seed::Seed;
pub use units::{format_size, parse_size};
