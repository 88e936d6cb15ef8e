#!/usr/bin/env bash
# Writes the fuzz targets' seed corpora to fuzz/corpus/<target>/ (not committed). The
# seeds are made from the API and FORMAT.md by `microkv_fuzz::seeds`; the root test
# `fuzz_corpus` writes them (it is built by the ordinary test suite anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
MICROKV_FUZZ_SEEDS_DIR="$PWD/fuzz/corpus" \
    cargo test --quiet --all-features --test fuzz_corpus -- --exact seeds
