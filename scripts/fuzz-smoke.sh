#!/usr/bin/env bash
# Fuzz smoke, run by .ci/run: each target under libFuzzer on stable Rust (`-s none`) for
# FUZZ_SMOKE_SECS seconds (default 20, at most 60). Installs cargo-fuzz from crates.io
# when it is missing (`cargo install cargo-fuzz --locked`, about 160 s once per machine);
# if that install fails, says so and stops. The targets' code also runs as an ordinary
# test (`fuzz_corpus`, in `cargo test --workspace --all-features`) over seeds, regressions
# and 3,000 mutated/random inputs per target.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SMOKE_SECS:-20}"
if [ "$secs" -gt 60 ]; then secs=60; fi

if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo install cargo-fuzz --locked; then
    echo "note: cargo-fuzz could not be installed: the fuzz targets ran as ordinary tests" \
        "only (fuzz_corpus)"
    exit 0
fi
scripts/fuzz-seeds.sh
cargo fuzz build -s none
log="$(mktemp)"
for target in open_bytes open_body ops_model; do
    echo "== cargo fuzz run $target (${secs} s)"
    if ! cargo fuzz run -s none "$target" -- -max_total_time="$secs" -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "error: cargo fuzz found a failing input for $target (see fuzz/artifacts/$target)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
done
rm -f "$log"
