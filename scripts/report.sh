#!/usr/bin/env bash
# Render the Allure results of behave runs into ONE self-contained HTML file, offline.
#
#   scripts/report.sh [RESULTS_DIR] [REPORT_DIR]
#
# RESULTS_DIR defaults to test_outputs/allure-results (where behave writes them: behave.ini;
# with -D output_dir=X they are in X/allure-results). REPORT_DIR defaults to RESULTS_DIR's
# sibling allure-report. Prints the path of the report's index.html; open it in any browser,
# no server needed. Allure 3 (Node only, no Java), pinned, is installed on first use into
# .tools/allure (git-ignored): npm install --prefix .tools/allure allure@3.18.0
# Results accumulate over runs (re-runs show as retries): remove RESULTS_DIR for a fresh report.
set -euo pipefail

ALLURE_VERSION=3.18.0
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="${1:-$ROOT/test_outputs/allure-results}"
REPORT="${2:-$(dirname "$RESULTS")/allure-report}"
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

"$ALLURE" awesome "$RESULTS" --single-file --name "Dynamo fault tolerance" -o "$REPORT" >&2
echo "$REPORT/index.html"
