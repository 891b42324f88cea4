#!/usr/bin/env bash
# tools/gpu/prepare.sh: on a connected machine (this project's dev machine),
# make what an offline GPU machine needs to build and check skinmtl, in two
# batches of at most 64 MiB each (the size a GPU slot's file transfer takes):
#
#   batch 1 (carry: .gpu/debs .gpu/weights), with the working tree (~2 MB):
#     .gpu/debs/*.deb      the Debian packages the build needs beyond CUDA:
#                          OpenBLAS (+ libgfortran5), stb, nlohmann-json,
#                          GoogleTest, as downloaded .deb files (about 14 MB;
#                          tools/gpu/run.sh unpacks them into .gpu/root, never
#                          into /)
#     .gpu/weights/resnet50_imagenet.bf16.safetensors
#                          the ImageNet trunk in BF16 without the 1000-class
#                          fc (about 47 MB instead of 103 MB)
#   batch 2 (carry: .gpu/data):
#     .gpu/data/isic2017.tar   ISIC 2017 train + val with masks (about 25 MB)
#
# Everything goes under .gpu/ (git-ignored). Run from anywhere:
#   bash tools/gpu/prepare.sh
# then on the GPU machine (the device tool, or any node with the tree):
#   bash tools/gpu/run.sh            (README, "Checking the GPU path")
set -euo pipefail
cd "$(dirname "$0")/../.."

limit=$((64 * 1024 * 1024))
mkdir -p .gpu/debs .gpu/weights .gpu/data

# ---- batch 1: packages -----------------------------------------------------------------------
pkgs=(libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libstb-dev nlohmann-json3-dev libgtest-dev)
echo "prepare: downloading ${pkgs[*]}"
rm -f .gpu/debs/*.deb
if ! (cd .gpu/debs && apt-get download -qq "${pkgs[@]}" 2>/dev/null); then
  [ "$(id -u)" -eq 0 ] && apt-get update -qq || sudo apt-get update -qq
  (cd .gpu/debs && apt-get download -qq "${pkgs[@]}")
fi

# ---- batch 1: weights ------------------------------------------------------------------------
[ -f weights/resnet50_imagenet.safetensors ] || make weights
[ -x bin/convert_weights ] || make bin/convert_weights
bin/convert_weights --bf16 weights/resnet50_imagenet.safetensors --drop-prefix fc. \
  --out .gpu/weights/resnet50_imagenet.bf16.safetensors

# ---- batch 2: data ---------------------------------------------------------------------------
data=${DATA_DIR:-../shared/data}
if [ -d "$data/isic2017" ]; then
  tar -C "$data" -cf .gpu/data/isic2017.tar isic2017
else
  echo "prepare: warning: no $data/isic2017; batch 2 will be empty (run.sh then trains on synthetic data)" >&2
  rm -f .gpu/data/isic2017.tar
fi

# ---- sizes -----------------------------------------------------------------------------------
tree_bytes=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
b1=$(( $(du -cb .gpu/debs .gpu/weights | tail -1 | cut -f1) + tree_bytes ))
b2=$(( $(du -cb .gpu/data | tail -1 | cut -f1) + tree_bytes ))
printf 'prepare: batch 1 (tree + .gpu/debs + .gpu/weights): %.1f MiB\n' "$(echo "$b1 / 1048576" | bc -l)"
printf 'prepare: batch 2 (tree + .gpu/data):                %.1f MiB\n' "$(echo "$b2 / 1048576" | bc -l)"
for b in $b1 $b2; do
  if [ "$b" -gt "$limit" ]; then
    echo "prepare: error: a batch is over 64 MiB" >&2
    exit 1
  fi
done
echo "prepare: done. On the GPU machine: bash tools/gpu/run.sh (carry .gpu/debs and .gpu/weights;"
echo "         then, in a second call while it is warm, .gpu/data for the ISIC 2017 runs)"
