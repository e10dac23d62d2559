"""Resource history: CPU and memory of every pod, sampled while a scenario runs."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from ftlib.reports.base import Monitor

if TYPE_CHECKING:
    from ftlib.platform.base import Deployment
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
HISTORY_FILE = "resource_history.json"
LOCAL_PLATFORMS = ("local",)


@dataclass(frozen=True)
class ResourceSample:
    """One pod at one moment: CPU % (100 = one core) over the last interval, and resident memory,
    summed over the pod's processes."""

    ts_ns: int
    pod: str
    service: str
    cpu_percent: float
    rss_bytes: int
    processes: int


class ResourceHistory(Monitor):
    """Resource history (``resource_history.json``).

    From the moment the deployment is applied until the scenario finishes, a background thread
    samples every live pod about once a second: the CPU % (100 = one core busy) its processes
    used since the previous sample, and their resident memory (RSS), summed per pod. The file
    is a list of samples ``{ts_ns, pod, service, cpu_percent, rss_bytes, processes}``;
    ``ts_ns`` is on the clock of the events and of the load's request records, so the history
    lines up with faults and failed requests. A pod's first sample comes one interval after its
    processes were first seen (CPU % needs two readings).

    Cheap by design: the list of a pod's processes is looked up again only every
    ``discover_every`` seconds (or when its processes are gone); in between, only the known
    processes are read. Only the local platform is sampled, where a pod's processes are local
    processes; elsewhere the file holds an empty list.
    """

    def __init__(self, interval: float = 1.0, discover_every: float = 10.0, retry_empty: float = 2.0):
        self.interval = interval
        self.discover_every = discover_every
        self.retry_empty = retry_empty
        self.samples: list[ResourceSample] = []
        self.sampler_cpu_seconds = 0.0
        self._procs: dict[str, dict[int, psutil.Process]] = {}
        self._discovered: dict[str, float] = {}
        self._last_cpu: dict[int, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: Path | None = None

    @property
    def description(self) -> str:
        return f"CPU and memory of every pod every {self.interval:g} s"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, ctx: "ScenarioContext") -> None:
        if self._thread is not None or ctx.deployment is None:
            return
        if ctx.platform.name not in LOCAL_PLATFORMS:
            log.info("resource history: not sampled on platform %s (pod processes are not local)", ctx.platform.name)
            return
        self._thread = threading.Thread(target=self._run, args=(ctx.deployment,), name="resource-history",
                                        daemon=True)
        self._thread.start()

    def stop(self, ctx: "ScenarioContext") -> list[Path]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._written is None:
            ctx.output_dir.mkdir(parents=True, exist_ok=True)
            self._written = ctx.output_dir / HISTORY_FILE
            self._written.write_text(json.dumps([asdict(s) for s in self.samples], indent=None) + "\n")
            log.info("resource history: %d samples of %d pods (sampler CPU %.2f s) in %s", len(self.samples),
                     len({s.pod for s in self.samples}), self.sampler_cpu_seconds, self._written)
        return [self._written]

    def _run(self, deployment: "Deployment") -> None:
        cpu_start = time.thread_time()
        while True:
            try:
                self.samples.extend(self.sample_once(deployment))
            except Exception as error:  # noqa: BLE001 - a sampling hiccup must not end the history
                log.debug("resource history: sample failed: %s", error)
            self.sampler_cpu_seconds = time.thread_time() - cpu_start
            if self._stop.wait(self.interval):
                return

    # -- sampling -------------------------------------------------------------------------
    def sample_once(self, deployment: "Deployment") -> list[ResourceSample]:
        """Read every live pod once; return the samples of pods that have a CPU baseline."""
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

    def _processes_of(self, deployment: "Deployment", pod: str, now: float) -> dict[int, psutil.Process]:
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

    # -- reading --------------------------------------------------------------------------
    def summary(self) -> str:
        """A per-pod table: samples, mean and peak CPU %, peak RSS (MiB)."""
        by_pod: dict[tuple[str, str], list[ResourceSample]] = {}
        for sample in self.samples:
            by_pod.setdefault((sample.service, sample.pod), []).append(sample)
        if not by_pod:
            return "no resource samples were taken\n"
        lines = ["| Service | Pod | Samples | CPU % mean | CPU % peak | RSS MiB peak |", "|---|---|---|---|---|---|"]
        for (service, pod), samples in sorted(by_pod.items()):
            cpus = [s.cpu_percent for s in samples]
            lines.append(f"| {service} | {pod} | {len(samples)} | {sum(cpus) / len(cpus):.1f} | {max(cpus):.1f} | "
                         f"{max(s.rss_bytes for s in samples) / 2**20:.0f} |")
        return "\n".join(lines) + f"\n\nsampler CPU time: {self.sampler_cpu_seconds:.2f} s\n"
