"""Resource history: CPU and memory of every pod, sampled while a scenario runs."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ftlib import evidence
from ftlib.platform.base import ResourceSample
from ftlib.reports.base import Monitor

if TYPE_CHECKING:
    from ftlib.platform.base import Deployment
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
HISTORY_FILE = "resource_history.json"


class ResourceHistory(Monitor):
    """Resource history (``resource_history.json``).

    From the moment the deployment is applied until the scenario finishes, a background thread
    asks the platform about once a second for the CPU % (100 = one core busy) every live pod
    used since the previous sample and the memory it holds. The file is a list of samples
    ``{ts_ns, pod, service, cpu_percent, rss_bytes, processes}``; ``ts_ns`` is on the clock of
    the events and of the load's request records, so the history lines up with faults and
    failed requests.

    Where the figures come from is the platform's business: locally, psutil over each pod's
    processes (resident memory; a pod's first sample comes one interval after its processes
    were first seen); on kubernetes, the metrics API (``metrics.k8s.io``: the working set, at
    the metrics server's own resolution). A platform without figures (e.g. a cluster without a
    metrics server) leaves the file an empty list and says so in the log.
    """

    def __init__(self, interval: float = 1.0):
        self.interval = interval
        self.samples: list[ResourceSample] = []
        self.sampler_cpu_seconds = 0.0
        self.unavailable = False
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
        self._thread = threading.Thread(target=self._run, args=(ctx.deployment, ctx.platform.name),
                                        name="resource-history", daemon=True)
        self._thread.start()

    def stop(self, ctx: "ScenarioContext") -> list[Path]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._written is None:
            self._written = evidence.write_text(ctx.output_dir / HISTORY_FILE,
                                                json.dumps([asdict(s) for s in self.samples], indent=None) + "\n")
            log.info("resource history: %d samples of %d pods (sampler CPU %.2f s) in %s", len(self.samples),
                     len({s.pod for s in self.samples}), self.sampler_cpu_seconds, self._written)
        return [self._written]

    def _run(self, deployment: "Deployment", platform: str) -> None:
        cpu_start = time.thread_time()
        while True:
            try:
                samples = deployment.sample_resources()  # None: the platform has no figures
            except Exception as error:  # noqa: BLE001 - a sampling hiccup must not end the history
                log.debug("resource history: sample failed: %s", error)
                samples = []
            if samples is None:
                self.unavailable = True
                log.info("resource history: platform %s offers no CPU or memory figures; the history stays empty",
                         platform)
                return
            self.samples.extend(samples)
            self.sampler_cpu_seconds = time.thread_time() - cpu_start
            if self._stop.wait(self.interval):
                return

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
