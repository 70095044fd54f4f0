#!/usr/bin/env bash
# Interop check for the HTML reports (`evaluate --report`, `compare --report`, `diff --report`): a real
# browser, headless Chromium (Debian's `chromium`), renders each page with no console message at all
# (no script runs, nothing is fetched: the page's Content-Security-Policy would log any attempt), the
# screenshot is not blank, the DOM holds no element or attribute that came from a file name (names
# full of HTML are escaped), and every src/href is a data: URI. Needs the alexconv executable
# (ALEXCONV, default .build/debug/alexconv), chromium, and Python with Pillow for the screenshot; when
# either cannot be had it prints SKIP and exits 0 -- never silently.
#   ALEXCONV=.build/debug/alexconv Interop/report/run.sh
#   CHROMIUM=/usr/bin/chromium ALEXCONV_PYTHON=python3 ...
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
alexconv="${ALEXCONV:-$repo/.build/debug/alexconv}"
out="$(mktemp -d "${TMPDIR:-/tmp}/alexconv-report-interop.XXXXXX")"
trap 'rm -rf "$out"' EXIT

skip() { echo "SKIP: report interop check: $*"; exit 0; }

chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$chromium" ] && [ -x "$chromium" ] || skip "no chromium (Debian: apt-get install chromium)"
python="${ALEXCONV_PYTHON:-}"
if [ -z "$python" ]; then
  python="$("$repo/Fixtures/venv.sh" 2>/dev/null)" || skip "cannot set up the Python venv (is PyPI reachable?)"
fi
"$python" -c "import PIL, numpy" 2>/dev/null || skip "$python cannot import PIL and numpy"
[ -x "$alexconv" ] || { echo "FAIL: no alexconv executable at $alexconv (swift build first, or set ALEXCONV)"; exit 1; }

"$python" "$here/check_report.py" --alexconv "$alexconv" --chromium "$chromium" --fixtures "$repo/Fixtures" --out "$out"
