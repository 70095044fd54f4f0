#!/usr/bin/env bash
# Creates (once) the Python venv used to write fixtures and run interop checks, and prints its
# python path. The venv lives in an ignored folder; nothing here is needed by `swift test`.
#   VENV=${ALEXCONV_VENV:-<repo>/.venv-fixtures}
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALEXCONV_VENV:-$here/.venv-fixtures}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, torch, h5py, keras, tf_keras, safetensors, onnx, onnxruntime, PIL" >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q numpy h5py safetensors onnx onnxruntime keras tensorflow-cpu tf-keras pillow torch >&2
fi
echo "$venv/bin/python"
