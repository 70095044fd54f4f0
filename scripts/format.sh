#!/usr/bin/env bash
# Formats (default) or lints (`scripts/format.sh lint`) the Swift sources with the toolchain's
# swift-format and the committed .swift-format configuration. Generated protobuf code is left as
# its generator wrote it. CI runs the lint; a finding fails the build.
#
# Rules switched off in .swift-format, and why: AlwaysUseLowerCamelCase (the kernels use the
# mathematical names H, W, OH, OW, C of their formulas); ReplaceForEachWithForLoop (a style choice
# the codebase does not make).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-format}"
mapfile -t files < <(git ls-files -co --exclude-standard -- 'Sources/*.swift' 'Tests/*.swift' 'Fuzz/*.swift' 'Package.swift' | grep -v '/Generated/' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
case "$mode" in
  format) swift format format --in-place --parallel "${files[@]}" ;;
  lint) swift format lint --strict --parallel "${files[@]}" ;;
  *) echo "usage: scripts/format.sh [format|lint]" >&2; exit 2 ;;
esac
