#!/usr/bin/env bash
# Installs the Debian packages skinmtl builds against, when they are missing.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN) is not a Debian package here: when
# nvcc is absent the build is CPU-only, which is a supported configuration.
set -euo pipefail

pkgs=(g++ make libopenblas-dev libstb-dev nlohmann-json3-dev libgtest-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all Debian dependencies present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
