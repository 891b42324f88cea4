#!/usr/bin/env bash
# tools/bench_dp/run.sh (make bench-dp): data-parallel scaling of `train mtl`
# on this machine.
#
# Three ways to use the same cores on the same global batch:
#   1 process, 1 thread      the baseline
#   1 process, 2 threads     OpenMP inside each op (the default way)
#   2 processes, 1 thread    data-parallel: mpirun -np 2, half the batch each,
#                            gradients averaged by one all-reduce per step
# For each: images/s over the steps after the first, the step time, and for
# the 2-process run the measured all-reduce time (log.csv's allreduce_s: the
# all-reduce plus any wait for the slower rank) with its share of the step.
#
# The model for the all-reduce: a ring all-reduce of S bytes over N ranks
# sends and receives 2 (N - 1) / N * S bytes per rank, so
#     t_allreduce = 2 (N - 1) / N * S / bandwidth   (+ latency)
#     share       = t_allreduce / t_step
# and the bandwidth this machine achieved is printed from the measurement.
#
# Environment: ITERS (default 6), BATCH (global, default 8), CROP (default 128),
# SKINMTL_BIN (default bin/skinmtl). With weights/resnet50_imagenet.safetensors
# the ImageNet trunk is fine-tuned with frozen batch norm (the Liao & Luo
# recipe); without it a random trunk is, also with frozen batch norm.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${SKINMTL_BIN:-bin/skinmtl}
ITERS=${ITERS:-6}
BATCH=${BATCH:-8}
CROP=${CROP:-128}
command -v mpirun > /dev/null || { echo "bench-dp: mpirun is missing (make deps installs Open MPI)" >&2; exit 1; }
"$BIN" info | grep -q "data-parallel training: MPI" || { echo "bench-dp: $BIN was built without MPI" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" synth --out "$work/data" --n 120 --size $((CROP * 5 / 4)) --threads 2 > /dev/null 2>&1
weights=()
[ -f weights/resnet50_imagenet.safetensors ] || weights=(--weights none)
args=(train mtl --data "synthetic:$work/data/manifest.csv" "${weights[@]}" --bn frozen
      --min-short "$CROP" --max-short $((CROP * 5 / 4)) --crop "$CROP" --batch "$BATCH"
      --iters "$ITERS" --eval-every 100000 --ckpt-every 100000 --device cpu)

# images/s, seconds per step, mean allreduce_s, from the rows after the first.
summarise() {
  awk -F, -v batch="$BATCH" '
    NR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i; next }
    { n++; wall[n] = $col["wall_s"]; ar[n] = $col["allreduce_s"] }
    END {
      if (n < 2) { print "nan nan nan"; exit }
      t = (wall[n] - wall[1]) / (n - 1); a = 0
      for (k = 2; k <= n; ++k) a += ar[k]
      printf "%.2f %.3f %.4f\n", batch / t, t, a / (n - 1)
    }' "$1"
}

run() {  # name, loader threads, then the command up to the binary
  local name=$1 threads=$2; shift 2
  "$@" "${args[@]}" --threads "$threads" --out "$work/$name" > "$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" >&2; exit 1; }
}
echo "bench-dp: train mtl, ${CROP}px, global batch $BATCH, $ITERS steps each; load average $(cut -d' ' -f1-3 /proc/loadavg)"
run one_1t 1 env OMP_NUM_THREADS=1 "$BIN"
run one_2t 2 env OMP_NUM_THREADS=2 "$BIN"
run two_1t 1 env OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe "$BIN"
mb=$(sed -n 's/.*gradient all-reduce: \([0-9.]*\) MB.*/\1/p' "$work/two_1t.log")

read -r r1 t1 _ < <(summarise "$work/one_1t/log.csv")
read -r r2 t2 _ < <(summarise "$work/one_2t/log.csv")
read -r r3 t3 a3 < <(summarise "$work/two_1t/log.csv")
awk -v r1="$r1" -v t1="$t1" -v r2="$r2" -v t2="$t2" -v r3="$r3" -v t3="$t3" 'BEGIN {
  printf "\n%-28s %10s %10s %9s\n", "configuration", "images/s", "s/step", "vs 1x1"
  printf "%-28s %10.2f %10.3f %9.2f\n", "1 process x 1 thread", r1, t1, 1
  printf "%-28s %10.2f %10.3f %9.2f\n", "1 process x 2 threads", r2, t2, r2 / r1
  printf "%-28s %10.2f %10.3f %9.2f\n", "2 processes x 1 thread", r3, t3, r3 / r1
}'
awk -v mb="$mb" -v a="$a3" -v t="$t3" 'BEGIN {
  moved = 2 * (2 - 1) / 2 * mb
  printf "\nall-reduce: %.1f MB of gradients per step; measured %.4f s per step = %.1f%% of the step\n", mb, a, 100 * a / t
  if (a > 0) printf "model: t = 2(N-1)/N * S / bandwidth = %.1f MB / bandwidth -> %.2f GB/s achieved here\n", moved, moved / a / 1000
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
