#!/usr/bin/env bash
# tools/run_fuzz.sh RUNS TARGET...: runs each bin/fuzz_<TARGET> (built by
# `make fuzz`) for RUNS inputs (-1: until stopped) from its seed corpus
# tests/fuzz/corpus/<TARGET>, collecting new inputs in build/fuzz/corpus/.
# Stops at the first finding, naming the target and the saved input.
# FUZZ_SEED=N fixes libFuzzer's random seed (CI does, so that a commit's result
# is the same on every run); unset, each run draws a new one and explores more.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: tools/run_fuzz.sh RUNS TARGET...}; shift
seed_args=()
[ -n "${FUZZ_SEED:-}" ] && seed_args=(-seed="$FUZZ_SEED")
for t in "$@"; do
  mkdir -p "build/fuzz/corpus/$t"
  log="build/fuzz/$t.log"
  start=$(date +%s)
  bin/"fuzz_$t" "${seed_args[@]}" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/$t-" "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED after ${execs:-?} inputs (exit $rc); the end of $log:"
    tail -n 40 "$log"
    ls build/fuzz/"$t"-* 2>/dev/null | sed 's/^/  saved input: /'
    exit 1
  fi
  echo "fuzz $t: ${execs:-?} inputs, ${cov:-cov: ?} edges, no finding ($(( $(date +%s) - start )) s)"
done
