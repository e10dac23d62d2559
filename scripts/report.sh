#!/usr/bin/env bash
# Render the Allure results of behave runs into ONE self-contained HTML file that works offline.
#
#   scripts/report.sh [RESULTS_DIR] [REPORT_DIR]        (also: ./run report [RESULTS_DIR] [REPORT_DIR])
#
# RESULTS_DIR defaults to test_outputs/allure-results, or $FT_OUTPUT_DIR/allure-results (where
# behave writes them; with -D output_dir=X they are in X/allure-results). REPORT_DIR defaults to RESULTS_DIR's sibling
# allure-report. Prints the path of the report's index.html; open it in any browser, no server
# needed.
#
# - Offline: the file makes no request to any host when opened. Allure 3.18's "awesome" page
#   hard-codes a Google Analytics tag (googletagmanager.com); it is removed from the file, and
#   the script fails if any script, style or frame source outside the file remains.
# - History: every report appends its run to HISTORY (default: RESULTS_DIR's sibling
#   allure-history.jsonl; FT_ALLURE_HISTORY=<file> chooses another), and the report shows each
#   test's earlier results from it. Remove the file to forget them.
# - Each ./run behave/smoke/test starts from an empty RESULTS_DIR (FT_KEEP_RESULTS=1 keeps the
#   earlier results, which then show as retries); plain behave always adds to it.
#
# Allure 3 (Node only, no Java), pinned, is installed on first use into .tools/allure
# (git-ignored): npm install --prefix .tools/allure allure@3.18.0
set -euo pipefail

ALLURE_VERSION=3.18.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FT_OUTPUT_DIR:-test_outputs}"  # as ./run smoke uses it
[[ "$OUT" = /* ]] || OUT="$ROOT/$OUT"
RESULTS="${1:-$OUT/allure-results}"
REPORT="${2:-$(dirname "$RESULTS")/allure-report}"
HISTORY="${FT_ALLURE_HISTORY:-$(dirname "$RESULTS")/allure-history.jsonl}"
PREFIX="$ROOT/.tools/allure"
ALLURE="$PREFIX/node_modules/.bin/allure"

installed_version() {
  node -p "require('$PREFIX/node_modules/allure/package.json').version" 2>/dev/null || true
}

if [[ ! -x "$ALLURE" || "$(installed_version)" != "$ALLURE_VERSION" ]]; then
  command -v npm >/dev/null || { echo "report.sh: npm is needed to install Allure $ALLURE_VERSION" >&2; exit 2; }
  echo "report.sh: installing allure@$ALLURE_VERSION into $PREFIX" >&2
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "allure@$ALLURE_VERSION" >&2
fi

if ! compgen -G "$RESULTS/*-result.json" >/dev/null; then
  echo "report.sh: no Allure results in $RESULTS (run behave first)" >&2
  exit 1
fi

mkdir -p "$(dirname "$HISTORY")"
"$ALLURE" awesome "$RESULTS" --single-file --name "Dynamo fault tolerance" -o "$REPORT" \
  --history-path "$HISTORY" >&2

# Remove the analytics tag and its inline loader, then refuse a page that would still load
# anything from outside the file (script/link/img/iframe sources, CSS imports).
node - "$REPORT/index.html" <<'EOF'
const fs = require("fs");
const file = process.argv[2];
let html = fs.readFileSync(file, "utf8");
html = html.replace(/<script[^>]*src="https?:\/\/www\.googletagmanager\.com[^"]*"[^>]*><\/script>/g, "");
html = html.replace(/<script>\s*window\.dataLayer[\s\S]*?gtag\('config'[\s\S]*?<\/script>/g, "");
const outside = [...html.matchAll(/<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?((?:https?:)?\/\/[^"' >]+)/gi)]
  .map((m) => m[1])
  .concat([...html.matchAll(/@import\s+url\(\s*["']?((?:https?:)?\/\/[^"')]+)/gi)].map((m) => m[1]));
if (/googletagmanager|gtag\(/.test(html) || outside.length) {
  console.error(`report.sh: ${file} would still load from outside the file: ${outside.join(", ") || "analytics"}`);
  process.exit(1);
}
fs.writeFileSync(file, html);
EOF
echo "$REPORT/index.html"
