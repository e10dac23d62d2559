"""CPU and memory of the local platform's pods, read with psutil from their process groups."""

from __future__ import annotations

import time
from typing import Protocol

import psutil

from ftlib.platform.base import PodInfo, ProcessInfo, ResourceSample


class HasProcesses(Protocol):
    def pods(self, service: str | None = None, include_deleted: bool = False) -> list[PodInfo]: ...

    def processes(self, pod: str) -> list[ProcessInfo]: ...


class ProcessSampler:
    """Samples the processes of every live pod: the CPU % they used since the previous sample
    and their resident memory, summed per pod. A pod's first sample comes one call after its
    processes were first seen (CPU % needs two readings).

    Cheap by design: a pod's process list is looked up again only every ``discover_every``
    seconds (or ``retry_empty`` seconds while it has none); in between only the known
    processes are read.
    """

    def __init__(self, discover_every: float = 10.0, retry_empty: float = 2.0):
        self.discover_every = discover_every
        self.retry_empty = retry_empty
        self._procs: dict[str, dict[int, psutil.Process]] = {}
        self._discovered: dict[str, float] = {}
        self._last_cpu: dict[int, tuple[float, float]] = {}

    def sample(self, deployment: HasProcesses) -> list[ResourceSample]:
        now_ns, now = time.time_ns(), time.monotonic()
        samples = []
        pods = deployment.pods()
        for pod in pods:
            procs = self._processes_of(deployment, pod.name, now)
            cpu, rss, alive, measured = 0.0, 0, 0, False
            for pid, process in list(procs.items()):
                try:
                    with process.oneshot():
                        times = process.cpu_times()
                        rss += process.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    del procs[pid]
                    self._last_cpu.pop(pid, None)
                    continue
                alive += 1
                used = times.user + times.system
                previous = self._last_cpu.get(pid)
                self._last_cpu[pid] = (used, now)
                if previous is not None and now > previous[1]:
                    cpu += 100.0 * (used - previous[0]) / (now - previous[1])
                    measured = True
            if alive and measured:
                samples.append(ResourceSample(now_ns, pod.name, pod.service, round(cpu, 1), rss, alive))
        live = {p.name for p in pods}
        for gone in set(self._procs) - live:
            for pid in self._procs.pop(gone):
                self._last_cpu.pop(pid, None)
            self._discovered.pop(gone, None)
        return samples

    def _processes_of(self, deployment: HasProcesses, pod: str, now: float) -> dict[int, psutil.Process]:
        known = self._procs.get(pod)
        age = now - self._discovered.get(pod, float("-inf"))
        if known is None or age >= self.discover_every or (not known and age >= self.retry_empty):
            fresh = {}
            for info in deployment.processes(pod):
                process = (known or {}).get(info.pid)
                if process is None:
                    try:
                        process = psutil.Process(info.pid)
                    except psutil.Error:
                        continue
                fresh[info.pid] = process
            for pid in set(known or {}) - set(fresh):
                self._last_cpu.pop(pid, None)
            self._procs[pod], self._discovered[pod] = fresh, now
            known = fresh
        return known
