//! The words every ingot crate shares, one type each, in a crate that depends on no other
//! of ingot's. Today: the files a run reads as input ([`input`]) and their limits.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let recipe = dir.path().join("r.toml");
//! std::fs::write(&recipe, "name = \"x\"\n")?;
//! let text = ingot_types::input::read_to_string(&recipe, ingot_types::input::RECIPE_MAX)?;
//! assert_eq!(text, "name = \"x\"\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod input;
