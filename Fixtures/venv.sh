#!/usr/bin/env bash
# Creates (once) the Python venv used to write fixtures and run interop checks, and prints its
# python path. The venv lives in an ignored folder; nothing here is needed by `swift test`.
#   VENV=${ALEXCONV_VENV:-<repo>/.venv-fixtures}
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALEXCONV_VENV:-$here/.venv-fixtures}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, torch, h5py, keras, tf_keras, safetensors, onnx, onnxruntime, PIL, cv2, google.protobuf" >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
  # Versions the committed fixtures and interop checks were made and passed with.
  "$venv/bin/pip" install -q "numpy==2.4.*" "h5py==3.14.*" "safetensors==0.8.*" "onnx==1.23.*" "onnxruntime==1.32.*" \
      "keras==3.15.*" "tensorflow-cpu==2.21.*" "tf-keras==2.21.*" "pillow" "torch==2.15.*" >&2
  # Caffe fixtures and interop: Python protobuf for caffe.proto's messages, OpenCV dnn as the reference
  # (opencv-python-headless 5.x has no Caffe importer; 4.x does).
  "$venv/bin/pip" install -q "protobuf==7.36.*" "opencv-python-headless==4.14.*" >&2
fi
# evaluate: the digits fixture (scikit-learn ships the data set) and the benchmark's Python side
# (torchvision transforms); installed into an existing venv too.
if ! "$venv/bin/python" -c "import sklearn, torchvision" >/dev/null 2>&1; then
  "$venv/bin/pip" install -q "scikit-learn==1.9.*" "torchvision==0.29.*" "numpy==2.4.*" >&2
fi
echo "$venv/bin/python"
