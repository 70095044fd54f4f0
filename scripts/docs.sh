#!/usr/bin/env bash
# Builds the DocC documentation of the AlexConv library (Sources/AlexConv/AlexConv.docc plus the
# doc comments of its public API) with the toolchain's `docc`, no plugin dependency:
#
#   scripts/docs.sh [OUTPUT]     default OUTPUT: .build/docs/AlexConv.doccarchive
#
# Steps: build the library, extract its public symbol graph (`swift package dump-symbol-graph`),
# and `docc convert` the catalog with it. Warnings (a symbol link that does not resolve, a topic
# naming a missing symbol) are errors, so the catalog cannot silently rot. The getting-started
# article's code is also compiled and run by Tests/AlexConvTests/GettingStartedTests.swift.
# To serve the archive as a static site: `docc process-archive transform-for-static-hosting OUTPUT`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
output="${1:-$here/.build/docs/AlexConv.doccarchive}"
docc="$(command -v docc || true)"
if [ -z "$docc" ] && [ -x "$(dirname "$(command -v swift)")/docc" ]; then docc="$(dirname "$(command -v swift)")/docc"; fi
if [ -z "$docc" ]; then echo "docs.sh: no docc in PATH or beside swift (it ships with the Swift toolchain)" >&2; exit 2; fi

echo "== building AlexConv and extracting its public symbol graph" >&2
swift build --target AlexConv >&2
swift package dump-symbol-graph --minimum-access-level public >/dev/null
graphs="$(swift build --show-bin-path)/../symbolgraph"
work="$(mktemp -d "${TMPDIR:-/tmp}/alexconv-docs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The library's own symbols (its extensions of other modules' types are in AlexConv@*.symbols.json).
cp "$graphs"/AlexConv.symbols.json "$work/"
for extension in "$graphs"/AlexConv@*.symbols.json; do [ -e "$extension" ] && cp "$extension" "$work/"; done

echo "== docc convert -> $output" >&2
rm -rf "$output"
mkdir -p "$(dirname "$output")"
"$docc" convert Sources/AlexConv/AlexConv.docc \
  --additional-symbol-graph-dir "$work" \
  --fallback-display-name AlexConv --fallback-bundle-identifier alexconv.AlexConv \
  --warnings-as-errors \
  --output-path "$output"
echo "documentation: $output ($(find "$output/data" -name '*.json' | wc -l | tr -d ' ') pages)"
