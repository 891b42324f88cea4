#!/usr/bin/env bash
# Installs the Debian packages skinmtl builds against, when they are missing,
# and fetches the photographs the classification tests use.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is not a Debian package here: when
# nvcc is absent the build is CPU-only, which is a supported configuration.
#
# openmpi-bin and libopenmpi-dev (Open MPI) launch and connect the processes
# of data-parallel training (`mpirun -np N bin/skinmtl train ...`,
# framework/distributed.h); without them skinmtl builds for one process.
#
# clang and libclang-rt-14-dev (clang's libFuzzer and sanitizer runtimes) build
# the fuzz targets of `make fuzz` (tests/fuzz/), never skinmtl itself.
#
# python3-torch, python3-torchvision and python3-pil (Debian's PyTorch 1.13,
# CPU, and Pillow) are for the tests and benchmarks only, never for the skinmtl
# runtime: the independent references of tests/nets/test_torch_reference.cpp and
# tests/io/test_pil_reference.cpp (run by /usr/bin/python3) and the comparison of
# `make bench-cpu`. They are large (about 270 packages, 250 MB
# of archives, ~1 GB installed; about 2 minutes on a fresh Debian 12 machine);
# without them those tests report themselves skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkgs=(g++ make libopenblas-dev libstb-dev nlohmann-json3-dev libgtest-dev
      openmpi-bin libopenmpi-dev
      clang libclang-rt-14-dev
      python3-torch python3-torchvision python3-pil)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all Debian dependencies present"
else
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# ---- test photographs ----------------------------------------------------------
# tests/nets/test_classify.cpp runs the ImageNet ResNet-50 on well-known photographs
# from Debian's darknet package (its data/ folder: dog.jpg, eagle.jpg,
# giraffe.jpg, kite.jpg). Installing that package would pull in OpenCV (about
# 600 MB on a bare system), so only its .deb is downloaded (3.3 MB, no root
# needed) and the four photos (2.1 MB) are unpacked into data/darknet/
# (git-ignored). An installed darknet package (/usr/share/darknet/data) serves
# as well. Without the photos those tests report themselves skipped.
photos=(dog.jpg eagle.jpg giraffe.jpg kite.jpg)
dest=data/darknet
have_photos() {
  local dir=$1 f
  for f in "${photos[@]}"; do [ -f "$dir/$f" ] || return 1; done
}
if have_photos /usr/share/darknet/data || have_photos "$dest"; then
  echo "install_deps: test photographs present"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "install_deps: warning: no apt-get/dpkg-deb; the photograph tests will be skipped" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install_deps: downloading the darknet package for its sample photographs"
if ! (cd "$tmp" && apt-get download -qq darknet 2>/dev/null); then
  $SUDO apt-get update -qq
  (cd "$tmp" && apt-get download -qq darknet)
fi
deb=$(ls "$tmp"/darknet_*.deb)
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "${photos[@]/#/./usr/share/darknet/data/}"
mkdir -p "$dest"
for f in "${photos[@]}"; do cp "$tmp/usr/share/darknet/data/$f" "$dest/$f"; done
echo "install_deps: wrote ${photos[*]} to $dest/"
