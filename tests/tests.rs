//! The end-to-end tests, in one binary: one module per area, and `util` with the helpers
//! they share (running the binary, the independent checking tools, the AWS test rig).

mod util;

mod arm64;
mod aws;
mod bad_input;
mod boot;
mod build;
mod bundle;
mod cli;
mod erofs;
mod ext4;
mod fuzz;
mod hostile;
mod inspect;
mod instance_store;
mod interrupt;
mod library;
mod lifecycle;
mod measure;
mod reproducible;
mod secure_boot;
mod verity;
