#!/usr/bin/env bash
# Interop check for `--format tf-checkpoint`: real TensorFlow (tensorflow-cpu, tf-keras) restores the
# checkpoints alexconv writes -- tf.train.load_checkpoint tensor by tensor, seed 002's TF1 graph with
# tf.compat.v1.train.Saver().restore, tf-keras model.load_weights -- and computes what alexconv's
# forward pass computes (see check_tensorflow.py). Needs the fixture venv; when that cannot be set
# up (no PyPI) it prints SKIP and exits 0 -- never silently.
#
#   ALEXCONV=.build/debug/alexconv Interop/tensorflow/run.sh
#   ALEXCONV_PYTHON=python3 ...      # another Python instead of the fixture venv
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
alexconv="${ALEXCONV:-$repo/.build/debug/alexconv}"

skip() { echo "SKIP: tensorflow interop check: $*"; exit 0; }

python="${ALEXCONV_PYTHON:-}"
if [ -z "$python" ]; then
  python="$("$repo/Fixtures/venv.sh" 2>/dev/null)" || skip "cannot set up the Python venv (is PyPI reachable?)"
fi
"$python" -c "import numpy, tensorflow, tf_keras" 2>/dev/null || skip "$python cannot import numpy, tensorflow and tf_keras"
[ -x "$alexconv" ] || { echo "FAIL: $alexconv is not built (swift build first, or set ALEXCONV)"; exit 1; }

"$python" "$here/check_tensorflow.py" --alexconv "$alexconv" ${ALEXCONV_TF_INTEROP_OUT:+--out "$ALEXCONV_TF_INTEROP_OUT"}
