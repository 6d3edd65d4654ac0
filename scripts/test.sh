#!/usr/bin/env bash
# The whole test suite: installs the test dependencies (Debian packages, the PyPI venv
# under target/venv), assembles the boot payloads of both architectures
# (target/test-payload/ARCH, and the Debian rootfs of recipes/debian-cloud*.toml in
# target/debian-rootfs), checks formatting and lints, then runs every test of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."

# A persistent target directory outside the clone, when the machine has one, saves
# compiling the AWS SDK again (the payloads and the venv stay under ./target).
cache="${INGOT_TARGET_CACHE:-$HOME/.cache/ingot-target}"
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "$cache" ]; then
    export CARGO_TARGET_DIR="$cache"
fi

scripts/install-test-deps.sh
for arch in amd64 arm64; do
    scripts/make-test-payload.sh "$arch" >/dev/null
    scripts/make-debian-rootfs.sh "$arch"
done
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
