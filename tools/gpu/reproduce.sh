#!/usr/bin/env bash
# tools/gpu/reproduce.sh: `skinmtl reproduce PAPER` on a GPU lent for minutes,
# shortened to ITERS training iterations (reproduce --iters), TF32.
#
#   bash tools/gpu/reproduce.sh PAPER ITERS [REPORT_DIR]   (default: $OUT when set, else .gpu/report)
#
# Needs what tools/gpu/run.sh built (bin/skinmtl, .gpu/root, .gpu/cudnn: run
# it first, e.g. GPU_CHECK_QUICK=1) and the data of tools/gpu/prepare.sh's
# batch 2 (.gpu/data/isic2017.tar) or ../shared/data. The weights are the BF16
# trunk of .gpu/weights (rounded from the FP32 ImageNet weights; the runs
# fine-tune in FP32) or weights/resnet50_imagenet.safetensors.
# If evaluating on the GPU fails, the evaluation is redone on the CPU, so a
# trained model is never lost to it. REPORT_DIR gets results.md,
# results.json, the training log.csv and curves.png, and the run's output.
set -uo pipefail
cd "$(dirname "$0")/../.."
paper=${1:?usage: tools/gpu/reproduce.sh PAPER ITERS [REPORT_DIR]}
iters=${2:?usage: tools/gpu/reproduce.sh PAPER ITERS [REPORT_DIR]}
out=${3:-${OUT:-.gpu/report}}
mkdir -p "$out"
data_dir=../shared/data
if [ -f .gpu/data/isic2017.tar ]; then
  mkdir -p .gpu/shared && tar -C .gpu/shared -xf .gpu/data/isic2017.tar && data_dir=.gpu/shared
fi
if [ -f .gpu/data/ham10000.tar ]; then
  mkdir -p .gpu/shared && tar -C .gpu/shared -xf .gpu/data/ham10000.tar && data_dir=.gpu/shared
fi
mkdir -p weights
# The trainers read weights/resnet50_imagenet.safetensors; a BF16 trunk stands in when that is absent.
[ -f weights/resnet50_imagenet.safetensors ] || ln -sf ../.gpu/weights/resnet50_imagenet.bf16.safetensors \
  weights/resnet50_imagenet.safetensors
run=.gpu/reproduce/$paper
args=(reproduce "$paper" --budget gpu --iters "$iters" --data-dir "$data_dir" --out "$run")
echo "data: $data_dir; weights: $(readlink -f weights/resnet50_imagenet.safetensors)" | tee "$out/run.log"
bin/skinmtl "${args[@]}" --device cuda --precision tf32 2>&1 | tee -a "$out/run.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && [ -f "$run/train/model.safetensors" ]; then
  echo "reproduce.sh: the GPU run stopped with status $rc after training; evaluating on the CPU" | tee -a "$out/run.log"
  bin/skinmtl "${args[@]}" --device cpu 2>&1 | tee -a "$out/run.log"
  rc=${PIPESTATUS[0]}
fi
for f in "$run/results.md" "$run/results.json"; do [ -f "$f" ] && cp "$f" "$out/"; done
for d in "$run"/*/; do
  n=$(basename "$d")
  [ -f "$d/log.csv" ] && cp "$d/log.csv" "$out/$n-log.csv"
  [ -f "$d/curves.png" ] && cp "$d/curves.png" "$out/$n-curves.png"
done
exit "$rc"
