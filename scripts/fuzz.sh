#!/usr/bin/env bash
# Fuzzes every alexconv parser with libFuzzer + AddressSanitizer for a fixed time budget each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#     SECONDS  budget per target (default 60): `scripts/fuzz.sh 5` is the CI smoke run,
#              `scripts/fuzz.sh 120` a real run.
#     TARGET   run only these (names as below, with or without the Fuzz prefix).
#
# Builds the separate package in Fuzz/ (never part of `swift test`), seeds one corpus per target
# from the committed fixtures (in a temporary directory, so the repository is never touched), runs
# each target and prints one line per target: executions, seconds, corpus size, findings.
# A finding (crash, sanitizer report, timeout, out-of-memory, non-user-facing error) is saved to
# $FUZZ_ARTIFACTS (default: a temporary directory) and makes the script exit 1.
#
# Environment: FUZZ_SEED (libFuzzer's -seed; 0 = random, CI sets 1 so its smoke run is reproducible),
# FUZZ_SCRATCH (build directory, default .build-fuzz), FUZZ_ARTIFACTS,
# FUZZ_KEEP=1 keeps the work directory (corpora and logs).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

budget="${1:-60}"
shift || true
case "$budget" in ''|*[!0-9]*) echo "fuzz.sh: budget must be whole seconds, got '$budget'" >&2; exit 2;; esac

all_targets=(FuzzNpyHeader FuzzPickle FuzzZipDirectory FuzzSafetensors FuzzTorchArchive FuzzKerasHDF5 FuzzONNX FuzzImages FuzzTensorFlowIndex FuzzCaffe FuzzLabels)
targets=()
if [ $# -eq 0 ]; then
  targets=("${all_targets[@]}")
else
  for name in "$@"; do
    name="Fuzz${name#Fuzz}"
    found=0
    for t in "${all_targets[@]}"; do [ "$t" = "$name" ] && found=1; done
    if [ $found -eq 0 ]; then echo "fuzz.sh: unknown target '$name' (targets: ${all_targets[*]})" >&2; exit 2; fi
    targets+=("$name")
  done
fi

# MARK: - Limits for one run
# Per-input time (s) before libFuzzer calls it a hang, and memory (MB) before it calls it an OOM:
# every parser must refuse hostile sizes well below these.
per_input_timeout=10
rss_limit_mb=2048
max_input_bytes=262144

scratch="${FUZZ_SCRATCH:-$here/.build-fuzz}"
work="$(mktemp -d "${TMPDIR:-/tmp}/alexconv-fuzz.XXXXXX")"
artifacts="${FUZZ_ARTIFACTS:-$work/findings}"
mkdir -p "$artifacts"
cleanup() { if [ "${FUZZ_KEEP:-0}" != 1 ]; then rm -rf "$work"; fi; rm -f "${TMPDIR:-/tmp}"/alexconv-fuzz-*.h5 "${TMPDIR:-/tmp}"/alexconv-fuzz-*.npz; rm -rf "${TMPDIR:-/tmp}"/alexconv-fuzz-caffe-*; }
trap cleanup EXIT

# MARK: - Build
echo "== building fuzz targets (libFuzzer + AddressSanitizer) in $scratch" >&2
if ! swift build -c debug --package-path Fuzz --scratch-path "$scratch" \
      -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >"$work/build.log" 2>&1; then
  grep -vE "Cannot export local symbol" "$work/build.log" | tail -40 >&2
  echo "fuzz.sh: build failed" >&2
  exit 2
fi
bin="$scratch/debug"

# MARK: - Seed corpora from Fixtures/
seed() { # target, then find(1) name patterns under Fixtures/
  local target="$1"; shift
  local dir="$work/corpus/$target"
  mkdir -p "$dir"
  local args=() first=1
  for pattern in "$@"; do
    if [ $first -eq 1 ]; then first=0; else args+=(-o); fi
    args+=(-name "$pattern")
  done
  find Fixtures -type f \( "${args[@]}" \) -size -"${max_input_bytes}"c -print0 |
    while IFS= read -r -d '' file; do cp "$file" "$dir/$(echo "$file" | tr '/' '_')"; done
}
seed FuzzNpyHeader '*.npy'
seed FuzzPickle '*.pkl' '*_legacy.pth'
seed FuzzZipDirectory '*.npz' '*.zip' '*.keras' '*.pth'
seed FuzzSafetensors '*.safetensors'
seed FuzzTorchArchive '*.pth' '*.pt'
seed FuzzKerasHDF5 '*.h5'
seed FuzzONNX '*.onnx'
seed FuzzImages '*.png' '*.jpg' '*.jpeg' '*.ppm' '*.pgm'
seed FuzzTensorFlowIndex '*.index'
seed FuzzCaffe '*.caffemodel' '*.prototxt' '*.binaryproto'
# Label files: the fixture's val.txt and CSV, each behind a first byte that picks the reading (bit 0: CSV).
mkdir -p "$work/corpus/FuzzLabels"
{ printf '\x00'; cat Fixtures/evaluate/digits_val.txt; } >"$work/corpus/FuzzLabels/val.txt"
{ printf '\x01'; cat Fixtures/evaluate/digits_labels.csv; } >"$work/corpus/FuzzLabels/labels.csv"
printf '\x03file,label\n"a, ""b"".png",n01440764\n' >"$work/corpus/FuzzLabels/synsets.csv"
# Hand-written seeds for the parts no fixture covers.
printf 'P6\n2 2\n255\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b' >"$work/corpus/FuzzImages/p6.ppm"
printf 'P3\n1 2\n255\n1 2 3 4 5 6\n' >"$work/corpus/FuzzImages/p3.ppm"
printf 'P5\n# comment\n2 1\n65535\n\x00\x01\x02\x03' >"$work/corpus/FuzzImages/p5.pgm"
printf 'P2\n2 1\n15\n3 4\n' >"$work/corpus/FuzzImages/p2.pgm"
# A small mean BlobProto (the fixture's 256x256 mean is above max_input_bytes): legacy dims 1x3x1x2, six floats.
printf '\x08\x01\x10\x03\x18\x01\x20\x02\x2a\x18\x00\x00\xd0\x42\x00\x00\xea\x42\x00\x00\xf6\x42\x00\x00\xd0\x42\x00\x00\xea\x42\x00\x00\xf6\x42' >"$work/corpus/FuzzCaffe/mean.binaryproto"

# MARK: - Run
export SWIFT_BACKTRACE="enable=no"  # the Swift backtracer trips ASan inside its own crash handler
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:handle_abort=1}"
printf '\n%-18s %12s %8s %8s %8s  %s\n' target executions seconds corpus findings result
failures=0
summary=()
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  log="$work/$target.log"
  started=$(date +%s)
  # -detect_leaks=0 as in ASAN_OPTIONS: with LeakSanitizer off, libFuzzer's own leak check could
  # report nothing and only re-ran every input that allocated more than it freed (twice the time).
  "$bin/$target" "$corpus" -max_total_time="$budget" -timeout="$per_input_timeout" -seed="${FUZZ_SEED:-0}" -detect_leaks=0 \
      -rss_limit_mb="$rss_limit_mb" -malloc_limit_mb="$rss_limit_mb" -max_len="$max_input_bytes" \
      -print_final_stats=1 -artifact_prefix="$artifacts/$target-" >"$log" 2>&1
  status=$?
  elapsed=$(( $(date +%s) - started ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  found=$(find "$artifacts" -name "$target-*" -type f | wc -l)
  result=ok
  if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    result="FINDING (exit $status)"
    failures=$((failures + 1))
    cp "$log" "$artifacts/$target.log"
  fi
  printf '%-18s %12s %8s %8s %8s  %s\n' "$target" "${execs:-?}" "$elapsed" "$size" "$found" "$result"
  if [ "$result" != ok ]; then
    grep -E "^(==[0-9]+==ERROR|SUMMARY|.*Fatal error|fuzz finding|.*deadly signal|ALARM|.*out-of-memory)" "$log" | head -5 | sed 's/^/    /'
  fi
done

echo
if [ "$failures" -gt 0 ]; then
  if [ -z "${FUZZ_ARTIFACTS:-}" ]; then FUZZ_KEEP=1; fi
  echo "fuzz.sh: $failures target(s) found problems; inputs and logs in $artifacts" >&2
  echo "reproduce: $bin/<target> <input>" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s), ${budget}s each, no findings"
