#!/usr/bin/env bash
# tools/gpu/run.sh: the GPU check, in one go, on a machine with an NVIDIA GPU,
# CUDA 13 (nvcc, cuBLAS, cuDNN) and none of this project's Debian packages.
# Made for a short slot (about 10 minutes of a 15-minute one) on an offline
# node: everything it needs beyond CUDA comes from tools/gpu/prepare.sh
# (.gpu/debs, .gpu/weights, optionally .gpu/data).
#
#   bash tools/gpu/run.sh [REPORT_DIR]       (default: $OUT when set, else .gpu/report)
#
# Steps, each under its own time limit (cut to what is left of the whole
# check's GPU_CHECK_BUDGET seconds), each reported even when an earlier one failed:
#   1. the packages: the system's when it has them, else .gpu/debs unpacked
#      into .gpu/root (never into /), used through `make DEPS_ROOT=.gpu/root`;
#      cuDNN from the CUDA toolkit, else from python3's nvidia-cudnn wheel
#   2. build for this GPU's architecture (make ARCH=<compute capability>)
#   3. every CUDA test with SKINMTL_REQUIRE_CUDA=1 (a CUDA that cannot start
#      fails instead of skipping)
#   4. a few training iterations of each model on the GPU and one on the CPU
#      from the same seed, both FP32: the first loss must agree (same weights,
#      same batch); the GPU's images/s (median of iterations 4 on); then the
#      MTL and Yang steps again in TF32 and BF16, whose first loss must stay
#      near the CPU's
#   5. make bench-gpu: the papers' steps and ResNet-50 inference against PyTorch
#      on this GPU (tools/bench_gpu), with the per-op breakdown of the step,
#      and Song et al.'s iteration by phase, its own time beside the host's
#   6. compute-sanitizer memcheck over the op parity tests, racecheck over the
#      kernels that use shared memory
#   7. with what is left of the budget, three experiments: in TF32 and then in
#      BF16, the Liao & Luo and Yang steps replayed as CUDA graphs against the
#      same steps launched op by op (bench_gpu's "+graph" configurations), and
#      with the convolutions through cuDNN's graph API ("+cudnn-graph"); then
#      ResNet-50's convolutions in NCHW against NHWC (tools/bench_conv_layout:
#      whether channels-last would pay)
# GPU_CHECK_QUICK=1 stops after step 3 (for a slot that trains next, e.g.
# tools/gpu/reproduce.sh). GPU_CHECK_EXPERIMENTS runs the build and then step 7
# alone, with the whole budget (a second call, when device time is left): =1
# (or all) every experiment, or a list of them, e.g. =conv_layout or
# =graph_bf16,conv_layout (graph_tf32, graph_bf16, conv_layout), to skip what a
# first call already measured. The exit status is non-zero when any step
# failed; REPORT_DIR gets report.md (the summary) and logs.tar.gz (each step's
# log and the runs' log.csv), both brought up to date after every step, so
# that a call killed from outside still returns what it did.
set -uo pipefail
cd "$(dirname "$0")/../.."
# Logs go to a folder of their own; when REPORT_DIR is $OUT (the device tool,
# which returns at most 8 files), only report.md and logs.tar.gz land there.
out=${1:-${OUT:-.gpu/report}}
report=.gpu/report-logs
rm -rf "$report"; mkdir -p "$report" "$out"
summary="$report/report.md"
start=$(date +%s)
# The whole check ends within GPU_CHECK_BUDGET seconds (default 570): each step's
# limit is cut to what is left, and a step with under 15 s left is skipped.
budget=${GPU_CHECK_BUDGET:-570}
experiments=${GPU_CHECK_EXPERIMENTS:-}
for e in ${experiments//,/ }; do
  case $e in 1|all|graph_tf32|graph_bf16|conv_layout) ;;
    *) echo "run.sh: GPU_CHECK_EXPERIMENTS: unknown experiment '$e' (1, all, graph_tf32, graph_bf16, conv_layout)" >&2; exit 2 ;;
  esac
done
# wanted NAME: whether this call runs experiment NAME (all of them unless GPU_CHECK_EXPERIMENTS lists some)
wanted() { case $experiments in ""|1|all) return 0 ;; esac; [[ ",$experiments," == *",$1,"* ]]; }
finish() {
  cp "$summary" "$out/report.md" 2>/dev/null
  # Without the runs' checkpoints, which would take the archive past what comes back.
  tar -C "$report" --exclude='*.safetensors' -czf "$out/logs.tar.gz" . 2>/dev/null
}
trap finish EXIT
status=0
: > "$summary"
say() { echo "$*" | tee -a "$summary"; cp "$summary" "$out/report.md" 2>/dev/null; }
# step NAME LIMIT_S CMD...: runs CMD with a time limit, logs to REPORT/NAME.log
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  local left=$(( start + budget - t0 - 5 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 15 ]; then say "- $name: SKIPPED (the check's ${budget}s budget is spent)"; status=1; return 1; fi
  timeout --kill-after=10 "$limit" "$@" > "$report/$name.log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then say "- $name: ok (${dt}s)"; else say "- $name: FAILED rc=$rc (${dt}s; $report/$name.log)"; status=1; fi
  finish
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

cuda_home=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
if [ ! -f "$cuda_home/include/cudnn.h" ]; then
  cudnn=$(python3 -c 'import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__) if nvidia.cudnn.__file__ else list(nvidia.cudnn.__path__)[0])' 2>/dev/null)
  if [ -n "$cudnn" ] && [ -f "$cudnn/include/cudnn.h" ]; then
    # A wheel has libcudnn.so.9 but no libcudnn.so for the linker: a folder of links adds one.
    mkdir -p .gpu/cudnn/lib && ln -sfn "$cudnn/include" .gpu/cudnn/include
    for f in "$cudnn"/lib/*; do ln -sf "$f" .gpu/cudnn/lib/; done
    [ -e .gpu/cudnn/lib/libcudnn.so ] || ln -sf libcudnn.so.9 .gpu/cudnn/lib/libcudnn.so
    say "- cuDNN: $cudnn (not in $cuda_home)"
    deps_args+=(CUDNN_ROOT=.gpu/cudnn)
  else
    say "- cuDNN: not found in $cuda_home or python3's nvidia.cudnn"
  fi
fi

# ---- 2. build ----------------------------------------------------------------------------------
step build 240 make -j"$jobs" ARCH="$arch" "${deps_args[@]}" CUDA_HOME="$cuda_home" bin/skinmtl bin/bench_gpu test-build \
  || { grep -E 'error|Error' "$report/build.log" | head -30; tail -20 "$report/build.log"; say ""; say "build failed: nothing else can run"; exit 1; }
tests=build/cuda/skinmtl_tests
bin/skinmtl info | grep -E 'cuDNN|GPU visible' | sed 's/^ */  /' | tee -a "$summary"

# GPU_CHECK_EXPERIMENTS (1, all, or a list of experiments): after the build, step 7 alone (a second
# call on a machine still warm from a whole check, to spend what is left of the device time on the
# experiments the first call did not reach).
if [ -n "$experiments" ]; then
  say "GPU_CHECK_EXPERIMENTS=$experiments: the build, then step 7's experiments alone"
else

# ---- 3. CUDA tests -----------------------------------------------------------------------------
# SKINMTL_CUDNN_LOG=1: the log names each cuDNN graph API plan's engine and numerical notes.
SKINMTL_CUDNN_LOG=1 SKINMTL_REQUIRE_CUDA=1 step cuda_tests 200 "$tests" --gtest_filter='*Cuda*:CudaRequired.*'
say "  $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ test' "$report/cuda_tests.log" | tr '\n' ' ')"
# Each skipped test with its reason (the line after gtest's "Skipped").
grep -A1 ': Skipped$' "$report/cuda_tests.log" | grep -v -e '^--$' -e ': Skipped$' | sort | uniq -c | head -10 \
  | sed 's/^ */    skipped: /' | tee -a "$summary"
grep -E '^\[  FAILED  \]|Failure|error' "$report/cuda_tests.log" | head -40 | sed 's/^/    /' | tee -a "$summary"
# The whole-network checks (NetworkGradientsCuda.*): how far the GPU's loss, gradients and SGD updates are from the CPU's.
grep -E "the CPU's" "$report/cuda_tests.log" | sed 's/^ */    network: /' | tee -a "$summary"
# How far each backend's larger-layer results are from the float64 truth (LargerLayerWithinTheFloat32Bound),
# and the GPU's bfloat16 error beside the CPU's (Bf16Cuda.ConvBatchNormReluAddAsAccurateAsTheCpu).
grep -E "sqrt\(n\) u sum|relative L2" "$report/cuda_tests.log" | head -30 | sed 's/^ */    /' | tee -a "$summary"
# Whether cuDNN offered an engine for conv2d_bn's fused graph (ConvBnCuda.MatchesTheCpu, graph API backend).
grep -E "cuDNN fused conv" "$report/cuda_tests.log" | sort | uniq -c | head -16 | sed 's/^ */    /' | tee -a "$summary"

if [ -n "${GPU_CHECK_QUICK:-}" ]; then
  say ""; say "GPU_CHECK_QUICK: build and CUDA tests only; total $(( $(date +%s) - start ))s"
  exit $status
fi

# ---- 4. first losses, GPU vs CPU ---------------------------------------------------------------
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
# median of images_per_s over iterations 3.. of DIR/log.csv (the first two warm up cuDNN and the allocator)
speed() { awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "images_per_s") c = i; next } NR > 3 && c { print $c }' "$1/log.csv" \
            | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
# within G C TOL: both losses were read and |G - C| <= TOL |C|
within() { [ -n "$1" ] && [ -n "$2" ] && awk -v g="$1" -v c="$2" -v t="$3" 'BEGIN { d = g - c; if (d < 0) d = -d; exit !(d <= t * (c < 0 ? -c : c)) }'; }
# compare NAME TOL "CUDA-ONLY ARGS" "CPU-ONLY ARGS" ARGS...: the same training on cuda and cpu, same seed
compare() {
  local name=$1 tol=$2 cuda_args=$3 cpu_args=$4; shift 4
  step "${name}_cuda" 90 bin/skinmtl "$@" $cuda_args --eval-every 1000 --device cuda --out "$report/$name-cuda"
  step "${name}_cpu" 150 bin/skinmtl "$@" $cpu_args --eval-every 0 --device cpu --out "$report/$name-cpu"
  local g c
  g=$(first_loss "$report/$name-cuda" 2>/dev/null); c=$(first_loss "$report/$name-cpu" 2>/dev/null)
  if within "$g" "$c" "$tol"; then
    say "  $name first loss: cuda $g, cpu $c (within $tol relative)"
  else
    say "  $name first loss: cuda ${g:-?}, cpu ${c:-?}: DIFFER (more than $tol relative)"
    status=1
  fi
  say "  $name on cuda: $(speed "$report/$name-cuda" 2>/dev/null || echo '?') images/s (median, iterations 3..)"
}
# The GPU runs end with a held-out evaluation (it runs the predict path there); the CPU runs, whose
# only use is their first loss, do not (detseg's took 139 s of the first H100 run's budget).
common=(--data "$data" --data-dir "$data_dir" --weights "$weights" --seed 1 --threads "$jobs" --ckpt-every 1000)
# variant NAME PRECISION TOL ARGS...: NAME's GPU run again at PRECISION; its first loss against
# the CPU's FP32 one (from compare NAME), within TOL relative.
variant() {
  local name=$1 prec=$2 tol=$3; shift 3
  step "${name}_${prec}_cuda" 45 bin/skinmtl "$@" --precision "$prec" --eval-every 1000 --device cuda --out "$report/$name-$prec-cuda"
  local g c
  g=$(first_loss "$report/$name-$prec-cuda" 2>/dev/null); c=$(first_loss "$report/$name-cpu" 2>/dev/null)
  if within "$g" "$c" "$tol"; then
    say "  $name on cuda, $prec: $(speed "$report/$name-$prec-cuda" 2>/dev/null || echo '?') images/s; first loss $g (cpu fp32 $c, within $tol)"
  else
    say "  $name on cuda, $prec: first loss ${g:-?}, cpu fp32 ${c:-?}: DIFFER (more than $tol relative)"
    status=1
  fi
}
# loss_at N DIR: the loss of iteration N in DIR/log.csv
loss_at() { awk -F, -v n="$1" 'NR == 1 { for (i = 1; i <= NF; ++i) { if ($i == "loss") c = i; if ($i == "iter") t = i } next } $t == n { print $c }' "$2/log.csv"; }
# graph NAME PRECISION ARGS...: NAME's GPU run at PRECISION (variant NAME PRECISION) again with
# --cuda-graph on: three ordinary steps, then the step captured once and replayed. Its loss at
# iteration 8 against the ordinary run's (the same kernels: within 1e-4 relative), how many steps
# it replayed, and its speed beside the ordinary run's.
graph() {
  local name=$1 prec=$2; shift 2
  step "${name}_${prec}_graph_cuda" 45 bin/skinmtl "$@" --precision "$prec" --cuda-graph on --eval-every 1000 \
    --device cuda --out "$report/$name-$prec-graph-cuda"
  local g e how
  g=$(loss_at 8 "$report/$name-$prec-graph-cuda" 2>/dev/null); e=$(loss_at 8 "$report/$name-$prec-cuda" 2>/dev/null)
  how=$(grep -o 'cuda graph: .*' "$report/${name}_${prec}_graph_cuda.log" 2>/dev/null | head -1)
  grep -o -e '--cuda-graph: the step could not be captured.*' "$report/${name}_${prec}_graph_cuda.log" 2>/dev/null | head -1 | sed 's/^/  /' | tee -a "$summary"
  if within "$g" "$e" 1e-4 && [[ "$how" == *"steps replayed"* ]]; then
    say "  $name on cuda, $prec, CUDA graph: $(speed "$report/$name-$prec-graph-cuda" 2>/dev/null || echo '?') images/s against $(speed "$report/$name-$prec-cuda" 2>/dev/null || echo '?') without; loss at 8: $g ($e without); ${how:-?}"
  else
    say "  $name on cuda, $prec, CUDA graph: loss at 8 ${g:-?} against ${e:-?} without, ${how:-no report}: FAILED"
    status=1
  fi
}
compare segcls 1e-3 "--iters 16 --precision fp32" "--iters 1" train segcls "${common[@]}" --size 192x256 --batch 8
compare mtl 1e-3 "--iters 16 --precision fp32" "--iters 1" train mtl "${common[@]}" --batch 20
# The same steps with TF32 tensor cores and in bfloat16: speed, and a first loss near FP32's.
# 8 iterations each (the speed is the median of 4..8): the whole check has to fit its budget.
variant mtl tf32 1e-2 train mtl "${common[@]}" --batch 20 --iters 8
graph mtl tf32 train mtl "${common[@]}" --batch 20 --iters 8
variant mtl bf16 3e-2 train mtl "${common[@]}" --batch 20 --iters 8
variant segcls bf16 3e-2 train segcls "${common[@]}" --size 192x256 --batch 8 --iters 8
graph segcls bf16 train segcls "${common[@]}" --size 192x256 --batch 8 --iters 8
compare detseg 1e-2 "--phase1 8 --phase2 4 --phase3 4 --precision fp32" "--phase1 1 --phase2 0 --phase3 0" train detseg "${common[@]}" --size 256

# ---- 5. skinmtl against PyTorch on this GPU (make bench-gpu) --------------------------------------
# PyTorch's half needs python3 with torch and CUDA; without it the table has skinmtl's column only.
# Three configurations, to fit the step's time: FP32 (the reference), and the two fast ones.
bench_args=(--breakdown --reps 6 --warmup 2 --precision fp32+benchmark,tf32+benchmark,bf16+benchmark --data-dir "$data_dir" --csv "$report/bench_gpu.csv")
python3 -c 'import torch, torchvision; assert torch.cuda.is_available()' 2>/dev/null || bench_args+=(--no-torch)
step bench_gpu 180 bin/bench_gpu "${bench_args[@]}"
if grep -q '^case ' "$report/bench_gpu.log"; then
  sed -n '/^case /,$p' "$report/bench_gpu.log" | sed 's/^/    /' | tee -a "$summary"
else
  # Cut short: what it measured before (a line per figure), and how it ended.
  { grep '^measured: ' "$report/bench_gpu.log"; tail -3 "$report/bench_gpu.log"; } | sed 's/^/    /' | tee -a "$summary"
fi
# Song et al.'s iteration by phase and backward op, its own time beside the host's (the slow case).
if grep -q '^skinmtl Song et al. iteration' "$report/bench_gpu.log"; then
  sed -n '/^skinmtl Song et al. iteration/,/keeps the GPU waiting/p' "$report/bench_gpu.log" | sed 's/^/    /' | tee -a "$summary"
fi

# ---- 6. compute-sanitizer ------------------------------------------------------------------------
ops='ElementwiseCuda.*:ReluCuda.*:MulCuda.*:PermuteCuda.*:UpsampleNearestCuda.*:ConcatSliceCuda.*:ReshapeCuda.*'
ops+=':ReduceCuda.*:LinearCuda.*:GemmCuda.*:Pool2dCuda.*:BatchNormCuda.*:LossesCuda.*:SGDCuda.*'
ops+=':SmoothL1LossCuda.*:SigmoidFocalLossCuda.*:SoftJaccardDistanceCuda.*:RoiAlignCuda.*:BoxesCuda.*'
ops+=':Conv2dCuda.Parity3x3Stride2Pad1:Conv2dCuda.ParityDilation2:Conv2dCuda.BiasGradientWithMoreChannelsThanBlocks'
ops+=':Conv2dCuda.GraphApiTakesBuffersAlignedToFourBytes:ConvBnCuda.*:ConvBiasActCuda.*:BatchNormActCuda.*'
ops+=':Bf16Cuda.*:HostReadCuda.*:TakeRowsCuda.*:BinarizeCuda.*:ClipGradNormCuda.*'
shared='ReduceCuda.*:BatchNormCuda.*:LossesCuda.*:BoxesCuda.*:Conv2dCuda.BiasGradientWithMoreChannelsThanBlocks:Bf16Cuda.*'
shared+=':ConvBnCuda.TrainingWithAFrozenBatchNormMatchesTheCpu:ClipGradNormCuda.*'
if command -v compute-sanitizer >/dev/null; then
  SKINMTL_REQUIRE_CUDA=1 step memcheck 120 compute-sanitizer --tool memcheck --error-exitcode 1 "$tests" --gtest_filter="$ops" --gtest_brief=1
  SKINMTL_REQUIRE_CUDA=1 step racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 1 "$tests" --gtest_filter="$shared" --gtest_brief=1
else
  say "- compute-sanitizer: not found on this machine"
  status=1
fi
fi  # GPU_CHECK_EXPERIMENTS

# ---- 7. experiments: CUDA graphs, cuDNN's graph API ---------------------------------------------------
# The fixed-shape steps replayed as one captured CUDA graph, against the same steps launched op by op
# (TF32, then BF16; measured algorithms; no PyTorch): whether removing the host's launch and
# framework work pays.
# And the same steps with the convolutions through cuDNN's graph API instead of its legacy API
# (+cudnn-graph): whether the interface cuDNN keeps costs anything (the CUDA tests of step 3 check
# that it computes the same). Only with the budget's remainder: not running it is no failure.
# experiment NAME LIMIT PRECISIONS: bench_gpu's Liao & Luo and Yang steps in those configurations,
# when at least 45 s of the budget are left (not running it is no failure); its table into the report.
experiment() {
  local name=$1 limit=$2 precisions=$3
  wanted "$name" || return 0
  if [ $(( start + budget - $(date +%s) )) -lt 45 ]; then
    say "- $name (an experiment): not run, under 45 s of the budget left"
    return
  fi
  step "$name" "$limit" bin/bench_gpu --no-torch --reps 6 --warmup 2 --cases train_b20,train_yang --precision "$precisions"
  if grep -q '^case ' "$report/$name.log"; then
    sed -n '/^case /,/^speed ratio/p' "$report/$name.log" | grep -v '^speed ratio' | sed 's/^/    /' | tee -a "$summary"
  else
    { grep '^measured: ' "$report/$name.log"; tail -3 "$report/$name.log"; } | sed 's/^/    /' | tee -a "$summary"
  fi
}
# TF32 first (its target, 1.3x PyTorch, is the one not met), with +unfused: what conv2d_bias_act
# (Liao & Luo's folded units) and batch_norm2d_act (Yang's batch statistics) give, the same steps
# with conv2d or batch_norm2d, add and relu one by one; then BF16 (the step whose host share
# was 91% in the fourth run, where CUDA graphs and cheaper convolution calls should show most).
experiment graph_tf32 80 tf32+benchmark,tf32+benchmark+unfused,tf32+benchmark+graph,tf32+benchmark+cudnn-graph
experiment graph_bf16 60 bf16+benchmark,bf16+benchmark+graph,bf16+benchmark+cudnn-graph
# Channels-last: ResNet-50's convolutions in NCHW against NHWC through cuDNN (tools/bench_conv_layout),
# BF16 first (where cuDNN's tensor-core kernels want NHWC most), then TF32; its totals into the report.
# Built here, not in step 2: an experiment that fails to build costs only itself.
if ! wanted conv_layout; then
  :
elif [ $(( start + budget - $(date +%s) )) -lt 45 ]; then
  say "- bench_conv_layout (an experiment): not run, under 45 s of the budget left"
elif ! make -j"$jobs" ARCH="$arch" "${deps_args[@]}" CUDA_HOME="$cuda_home" bin/bench_conv_layout \
       > "$report/bench_conv_layout_build.log" 2>&1; then
  say "- bench_conv_layout (an experiment): its build FAILED ($report/bench_conv_layout_build.log)"
  status=1
else
  step bench_conv_layout 90 bin/bench_conv_layout --batch 20,256 --precision bf16,tf32 --reps 5
  # Its totals; cut short by the time limit, its last rows (it prints a line at a time).
  if grep -qE '^  (training|inference) ' "$report/bench_conv_layout.log"; then
    grep -E '^(tf32|bf16), batch|^  (training|inference) ' "$report/bench_conv_layout.log" | sed 's/^/    /' | tee -a "$summary"
  else
    tail -6 "$report/bench_conv_layout.log" | sed 's/^/    /' | tee -a "$summary"
  fi
fi

say ""
say "total $(( $(date +%s) - start ))s; $( [ $status -eq 0 ] && echo 'all steps ok' || echo 'SOME STEPS FAILED')"
exit $status
