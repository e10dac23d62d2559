"""Benchmark of the local Kubernetes control plane (`ftlib.controlplane`); prints figures, judges nothing.

    .venv/bin/python scripts/controlplane_benchmark.py [--runs 3] [--bare]

- build: the measured time of the build that made the binaries in use (build.json), their sizes
- up: seconds from ControlPlane.start() to the API server, controllers, scheduler, the CRD, the
  namespace and (unless --bare) the node agent, provisioner and operator stand-in being ready
- memory: RSS of each component once up
- down: seconds to stop everything
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import psutil

from ftlib.controlplane import build
from ftlib.controlplane.cluster import ControlPlane


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bare", action="store_true", help="without the stand-ins")
    args = parser.parse_args()
    binaries = build.build()
    built = json.loads((binaries.folder / "build.json").read_text())
    sizes = ", ".join(f"{name} {binaries.path(name).stat().st_size / 2**20:.0f} MiB" for name in build.BINARIES)
    print(f"build: kubernetes {built['kubernetes']}, etcd {built['etcd']}, {built['go']}: "
          f"{built['seconds']:.0f} s when it was built; {sizes}")
    ups, downs = [], []
    for run in range(args.runs):
        plane = ControlPlane(stand_ins=not args.bare, progress=lambda line: None)
        started = time.monotonic()
        plane.start()
        ups.append(time.monotonic() - started)
        if run == 0:
            for name, process in plane._processes.items():
                print(f"memory: {name} {psutil.Process(process.pid).memory_info().rss / 2**20:.0f} MiB")
        started = time.monotonic()
        plane.stop()
        downs.append(time.monotonic() - started)
    print(f"up ({'bare' if args.bare else 'with stand-ins'}), {args.runs} runs: median {statistics.median(ups):.1f} s, "
          f"max {max(ups):.1f} s ({', '.join(f'{u:.1f}' for u in ups)})")
    print(f"down: median {statistics.median(downs):.1f} s, max {max(downs):.1f} s")


if __name__ == "__main__":
    main()
