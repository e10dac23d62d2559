#!/usr/bin/env bash
# Prove that a scenario's traffic stays on loopback: run one smoke scenario under strace and list
# every connect() of every process (frontend, workers, aiperf, behave) whose address is not
# 127.0.0.1 or ::1. Exits 1 if there is any. Needs strace (apt-get install strace).
#   scripts/loopback_audit.sh [behave args…]   (default: the mocker smoke scenario)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v strace >/dev/null || { echo "loopback_audit: strace is needed (apt-get install strace)" >&2; exit 2; }
trace="$(mktemp -t dynamo-ft-strace.XXXXXX)"
out="$(mktemp -d -t dynamo-ft-audit.XXXXXX)"
trap 'rm -rf "$trace" "$out"' EXIT
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(features/smoke.feature -n "mocker aggregated" -f plain)
strace -f -qq -e trace=connect -o "$trace" .venv/bin/behave "${args[@]}" -D output_dir="$out" >/dev/null 2>&1 \
  || { echo "loopback_audit: the scenario failed; see behave's output by running it without the audit" >&2; exit 2; }
total=$(grep -c 'connect(' "$trace" || true)
outside=$(grep 'connect(' "$trace" | grep -E 'AF_INET6?' | grep -vE 'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"' || true)
count=$(printf '%s' "$outside" | awk 'NF' | wc -l)
echo "connect() calls: $total; to an address other than loopback: $count"
if [ -n "$outside" ]; then
  printf '%s\n' "$outside" | head -20
  exit 1
fi
