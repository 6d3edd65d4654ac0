#!/usr/bin/env bash
# The whole test suite: installs the test dependencies, checks formatting and lints,
# then runs every test of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
scripts/make-test-payload.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
