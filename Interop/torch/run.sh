#!/usr/bin/env bash
# Interop check for `--format pth`: files alexconv writes load with real PyTorch
# (torch.load with the default weights_only=True, load_state_dict(strict=True)) and compute the
# same outputs as the source model. Developers and CI run this; it needs Python with torch and
# safetensors. When that cannot be set up (no PyPI), it prints SKIP and exits 0 -- never silently.
#
#   Interop/torch/run.sh            # uses $ALEXCONV_PYTHON, else the fixture venv (Fixtures/venv.sh)
#   ALEXCONV=path/to/alexconv Interop/torch/run.sh   # also drive the CLI: import + export each fixture
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${ALEXCONV_INTEROP_OUT:-$here/out}"

skip() { echo "SKIP: torch interop check: $*"; exit 0; }

# MARK: - Python with torch
python="${ALEXCONV_PYTHON:-}"
if [ -z "$python" ]; then
  python="$("$repo/Fixtures/venv.sh" 2>/dev/null)" || skip "cannot set up the Python venv (is PyPI reachable?)"
fi
"$python" -c "import torch, safetensors" 2>/dev/null || skip "$python cannot import torch and safetensors"

rm -rf "$out" && mkdir -p "$out"

# MARK: - Files to check
if [ -n "${ALEXCONV:-}" ]; then
  # Through the command line, as users do: import the torch-written fixture, export pth.
  : > "$out/manifest.txt"
  # fixture  naming (the source file's own naming, so the source loads into the same module)
  while read -r name naming; do
    src="$repo/Fixtures/torch/$name.pth"
    "$ALEXCONV" import "$src" -o "$out/$name.alexnet.safetensors" || { echo "FAIL: alexconv import $src"; exit 1; }
    "$ALEXCONV" export "$out/$name.alexnet.safetensors" --format pth --naming "$naming" -o "$out/$name.pth" \
      || { echo "FAIL: alexconv export $name"; exit 1; }
    echo "$out/$name.alexnet.safetensors $out/$name.pth $naming $src" >> "$out/manifest.txt"
  done <<'CASES'
torchvision sequential
alexnet_v1 sequential
half sequential
alexnet8_net layers
caffe_grouped_model canonical
checkpoint sequential
dataparallel_fp16 sequential
CASES
else
  # The exporter driven from a Swift test (writes canonical files, pth files and a manifest).
  (cd "$repo" && ALEXCONV_INTEROP_OUT="$out" swift test --scratch-path "${ALEXCONV_SCRATCH:-$repo/.build}" --filter writesInteropFiles >"$out/swift-test.log" 2>&1) \
    || { echo "FAIL: swift test could not write the files (see $out/swift-test.log)"; exit 1; }
fi
[ -s "$out/manifest.txt" ] || { echo "FAIL: no files were written ($out/manifest.txt is empty)"; exit 1; }

# MARK: - Check each file with torch
status=0
while read -r canonical pth naming source; do
  args=(--canonical "$canonical" --pth "$pth" --naming "$naming")
  [ "$source" != "-" ] && args+=(--source "$source")
  "$python" "$here/check_torch.py" "${args[@]}" || status=1
done < "$out/manifest.txt"
# MARK: - bvlc two towers -> pth with --towers 1 (needs the CLI)
if [ -n "${ALEXCONV:-}" ]; then
  for npy in "$repo"/Fixtures/numpy/bvlc_py2.npy "$repo"/Fixtures/numpy/bvlc_np2.npy; do
    [ -f "$npy" ] || continue
    pth="$out/$(basename "$npy" .npy)_one_tower.pth"
    if "$ALEXCONV" convert "$npy" "$pth" --towers 1 >/dev/null; then
      "$python" "$here/check_bvlc_towers.py" "$npy" "$pth" || status=1
    else
      echo "FAIL: alexconv convert $npy $pth --towers 1"; status=1
    fi
  done
fi
[ $status -eq 0 ] && echo "torch interop: all files load with weights_only=True and match" || echo "torch interop: FAILED"
exit $status
