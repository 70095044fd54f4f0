#!/usr/bin/env bash
# Interop check for `--format caffemodel`: OpenCV dnn (cv2.dnn.readNetFromCaffe, opencv-python-headless
# 4.x) loads the OUT.prototxt + OUT.caffemodel alexconv writes for every preset (the canonical fixtures
# in Fixtures/forward) and computes the source framework's outputs (their PyTorch goldens) within 1e-4
# of the largest value; alexconv reading its own caffemodel back agrees too; and a bvlc-style npy goes
# npy -> caffemodel -> npy bit-exact. Needs the alexconv executable (ALEXCONV, default .build/debug/alexconv)
# and Python with numpy, safetensors and cv2; when that cannot be set up (no PyPI) it prints SKIP and
# exits 0 -- never silently.
#   ALEXCONV=.build/debug/alexconv Interop/caffe/run.sh
#   ALEXCONV_PYTHON=python3 ...   # another Python instead of the fixture venv
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
alexconv="${ALEXCONV:-$repo/.build/debug/alexconv}"
out="$(mktemp -d "${TMPDIR:-/tmp}/alexconv-caffe-interop.XXXXXX")"
trap 'rm -rf "$out"' EXIT

skip() { echo "SKIP: caffe interop check: $*"; exit 0; }

python="${ALEXCONV_PYTHON:-}"
if [ -z "$python" ]; then
  python="$("$repo/Fixtures/venv.sh" 2>/dev/null)" || skip "cannot set up the Python venv (is PyPI reachable?)"
fi
"$python" -c "import numpy, safetensors, cv2; cv2.dnn.readNetFromCaffe" 2>/dev/null \
  || skip "$python cannot import numpy, safetensors and cv2 with cv2.dnn.readNetFromCaffe (opencv-python-headless 4.x; 5.x has no Caffe importer)"
[ -x "$alexconv" ] || { echo "FAIL: no alexconv executable at $alexconv (swift build first, or set ALEXCONV)"; exit 1; }

"$python" "$here/check_caffe.py" --alexconv "$alexconv" --fixtures "$repo/Fixtures" --out "$out"
