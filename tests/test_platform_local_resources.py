"""The local platform's resource figures: psutil over real local processes (nothing deployed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ftlib.platform.base import PodInfo, ProcessInfo
from ftlib.platform.local.resources import ProcessSampler


class PodsWithPids:
    """Pods whose processes are given local pids."""

    def __init__(self, pods: dict[str, tuple[str, list[int]]]):
        self.pod_processes = pods
        self.process_lookups = 0

    def pods(self, service=None, include_deleted=False):
        return [PodInfo(name, svc, True, 0, "Running", 0) for name, (svc, _) in self.pod_processes.items()
                if service in (None, svc)]

    def processes(self, pod):
        self.process_lookups += 1
        return [ProcessInfo(pid, "cmd", i == 0) for i, pid in enumerate(self.pod_processes[pod][1])]


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(20 * 2**20); time.sleep(30)"])
    time.sleep(0.3)  # let it allocate
    yield process
    process.kill()
    process.wait()


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_sampler_measures_cpu_and_memory_of_each_pods_processes(sleeper):
    deployment = PodsWithPids({"worker-a": ("decode", [os.getpid()]), "sleeper-b": ("decode", [sleeper.pid])})
    sampler = ProcessSampler()

    first = sampler.sample(deployment)  # a baseline: CPU % needs two readings
    burn(0.2)
    second = sampler.sample(deployment)

    assert first == []
    by_pod = {s.pod: s for s in second}
    assert by_pod["worker-a"].cpu_percent > 10
    assert by_pod["sleeper-b"].cpu_percent < 10
    assert by_pod["sleeper-b"].rss_bytes > 20 * 2**20
    assert by_pod["sleeper-b"].service == "decode" and by_pod["sleeper-b"].processes == 1


def test_the_sampler_looks_up_processes_only_every_few_seconds(sleeper):
    deployment = PodsWithPids({"sleeper": ("decode", [sleeper.pid])})
    sampler = ProcessSampler(discover_every=10.0)

    for _ in range(5):
        sampler.sample(deployment)

    assert deployment.process_lookups == 1


def test_the_sampler_drops_a_process_that_ended_and_a_pod_that_is_gone(sleeper):
    deployment = PodsWithPids({"sleeper": ("decode", [sleeper.pid])})
    sampler = ProcessSampler()
    sampler.sample(deployment)
    sleeper.kill()
    sleeper.wait()

    assert sampler.sample(deployment) == []
    del deployment.pod_processes["sleeper"]
    assert sampler.sample(deployment) == [] and sampler._procs == {}
