"""Benchmark of the shard runner: wall time of a selection at several N, and whether any verdict
or error count moved between runs. Prints figures, judges nothing.

    .venv/bin/python scripts/shard_benchmark.py --jobs 1 2 3 4 --runs 2 [--tags EXPR] [--out DIR]

Each run is ``python -m ftlib.shard -j N --tags EXPR`` into a folder of its own; afterwards every
scenario's ``verdicts.json`` gives its failed/total requests per run, printed side by side.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_TAGS = "(@smoke or @fault_tolerance) and not @weekly"
_COUNT = re.compile(r"(\d+) of (\d+) failed")


def failed_counts(folder: Path) -> dict[str, str]:
    """Scenario folder -> 'failed/total' of its first error check, or its status."""
    counts = {}
    for verdicts in sorted(folder.glob("*/verdicts.json")):
        document = json.loads(verdicts.read_text())
        observed = [v.get("observed", "") for v in document.get("verdicts", [])]
        match = next((m for m in map(_COUNT.search, observed) if m), None)
        status = "ok" if document.get("passed") else "FAILED"
        counts[verdicts.parent.name] = (f"{match.group(1)}/{match.group(2)}" if match else "-") + f" {status}"
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tags", default=DEFAULT_TAGS)
    parser.add_argument("--out", default="/tmp/dynamo-ft-shard-benchmark")
    options = parser.parse_args()
    rows, columns = [], {}
    for jobs in options.jobs:
        for run in range(1, options.runs + 1):
            folder = Path(options.out) / f"j{jobs}-run{run}"
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "ftlib.shard", "-j", str(jobs), "--tags", options.tags,
                                   "-D", f"output_dir={folder}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
            wall = time.monotonic() - started
            closing = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
            rows.append((jobs, run, wall, closing))
            columns[f"j{jobs}r{run}"] = failed_counts(folder)
            print(f"N={jobs} run {run}: {wall / 60:.1f} min ({wall:.0f} s) — {closing}", flush=True)
    print("\nN  run  wall        result")
    for jobs, run, wall, closing in rows:
        print(f"{jobs:<2} {run:<4} {wall:7.0f} s   {closing}")
    names = sorted({name for column in columns.values() for name in column})
    print("\nfailed/total requests per scenario (first error check) and verdict, per run:")
    print("scenario".ljust(60) + "".join(key.ljust(16) for key in columns))
    for name in names:
        print(name[:58].ljust(60) + "".join(columns[key].get(name, "not run").ljust(16) for key in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
