"""Benchmarks of the local platform and the load clients; prints figures, judges nothing.

    .venv/bin/python scripts/benchmark.py [--runs 3]

- deploy -> ready: seconds from applying a spec to every replica ready (mocker agg, vllm disagg)
- idle memory: RSS of each pod's processes once ready
- worker restart: seconds from SIGKILL of a worker's main process to the deployment ready again
- load client start: seconds from start() to requests flowing, and peak RSS, aiperf vs legacy
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from ftlib.load.aiperf import AiperfLoad
from ftlib.load.config import LoadConfig
from ftlib.load.legacy import LegacyLoad
from ftlib.platform.local import LocalPlatform
from ftlib.spec import get_deployment_spec


def rss_of(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        except psutil.NoSuchProcess:
            pass
    return total


def _is_aiperf(process: psutil.Process) -> bool:
    try:
        return "aiperf" in " ".join(process.cmdline())
    except psutil.Error:  # exited (or a zombie) between listing and reading
        return False


def measure_deployment(platform: LocalPlatform, backend: str, topology: str, out: Path) -> dict:
    deployment = platform.deploy(get_deployment_spec(backend, topology, 1), out)
    try:
        ready = deployment.wait_ready(120)
        memory = {pod.service: rss_of([p.pid for p in deployment.processes(pod.name)]) for pod in deployment.pods()}
        worker = next(p for p in deployment.pods() if p.service != deployment.spec.frontend.name)
        pid = next(p.pid for p in deployment.processes(worker.name) if p.is_main)
        killed = time.monotonic()
        deployment.signal_process(worker.name, pid, "SIGKILL")
        while deployment.is_ready():
            time.sleep(0.01)
        deployment.wait_ready(120)
        return {"ready": ready, "memory": memory, "restart": time.monotonic() - killed}
    finally:
        deployment.teardown()


def measure_client(runner_class, platform: LocalPlatform, out: Path) -> dict:
    spec = get_deployment_spec("mocker", "agg", 1)
    deployment = platform.deploy(spec, out / "deployment")
    try:
        deployment.wait_ready(120)
        runner = runner_class("bench", LoadConfig(concurrency=4, request_count=40, output_tokens_mean=32),
                              deployment.frontend_url, spec.model_name, str(platform.model_card), out / "load")
        peak, stop = [0], threading.Event()
        me = psutil.Process()
        baseline = me.memory_info().rss

        def sample() -> None:  # aiperf: its processes; legacy: what this process grew by
            while not stop.is_set():
                if runner_class is LegacyLoad:
                    used = me.memory_info().rss - baseline
                else:
                    used = rss_of([c.pid for c in me.children() if _is_aiperf(c)])
                peak[0] = max(peak[0], used)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        runner.start()
        started = time.monotonic() - began
        results = runner.wait()
        total = time.monotonic() - began
        stop.set()
        sampler.join()
        return {"start": started, "total": total, "ok": results.succeeded, "peak_rss": peak[0]}
    finally:
        deployment.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    platform = LocalPlatform()
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="dynamo-ft-bench-") as tmp:
        for backend, topology in (("mocker", "agg"), ("vllm", "disagg")):
            runs = [measure_deployment(platform, backend, topology, Path(tmp) / f"{backend}-{topology}-{i}")
                    for i in range(args.runs)]
            ready = [r["ready"] for r in runs]
            restart = [r["restart"] for r in runs]
            print(f"{backend} {topology}: deploy -> ready median {statistics.median(ready):.2f} s "
                  f"(min {min(ready):.2f}, max {max(ready):.2f}); worker SIGKILL -> ready again median "
                  f"{statistics.median(restart):.2f} s (max {max(restart):.2f})")
            for service, rss in runs[-1]["memory"].items():
                print(f"  idle RSS {service}: {rss / mib:.0f} MiB")
        for name, runner in (("aiperf", AiperfLoad), ("legacy", LegacyLoad)):
            result = measure_client(runner, platform, Path(tmp) / name)
            print(f"client {name}: start() -> requests flowing {result['start']:.2f} s; 40 requests in "
                  f"{result['total']:.1f} s ({result['ok']} ok); peak RSS {result['peak_rss'] / mib:.0f} MiB")


if __name__ == "__main__":
    main()
