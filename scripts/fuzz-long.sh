#!/usr/bin/env bash
# The long fuzz run: each target for FUZZ_RUNS executions (default 10,000,000) on stable
# Rust, installing cargo-fuzz first when it is missing. Usage:
#   scripts/fuzz-long.sh [target...]          (default: all three targets)
#   FUZZ_RUNS=10000000 FUZZ_JOBS=2 scripts/fuzz-long.sh ops_model
# FUZZ_JOBS > 1 runs that many libFuzzer workers (`-fork`); FUZZ_RUNS counts the
# executions of all of them together (libFuzzer sums its workers' runs in fork mode).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
runs="${FUZZ_RUNS:-10000000}"
jobs="${FUZZ_JOBS:-1}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(open_bytes open_body ops_model)
scripts/fuzz-seeds.sh
cargo fuzz build -s none
for target in "${targets[@]}"; do
    echo "== $target: $runs executions, $jobs job(s)"
    start=$(date +%s)
    if [ "$jobs" -gt 1 ]; then
        cargo fuzz run -s none -j "$jobs" "$target" -- -runs="$runs" -print_final_stats=1
    else
        cargo fuzz run -s none "$target" -- -runs="$runs" -print_final_stats=1
    fi
    echo "== $target: done in $(( $(date +%s) - start )) s"
done
