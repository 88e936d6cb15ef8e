#!/usr/bin/env bash
# Writes the fuzz targets' seed corpora to fuzz/corpus/<target>/ (not committed; made from
# the API and FORMAT.md by fuzz/examples/write_seeds.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --manifest-path fuzz/Cargo.toml --example write_seeds -- fuzz/corpus
