#!/usr/bin/env bash
# Make sure a headless Chromium is installed: tests/test_report_html.py opens the rendered Allure
# report in it. Debian/Ubuntu: apt-get install chromium (as root, or through sudo). Does nothing
# when chromium (or chromium-browser) is already on PATH. ./run test calls this first.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_chromium.sh: chromium is needed by the report test; install it with your package manager" >&2
  exit 2
fi
as_root=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install_chromium.sh: run as root or install sudo: apt-get install -y chromium" >&2; exit 2; }
  as_root=(sudo)
fi
echo "== installing chromium (the report test opens the Allure report in it)" >&2
"${as_root[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >&2
