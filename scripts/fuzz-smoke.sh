#!/usr/bin/env bash
# Fuzz smoke, run by .ci/run:
# 1. always: the targets' code as ordinary tests (fuzz/tests/corpus.rs) over the seeds,
#    the committed regressions and 3,000 mutated/random inputs per target;
# 2. when cargo-fuzz is installed (`cargo install cargo-fuzz --locked`): each target under
#    libFuzzer on stable Rust (`-s none`) for FUZZ_SMOKE_SECS seconds (default 20, at most 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SMOKE_SECS:-20}"
if [ "$secs" -gt 60 ]; then secs=60; fi

cargo test --release --manifest-path fuzz/Cargo.toml

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "note: cargo-fuzz is not installed: ran the fuzz targets as ordinary tests only" \
        "(install: cargo install cargo-fuzz --locked)"
    exit 0
fi
scripts/fuzz-seeds.sh
cargo fuzz build -s none
for target in open_bytes open_body ops_model; do
    echo "== cargo fuzz run $target (${secs} s)"
    cargo fuzz run -s none "$target" -- -max_total_time="$secs" -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::|==|SUMMARY|INFO: seed)|panicked|ERROR|Test unit written' || true
    # A finding leaves an artifact and a non-zero status (checked through PIPESTATUS).
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        echo "error: cargo fuzz found a failing input for $target (see fuzz/artifacts/$target)" >&2
        exit 1
    fi
done
