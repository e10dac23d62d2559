"""A Deployment that lives in memory: pods, processes, logs and a timeline the test sets by hand.

It starts nothing. Rolling updates follow the local platform's controller step
(`rolling_update_step`), one step each time the pods are listed, with pods becoming ready
as soon as the test (or ``auto_ready``) says so.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path

from ftlib.errors import TargetError
from ftlib.platform.base import Deployment, PodInfo, ProcessInfo, Timeline
from ftlib.platform.local.deployment import rolling_update_step
from ftlib.scenario import ScenarioContext
from ftlib.spec import get_deployment_spec

_names = itertools.count(1)


class FakeDeployment(Deployment):
    def __init__(self, spec=None, auto_ready: int | None = None, rolls: bool = True):
        self.spec = spec or get_deployment_spec("mocker", "disagg")
        self.timeline = Timeline()
        self.auto_ready = auto_ready  # how many new pods of a rollout ever get ready (None: all)
        self.rolls = rolls  # False: update_service changes nothing (a broken platform)
        self.revision: dict[str, int] = {name: 1 for name in self.spec.services}
        self.updates: list[tuple[str, dict]] = []
        self.signals: list[tuple[str, int, str]] = []
        self.state: dict[int, str] = {}  # pid -> ps state, changed by signals unless frozen_state
        self.stuck_state: str | None = None  # a state SIGSTOP/SIGCONT cannot change (e.g. "S")
        self.process_table: dict[str, list[ProcessInfo]] = {}
        self.log_text: dict[tuple[str, bool], str] = {}
        self._pods: dict[str, PodInfo] = {}
        self.ready = True
        for service in self.spec.services.values():
            for _ in range(service.replicas):
                self.add_pod(service.name, ready=True)

    # -- test helpers ---------------------------------------------------------------------
    def add_pod(self, service: str, ready: bool = True, name: str | None = None) -> PodInfo:
        name = name or f"{service.lower()}-{next(_names)}"
        pod = PodInfo(name, service, ready, 0, "Running", time.time_ns(), revision=str(self.revision[service]))
        self._pods[name] = pod
        pid = 1000 + len(self._pods)
        self.process_table[name] = [ProcessInfo(pid, f"python3 -m dynamo.mocker --{service}", True, "S")]
        self.state[pid] = "S"
        return pod

    def remove_pod(self, name: str) -> None:
        self._pods[name] = replace(self._pods[name], deleted=True, ready=False, phase="Deleted")
        self.timeline.add("pod_deleted", name, self._pods[name].service)

    # -- Deployment -----------------------------------------------------------------------
    @property
    def frontend_url(self) -> str:
        return "http://127.0.0.1:1"

    def is_ready(self) -> bool:
        return self.ready

    def wait_ready(self, timeout: float) -> float:
        return 0.0

    def pods(self, service=None, include_deleted=False):
        for name in list(self.revision):
            self._roll(name)
        return sorted((p for p in self._pods.values() if (service is None or p.service == service)
                       and (include_deleted or not p.deleted)), key=lambda p: p.name)

    def _roll(self, service: str) -> None:
        live = [p for p in self._pods.values() if p.service == service and not p.deleted]
        old = [p for p in live if p.revision != str(self.revision[service])]
        if not old:
            return
        new = [p for p in live if p not in old]
        for pod in new:  # pods created at the last listing are ready at this one
            if not pod.ready and (self.auto_ready is None or self.auto_ready > 0):
                self._pods[pod.name] = replace(pod, ready=True)
                self.auto_ready = None if self.auto_ready is None else self.auto_ready - 1
        new = [self._pods[p.name] for p in new]
        create, delete = rolling_update_step(self.spec.get_service(service).replicas, [p.ready for p in new],
                                             [(p.name, p.ready) for p in old])
        for _ in range(create):
            self.add_pod(service, ready=False)
        for name in delete:
            self.remove_pod(name)
        self.ready = not [p for p in self._pods.values() if p.service == service and not p.deleted
                          and p.revision != str(self.revision[service])]

    def update_service(self, service, env):
        self.updates.append((service, dict(env)))
        if self.rolls:
            self.revision[service] += 1
            self.ready = False
        return str(self.revision[service])

    def delete_pod(self, pod, force=True):
        self.remove_pod(pod)

    def processes(self, pod):
        if pod not in self._pods or self._pods[pod].deleted:
            return []
        return [replace(p, state=self.state.get(p.pid, "?")) for p in self.process_table.get(pod, [])]

    def signal_process(self, pod, pid, signal_name):
        if pid not in {p.pid for p in self.processes(pod)}:
            raise TargetError(f"process {pid} is not running in pod {pod!r}")
        self.signals.append((pod, pid, signal_name))
        if self.stuck_state is not None:
            self.state[pid] = self.stuck_state
        elif signal_name == "SIGSTOP":
            self.state[pid] = "T"
        elif signal_name == "SIGCONT":
            self.state[pid] = "S"

    def logs(self, pod, previous=False):
        if pod not in self._pods:
            raise TargetError(f"no pod {pod!r}")
        return self.log_text.get((pod, previous), "")

    def metrics(self, pod):
        return None

    def describe_pod(self, pod):
        return {"metadata": {"name": pod}}

    def collect_evidence(self, directory: Path) -> None:
        pass

    def teardown(self) -> None:
        pass


def context_with(deployment: FakeDeployment, output_dir: Path) -> ScenarioContext:
    """A scenario context already deployed on ``deployment`` (nothing to apply)."""
    return ScenarioContext(deployment.spec, platform=None, output_dir=output_dir, deployment=deployment)
