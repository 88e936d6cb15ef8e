#!/usr/bin/env bash
# Builds and runs the worked examples as a user would, in a temporary directory, and
# checks what they print (CI runs this: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cargo build --examples
bin=target/debug/examples

echo "-- token_service: 2 s, then again over the same store"
"$bin/token_service" "$dir/tokens" 2 | tee "$dir/first"
grep -qE '^[0-9]+ reads by 3 tasks, [0-9]+ rotations \(generations 1\.\.=[0-9]+\), all on disk$' "$dir/first"
"$bin/token_service" "$dir/tokens" 1 | tee "$dir/second"
# The second run carries on from the generation the first left on disk.
last=$(sed -E 's/.*generations 1\.\.=([0-9]+).*/\1/' "$dir/first")
grep -q "(generations $((last + 1))\.\." "$dir/second"

echo "-- credential_helper: add, get, list, rm, rotate-password"
helper() { "$bin/credential_helper" --dir "$dir/helper" "$@"; }
export MICROKV_PASSWORD='first password'
echo 'ghp_example_token' | helper add github
echo 'AKIA_example' | helper add aws
[ "$(helper list)" = "$(printf 'aws\ngithub')" ]
[ "$(helper get github)" = "ghp_example_token" ]
helper rm aws
[ "$(helper list)" = "github" ]
if helper get aws 2>"$dir/err"; then echo "error: a removed credential was found" >&2; exit 1; fi
grep -q 'no credential named "aws"' "$dir/err"
MICROKV_NEW_PASSWORD='second password' helper rotate-password
if helper get github 2>"$dir/err"; then echo "error: the old password still opens the store" >&2; exit 1; fi
grep -q 'wrong password' "$dir/err"
[ "$(MICROKV_PASSWORD='second password' helper get github)" = "ghp_example_token" ]
# The store file holds no secret in the clear.
if grep -rq 'ghp_example_token' "$dir/helper"; then echo "error: a secret in the clear on disk" >&2; exit 1; fi
# The XDG data directory is the default.
XDG_DATA_HOME="$dir/xdg" "$bin/credential_helper" list >/dev/null
[ -f "$dir/xdg/microkv-credential-helper/credentials.kv" ]
echo "examples: ok"
