#!/usr/bin/env bash
# Interop check for `--format onnx`: every model alexconv exports passes onnx.checker.check_model
# (full_check) and onnxruntime's output matches the source framework (PyTorch goldens of the
# canonical fixtures in Fixtures/forward, every preset plus a chain of every op variant) within
# 1e-4; models written by torch.onnx.export and onnx.helper survive import + export. With the CLI,
# alexconv's own forward pass is compared with onnxruntime too. Needs Python with numpy, onnx and
# onnxruntime; when that cannot be set up (no PyPI) it prints SKIP and exits 0 -- never silently.
#
#   Interop/onnx/run.sh                                 # exporter driven from a Swift test
#   ALEXCONV=.build/debug/alexconv Interop/onnx/run.sh  # through the command line, as users do
#   ALEXCONV_PYTHON=python3 ...                         # another Python instead of the fixture venv
#   ALEXCONV_SCRATCH=.build-x ...                       # swift test --scratch-path for the Swift-test mode
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${ALEXCONV_ONNX_INTEROP_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/alexconv-onnx-interop.XXXXXX")}"

skip() { echo "SKIP: onnx interop check: $*"; exit 0; }

# MARK: - Python with onnx and onnxruntime
python="${ALEXCONV_PYTHON:-}"
if [ -z "$python" ]; then
  python="$("$repo/Fixtures/venv.sh" 2>/dev/null)" || skip "cannot set up the Python venv (is PyPI reachable?)"
fi
"$python" -c "import numpy, onnx, onnxruntime, safetensors" 2>/dev/null || skip "$python cannot import numpy, onnx, onnxruntime and safetensors"

rm -rf "$out" && mkdir -p "$out"

# MARK: - Files to check
if [ -n "${ALEXCONV:-}" ]; then
  : > "$out/manifest.txt"
  for canonical in "$repo"/Fixtures/forward/*.alexnet.safetensors; do
    name="$(basename "$canonical" .alexnet.safetensors)"
    "$ALEXCONV" export "$canonical" --format onnx -o "$out/$name.onnx" || { echo "FAIL: alexconv export $canonical --format onnx"; exit 1; }
    echo "forward $name $canonical $out/$name.onnx" >> "$out/manifest.txt"
  done
  for name in torchvision_tiny kerasbn_tiny zoo_tiny; do
    src="$repo/Fixtures/onnx/$name.onnx"
    "$ALEXCONV" convert "$src" "$out/reexport_$name.onnx" || { echo "FAIL: alexconv convert $src"; exit 1; }
    echo "reexport $name $src $out/reexport_$name.onnx" >> "$out/manifest.txt"
  done
else
  (cd "$repo" && ALEXCONV_ONNX_INTEROP_OUT="$out" swift test ${ALEXCONV_SCRATCH:+--scratch-path "$ALEXCONV_SCRATCH"} --filter writesONNXInteropFiles >"$out/swift-test.log" 2>&1) \
    || { echo "FAIL: swift test could not write the files (see $out/swift-test.log)"; exit 1; }
fi
[ -s "$out/manifest.txt" ] || { echo "FAIL: no files were written ($out/manifest.txt is empty)"; exit 1; }

"$python" "$here/check_onnx.py" --manifest "$out/manifest.txt" --fixtures "$repo/Fixtures" ${ALEXCONV:+--alexconv "$ALEXCONV"}
