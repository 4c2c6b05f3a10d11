#!/usr/bin/env bash
# run_fuzzer.sh FUZZER SEED_DIR SECONDS: runs FUZZER for SECONDS over a scratch copy of SEED_DIR,
# with a fixed random seed (SLUICE_FUZZ_SEED, 1) so that the test suite repeats the same run
# (new inputs it finds go to the copy). A crash, leak, timeout or sanitizer report fails; the
# input that caused it is left in the scratch directory, whose path is printed.
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3
work=$(mktemp -d "/tmp/sluice-fuzz-$(basename "$fuzzer")-XXXXXX")
mkdir "$work/corpus"
cp -r "$seeds"/. "$work/corpus/"
status=0
"$fuzzer" -seed="${SLUICE_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1 || status=$?
tail -n 25 "$work/log"
if [ "$status" != 0 ]; then
  echo "fuzzer failed (status $status); artifacts and log in $work"
  exit 1
fi
rm -rf "$work"
