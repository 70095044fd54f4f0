#!/usr/bin/env bash
# Runs every interop check: the real libraries (torch, Keras 3, tf-keras, onnx, onnxruntime, TensorFlow, OpenCV dnn) load
# what alexconv writes and compute the same outputs; headless Chromium renders its HTML reports.
# Each check prints SKIP and passes when its
# Python environment cannot be set up (no PyPI), never silently. Exits non-zero if any check fails.
#   ALEXCONV=.build/debug/alexconv Interop/run-all.sh
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"
export ALEXCONV="${ALEXCONV:-$repo/.build/debug/alexconv}"
status=0
run() {
  local name="$1"; shift
  local start=$(date +%s)
  echo "-- interop: $name"
  if "$@"; then echo "-- interop: $name passed ($(( $(date +%s) - start ))s)"; else echo "-- interop: $name FAILED"; status=1; fi
}
run torch bash Interop/torch/run.sh
run onnx bash Interop/onnx/run.sh
run keras python3 Interop/keras/check_keras.py
run tensorflow bash Interop/tensorflow/run.sh
run caffe bash Interop/caffe/run.sh
run report bash Interop/report/run.sh
exit $status
