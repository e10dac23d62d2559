"""What every platform offers: apply a spec, watch readiness, find pods and processes, inject
faults, read logs and metrics, collect evidence and tear down.

`PodInfo`, `ProcessInfo` and `TimelineEntry` are plain records that events, checks and reports
read; they never hold live handles.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ftlib.spec import DeploymentSpec


@dataclass(frozen=True)
class PodInfo:
    """A pod as the platform sees it at one moment."""

    name: str
    service: str
    ready: bool
    restart_count: int
    phase: str  # Pending, Running, Terminating, Deleted
    created_ns: int
    deleted: bool = False
    revision: str = ""  # the pod template revision it runs ("" if the platform cannot tell)


@dataclass(frozen=True)
class ProcessInfo:
    """A process inside a pod. ``command`` is the command line as the deployment declares it."""

    pid: int
    command: str
    is_main: bool
    state: str = ""  # ps state letter: R, S, T (stopped), Z…


@dataclass(frozen=True)
class ResourceSample:
    """One pod at one moment: CPU % (100 = one core) over the last interval, and memory in use
    (resident memory of its processes locally; the working set on kubernetes), summed per pod."""

    ts_ns: int
    pod: str
    service: str
    cpu_percent: float
    rss_bytes: int
    processes: int  # processes measured (local) or containers reported (kubernetes)


@dataclass(frozen=True)
class TimelineEntry:
    """Something the platform saw happen, on the wall clock aiperf uses (ns since the epoch)."""

    ns: int
    kind: str  # pod_created, pod_ready, pod_unready, container_died, container_restarted,
    #            pod_deleted, deployment_ready, deployment_unready, rollout_started,
    #            rollout_complete
    pod: str = ""
    service: str = ""
    detail: str = ""


@dataclass
class Timeline:
    """An append-only, thread-safe record of what the platform saw."""

    entries: list[TimelineEntry] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _changed: threading.Condition | None = field(default=None, repr=False)
    # called with each new entry, outside the lock (the scenario writes timeline.json as it grows)
    listeners: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def add(self, kind: str, pod: str = "", service: str = "", detail: str = "") -> TimelineEntry:
        entry = TimelineEntry(time.time_ns(), kind, pod, service, detail)
        with self._changed:
            self.entries.append(entry)
            self._changed.notify_all()
        for listener in list(self.listeners):
            listener(entry)
        return entry

    def since(self, ns: int) -> list[TimelineEntry]:
        with self._lock:
            return [e for e in self.entries if e.ns >= ns]

    def render(self, since_ns: int = 0) -> str:
        """The entries since ``since_ns``, one per line, for error messages."""
        lines = [f"  {e.kind} {e.service} {e.pod} {e.detail}".rstrip() for e in self.since(since_ns)]
        return "\n".join(lines) or "  (nothing)"

    def wait_for_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def as_dicts(self) -> list[dict]:
        with self._lock:
            return [asdict(e) for e in self.entries]


DISRUPTIONS = ("deployment_unready", "pod_deleted", "container_died", "pod_unready")
INFLIGHT_GAUGE = "dynamo_frontend_inflight_requests"


def gauge_sum(text: str, name: str) -> float:
    """The sum of every series of metric ``name`` in Prometheus text (0 if there is none)."""
    total = 0.0
    for line in text.splitlines():
        rest = line[len(name):] if line.startswith(name) else ""
        if rest[:1] in ("{", " "):
            try:
                total += float((rest.rsplit("}", 1)[-1] if rest[0] == "{" else rest).split()[0])
            except (ValueError, IndexError):
                continue
    return total


class Deployment(ABC):
    """A spec applied on a platform: the handle events and evidence collection work with."""

    spec: DeploymentSpec
    timeline: Timeline

    @property
    @abstractmethod
    def frontend_url(self) -> str:
        """Base URL (``http://host:port``) of the frontend service."""

    @abstractmethod
    def is_ready(self) -> bool:
        """Every replica of every service is up and ready."""

    @abstractmethod
    def wait_ready(self, timeout: float) -> float:
        """Block until ready; return the seconds waited. Raise `PlatformError` with evidence."""

    @abstractmethod
    def pods(self, service: str | None = None, include_deleted: bool = False) -> list[PodInfo]:
        """Pods of ``service`` (exact service name) or of every service, sorted by name."""

    @abstractmethod
    def delete_pod(self, pod: str, force: bool = True) -> None:
        """Delete a pod (force: no grace period). Its controller creates a replacement."""

    @abstractmethod
    def update_service(self, service: str, env: dict[str, str]) -> str:
        """Set environment variables of one service's pod template and start a rolling update.

        The platform replaces the service's pods one at a time as a Kubernetes Deployment with
        ``maxSurge: 1, maxUnavailable: 0`` does: a new pod is ready before an old one is deleted
        gracefully. Returns at once with the new revision; the rollout is observed through
        `pods` (old names gone, new names ready), the timeline (``rollout_started``,
        ``rollout_complete``) and `is_ready` (false until the rollout is complete).
        """

    @abstractmethod
    def processes(self, pod: str) -> list[ProcessInfo]:
        """Processes running in the pod."""

    @abstractmethod
    def signal_process(self, pod: str, pid: int, signal_name: str) -> None:
        """Send ``signal_name`` (``SIGKILL``, ``SIGTERM``…) to one process of the pod."""

    @abstractmethod
    def logs(self, pod: str, previous: bool = False) -> str:
        """The pod's log (of the current container, or of the terminated ones)."""

    @abstractmethod
    def metrics(self, pod: str) -> str | None:
        """The pod's Prometheus metrics text, or None if it does not answer."""

    @abstractmethod
    def describe_pod(self, pod: str) -> dict:
        """A manifest-like description of the pod, for evidence."""

    @abstractmethod
    def collect_evidence(self, directory: Path) -> None:
        """Write logs, previous logs, metrics and descriptions of every pod under ``directory``."""

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything this deployment created. Safe to call more than once."""

    def inflight_requests(self) -> int | None:
        """Requests the frontend is serving now: ``dynamo_frontend_inflight_requests`` summed over
        every series and every frontend pod, read through `pods` and `metrics`. None when no
        frontend pod answered; 0 when one answered without the gauge (no request seen yet)."""
        total, answered = 0, False
        for pod in self.pods(self.spec.frontend.name):
            text = self.metrics(pod.name)
            if text is not None:
                answered = True
                total += int(gauge_sum(text, INFLIGHT_GAUGE))
        return total if answered else None

    def sample_resources(self) -> list[ResourceSample] | None:
        """CPU and memory of every live pod now (pods without a baseline yet are left out), or
        None when this platform has no resource figures at all."""
        return None

    def load_runner(self, name: str, config, client_type: str, model: str, tokenizer: str, output_dir: Path):
        """A load runner that runs where this platform's pods run (e.g. a Kubernetes Job), or
        None: the scenario then runs the load on this machine against `frontend_url`."""
        return None


class Platform(ABC):
    """Where deployments run."""

    name: str

    def tokenizer_for(self, spec: DeploymentSpec) -> str:
        """The tokenizer a load against ``spec`` uses: a name or a path valid where the load runs."""
        return spec.model_name

    def preflight(self) -> list[str]:
        """What every scenario of a run will need from the platform, checked once before the first
        one (behave's ``before_all``; never in a dry run): raise one `PlatformError` naming what is
        missing and what to do. Returns notes for the log. Creates nothing."""
        return []

    @abstractmethod
    def deploy(self, spec: DeploymentSpec, output_dir: Path) -> Deployment:
        """Apply ``spec``; evidence (logs…) goes under ``output_dir``. Does not wait for readiness."""
