#!/usr/bin/env bash
# tools/gpu/run.sh: the GPU check, in one go, on a machine with an NVIDIA GPU,
# CUDA 13 (nvcc, cuBLAS, cuDNN) and none of this project's Debian packages.
# Made for a short slot (about 10 minutes of a 15-minute one) on an offline
# node: everything it needs beyond CUDA comes from tools/gpu/prepare.sh
# (.gpu/debs, .gpu/weights, optionally .gpu/data).
#
#   bash tools/gpu/run.sh [REPORT_DIR]       (default: $OUT when set, else .gpu/report)
#
# Steps, each under its own time limit, each reported even when an earlier
# one failed:
#   1. the packages: the system's when it has them, else .gpu/debs unpacked
#      into .gpu/root (never into /), used through `make DEPS_ROOT=.gpu/root`
#   2. build for this GPU's architecture (make ARCH=<compute capability>)
#   3. every CUDA test with SKINMTL_REQUIRE_CUDA=1 (a CUDA that cannot start
#      fails instead of skipping)
#   4. compute-sanitizer memcheck over the op parity tests, racecheck over the
#      kernels that use shared memory
#   5. a few training iterations of each model on the GPU and on the CPU from
#      the same seed: the first loss must agree (same weights, same batch)
# The exit status is non-zero when any step failed; REPORT_DIR/report.md has
# the summary and each step's log.
set -uo pipefail
cd "$(dirname "$0")/../.."
report=${1:-${OUT:-.gpu/report}}
mkdir -p "$report"
summary="$report/report.md"
start=$(date +%s)
status=0
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
# step NAME LIMIT_S CMD...: runs CMD with a time limit, logs to REPORT/NAME.log
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$report/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then say "- $name: ok (${dt}s)"; else say "- $name: FAILED rc=$rc (${dt}s; $report/$name.log)"; status=1; fi
  return $rc
}

say "# skinmtl GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
say ""
gpu=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
say "GPU: ${gpu:-none found by nvidia-smi}; nvcc: $(nvcc --version 2>/dev/null | tail -1)"
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
arch=${ARCH:-${cc:-90}}
jobs=$(nproc)
say ""

# ---- 1. packages -------------------------------------------------------------------------------
have_system_deps() {
  printf '#include <cblas.h>\n#include <gtest/gtest.h>\n#include <nlohmann/json.hpp>\n#include <stb/stb_image.h>\nint main(){}\n' \
    | g++ -std=c++17 -x c++ - -o /dev/null -lgtest -lopenblas -lpthread 2>/dev/null
}
deps_args=()
if have_system_deps; then
  say "- packages: the system's"
else
  mkdir -p .gpu/root
  unpack() {
    local deb=$1
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" .gpu/root; return; fi
    local member; member=$(ar t "$deb" | grep '^data.tar')
    case $member in
      *.xz) ar p "$deb" "$member" | tar -xJ -C .gpu/root ;;
      *.zst) ar p "$deb" "$member" | zstd -dc | tar -x -C .gpu/root ;;
      *.gz) ar p "$deb" "$member" | tar -xz -C .gpu/root ;;
      *) ar p "$deb" "$member" | tar -x -C .gpu/root ;;
    esac
  }
  n=0
  for d in .gpu/debs/*.deb; do [ -f "$d" ] && unpack "$d" && n=$((n + 1)); done
  if [ $n -eq 0 ]; then say "- packages: MISSING (no system packages and no .gpu/debs: run tools/gpu/prepare.sh and carry .gpu/debs)"; status=1; fi
  say "- packages: $n .deb files unpacked into .gpu/root"
  deps_args=(DEPS_ROOT=.gpu/root)
  # The binaries carry an RPATH to these folders; this covers anything run otherwise.
  export LD_LIBRARY_PATH="$PWD/.gpu/root/usr/lib/x86_64-linux-gnu/openblas-pthread:$PWD/.gpu/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ---- 2. build ----------------------------------------------------------------------------------
step build 300 make -j"$jobs" ARCH="$arch" "${deps_args[@]}" bin/skinmtl test-build || { say ""; say "build failed: nothing else can run"; exit 1; }
tests=build/cuda/skinmtl_tests

# ---- 3. CUDA tests -----------------------------------------------------------------------------
SKINMTL_REQUIRE_CUDA=1 step cuda_tests 240 "$tests" --gtest_filter='*Cuda*:CudaRequired.*' --gtest_brief=1
say "  $(grep -E '^\[  (PASSED|FAILED|SKIPPED)' "$report/cuda_tests.log" | tr '\n' ' ')"

# ---- 4. compute-sanitizer ------------------------------------------------------------------------
ops='ElementwiseCuda.*:ReluCuda.*:MulCuda.*:PermuteCuda.*:UpsampleNearestCuda.*:ConcatSliceCuda.*:ReshapeCuda.*'
ops+=':ReduceCuda.*:LinearCuda.*:GemmCuda.*:Pool2dCuda.*:BatchNormCuda.*:LossesCuda.*:SGDCuda.*'
ops+=':SmoothL1LossCuda.*:SigmoidFocalLossCuda.*:SoftJaccardDistanceCuda.*:RoiAlignCuda.*:BoxesCuda.*'
ops+=':Conv2dCuda.Parity3x3Stride2Pad1:Conv2dCuda.ParityDilation2:Conv2dCuda.BiasGradientWithMoreChannelsThanBlocks'
shared='ReduceCuda.*:BatchNormCuda.*:LossesCuda.*:BoxesCuda.*:Conv2dCuda.BiasGradientWithMoreChannelsThanBlocks'
if command -v compute-sanitizer >/dev/null; then
  SKINMTL_REQUIRE_CUDA=1 step memcheck 180 compute-sanitizer --tool memcheck --error-exitcode 1 "$tests" --gtest_filter="$ops" --gtest_brief=1
  SKINMTL_REQUIRE_CUDA=1 step racecheck 120 compute-sanitizer --tool racecheck --error-exitcode 1 "$tests" --gtest_filter="$shared" --gtest_brief=1
else
  say "- compute-sanitizer: not found on this machine"
  status=1
fi

# ---- 5. first losses, GPU vs CPU ---------------------------------------------------------------
weights=.gpu/weights/resnet50_imagenet.bf16.safetensors
[ -f "$weights" ] || weights=weights/resnet50_imagenet.safetensors
[ -f "$weights" ] || weights=none
data=synthetic
data_dir=../shared/data
if [ -f .gpu/data/isic2017.tar ]; then
  mkdir -p .gpu/shared && tar -C .gpu/shared -xf .gpu/data/isic2017.tar && data=isic2017 && data_dir=.gpu/shared
elif [ -f ../shared/data/isic2017/labels.csv ]; then
  data=isic2017
fi
say "- training checks: weights $weights, data $data"
# first_loss DIR: the loss of iteration 1 in DIR/log.csv
first_loss() { awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "loss") c = i } NR == 2 { print $c }' "$1/log.csv"; }
compare() {  # NAME TOL ARGS...: the same command on cuda and cpu
  local name=$1 tol=$2; shift 2
  step "${name}_cuda" 120 bin/skinmtl "$@" --device cuda --out "$report/$name-cuda"
  step "${name}_cpu" 120 bin/skinmtl "$@" --device cpu --out "$report/$name-cpu"
  local g c
  g=$(first_loss "$report/$name-cuda" 2>/dev/null); c=$(first_loss "$report/$name-cpu" 2>/dev/null)
  if [ -n "$g" ] && [ -n "$c" ] && awk -v g="$g" -v c="$c" -v t="$tol" 'BEGIN { d = g - c; if (d < 0) d = -d; exit !(d <= t * (c < 0 ? -c : c)) }'; then
    say "  $name first loss: cuda $g, cpu $c (within $tol relative)"
  else
    say "  $name first loss: cuda ${g:-?}, cpu ${c:-?}: DIFFER (more than $tol relative)"
    status=1
  fi
}
common=(--data "$data" --data-dir "$data_dir" --weights "$weights" --seed 1 --threads 4)
compare segcls 1e-3 train segcls "${common[@]}" --size 192x256 --iters 4 --batch 8 --eval-every 1000 --ckpt-every 1000
compare mtl 1e-3 train mtl "${common[@]}" --iters 4 --batch 20 --eval-every 1000 --ckpt-every 1000
compare detseg 1e-2 train detseg "${common[@]}" --size 256 --phase1 2 --phase2 2 --phase3 1 --eval-every 0 --ckpt-every 1000

say ""
say "total $(( $(date +%s) - start ))s; $( [ $status -eq 0 ] && echo 'all steps ok' || echo 'SOME STEPS FAILED')"
exit $status
