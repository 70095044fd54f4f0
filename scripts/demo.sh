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
for format in npz pth safetensors onnx h5 weights.h5 keras; do
  if "$alexconv" export --format "$format" 2>/dev/null; then :; else echo "(format $format not available in this build)"; fi
done
echo "== every export computes what the original did"
for file in bvlc_alexnet.*; do
  case "$file" in bvlc_alexnet.npy|bvlc_alexnet.alexnet.safetensors) continue;; esac
  "$alexconv" diff bvlc_alexnet.npy "$file" --input "$here/Fixtures/forward/x227_u8.npy" 2>/dev/null | tail -1 | sed "s|^|$file: |" || echo "$file: diff unavailable"
done
echo "outputs in $work"
