"""Benchmarks of the local platform and the load clients; prints figures, judges nothing.

    .venv/bin/python scripts/benchmark.py [--runs 3] [--only deploy|clients]

- deploy -> ready: seconds from applying a spec to every replica ready (mocker agg, vllm disagg)
- idle memory: RSS of each pod's processes once ready
- worker restart: seconds from SIGKILL of a worker's main process to the deployment ready again
- load client start: seconds from start() to requests flowing and to the first request sent, and
  peak RSS, aiperf vs legacy; aiperf before and after it read the model card from its hub cache
  (`ftlib.load.aiperf.aiperf_env`), each the median of --runs, run in turns

It runs as a registered run (`ftlib.runs.start_run`), as behave does: every temporary file,
aiperf's too, is in the run's own folder.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from ftlib import evidence, runs
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


def measure_client(make_runner, platform: LocalPlatform, out: Path) -> dict:
    spec = get_deployment_spec("mocker", "agg", 1)
    deployment = platform.deploy(spec, out / "deployment")
    try:
        deployment.wait_ready(120)
        runner = make_runner("bench", LoadConfig(concurrency=4, request_count=40, output_tokens_mean=32, random_seed=1),
                             deployment.frontend_url, spec.model_name, str(platform.model_card), out / "load")
        peak, stop = [0], threading.Event()
        me = psutil.Process()
        baseline = me.memory_info().rss

        def sample() -> None:  # aiperf: its processes; legacy: what this process grew by
            while not stop.is_set():
                if isinstance(runner, LegacyLoad):
                    used = me.memory_info().rss - baseline
                else:
                    used = rss_of([c.pid for c in me.children() if _is_aiperf(c)])
                peak[0] = max(peak[0], used)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began, began_ns = time.monotonic(), time.time_ns()
        runner.start()
        started = time.monotonic() - began
        results = runner.wait()
        total = time.monotonic() - began
        stop.set()
        sampler.join()
        first = min(record.start_ns for record in results.records)
        return {"start": started, "first": (first - began_ns) / 1e9, "total": total, "ok": results.succeeded,
                "peak_rss": peak[0]}
    finally:
        deployment.teardown()


CLIENTS = {  # name -> how the load runner is made
    "aiperf before (card as a path)": functools.partial(AiperfLoad, use_hub_cache=False),
    "aiperf (card from its hub cache)": AiperfLoad,
    "legacy": LegacyLoad,
}


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def measure_deployments(platform: LocalPlatform, tmp: Path, runs: int) -> None:
    mib = 1024 * 1024
    for backend, topology in (("mocker", "agg"), ("vllm", "disagg")):
        measured = [measure_deployment(platform, backend, topology, tmp / f"{backend}-{topology}-{i}")
                    for i in range(runs)]
        print(f"{backend} {topology}: deploy -> ready {_spread([r['ready'] for r in measured])}; worker SIGKILL -> "
              f"ready again {_spread([r['restart'] for r in measured])}")
        for service, rss in measured[-1]["memory"].items():
            print(f"  idle RSS {service}: {rss / mib:.0f} MiB")


def measure_clients(platform: LocalPlatform, tmp: Path, runs: int) -> None:
    """Each client ``runs`` times, in turns (so a slower minute of the machine hits all of them)."""
    measured: dict[str, list[dict]] = {name: [] for name in CLIENTS}
    for run in range(runs):
        for name, make_runner in CLIENTS.items():
            measured[name].append(measure_client(make_runner, platform, tmp / f"client-{run}-{len(measured[name])}"
                                                 f"-{name.split()[0]}"))
    mib = 1024 * 1024
    for name, results in measured.items():
        print(f"client {name}: start() -> requests flowing {_spread([r['start'] for r in results])}; start -> first "
              f"request {_spread([r['first'] for r in results])}; 40 requests in "
              f"{statistics.median([r['total'] for r in results]):.1f} s ({results[-1]['ok']} ok); peak RSS "
              f"{max(r['peak_rss'] for r in results) / mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("deploy", "clients"))
    args = parser.parse_args()
    runs.start_run()  # as behave's runs: temporary files in the run's own folder
    try:
        platform = LocalPlatform()
        with tempfile.TemporaryDirectory(prefix="dynamo-ft-bench-") as tmp:
            evidence.allow(tmp)
            if args.only in (None, "deploy"):
                measure_deployments(platform, Path(tmp), args.runs)
            if args.only in (None, "clients"):
                measure_clients(platform, Path(tmp), args.runs)
    finally:
        runs.finish_run()


if __name__ == "__main__":
    main()
