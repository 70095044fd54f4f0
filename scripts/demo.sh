#!/usr/bin/env bash
# The main job on a shipped fixture model: a tiny bvlc-style AlexNet (two towers, BGR, TF layout,
# written as a Python 2 pickle) is inspected, imported to the canonical file, exported to every
# format, and every export is verified against the original's predictions.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
swift build -c release --product alexconv >&2
alexconv="$here/.build/release/alexconv"
work="$(mktemp -d "${TMPDIR:-/tmp}/alexconv-demo.XXXXXX")"
cp Fixtures/numpy/bvlc_py2.npy "$work/bvlc_alexnet.npy"
cd "$work"
echo "== alexconv inspect bvlc_alexnet.npy"
"$alexconv" inspect bvlc_alexnet.npy
echo "== alexconv import bvlc_alexnet.npy"
"$alexconv" import bvlc_alexnet.npy
echo "== alexconv export --format F (each from the canonical model import just wrote)"
for format in npz pth safetensors onnx h5 weights.h5 keras; do
  "$alexconv" export --format "$format" 2>&1 | grep -v "newest canonical model here"
done
echo "== alexconv convert bvlc_alexnet.npy bvlc_alexnet_rgb.pth --towers 1 --channels rgb"
"$alexconv" convert bvlc_alexnet.npy bvlc_alexnet_rgb.pth --towers 1 --channels rgb
echo "== every export computes what the original did (alexconv diff, layer by layer on a fixture input)"
for file in bvlc_alexnet.* bvlc_alexnet_rgb.pth; do
  case "$file" in bvlc_alexnet.npy|bvlc_alexnet.alexnet.safetensors) continue;; esac
  "$alexconv" diff bvlc_alexnet.npy "$file" --input "$here/Fixtures/forward/x227_u8.npy" | tail -1 | sed "s|^|$file: |"
done
echo "outputs in $work"
