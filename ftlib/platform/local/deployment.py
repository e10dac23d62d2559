"""The local platform's deployment: pods as process groups kept by a supervisor thread with the
semantics of a Kubernetes ReplicaSet and kubelet (replica count, container restarts, readiness).
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import psutil
import yaml

from ftlib import evidence
from ftlib.errors import PlatformError, TargetError
from ftlib.platform.base import Deployment, PodInfo, ProcessInfo, Timeline
from ftlib.platform.local.command import frontend_command, worker_command
from ftlib.platform.local.netns import PodLauncher
from ftlib.platform.local.pod import LocalPod
from ftlib.platform.local.proxy import ServiceProxy, connect
from ftlib.platform.local.resources import ProcessSampler
from ftlib.process import spawn
from ftlib.spec import DeploymentSpec, ServiceSpec

TICK_SECONDS = 0.2
PROBE_TIMEOUT = 0.5
GRACE_SECONDS = 30.0  # terminationGracePeriodSeconds of a graceful delete
TEARDOWN_GRACE_SECONDS = 5.0  # teardown: SIGTERM every pod, SIGKILL what still runs after this
CRASH_LOOP_RESTARTS = 3  # restarts without becoming ready that fail wait_ready (CrashLoopBackOff)
LOG_TAIL_LINES = 8
log = logging.getLogger("ftlib.platform.local")
MAX_SURGE = 1  # a rolling update runs at most this many pods above the replica count
_LIVE: "weakref.WeakSet[LocalDeployment]" = weakref.WeakSet()


def port_range() -> tuple[int, int]:
    """The loopback ports deployments pick from: 20000-32767, or ``FT_PORT_RANGE`` (``low-high``),
    which ``ftlib.shard`` gives each worker process so parallel scenarios never race for a port."""
    text = os.environ.get("FT_PORT_RANGE", "")
    match = re.fullmatch(r"(\d+)-(\d+)", text)
    if not text:
        return 20000, 32767
    if match is None or not 1024 <= int(match.group(1)) < int(match.group(2)) <= 32767:
        raise PlatformError(f"FT_PORT_RANGE must be 'low-high' within 1024-32767, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def free_port(make_socket: Callable[[], socket.socket] = socket.socket) -> int:
    """A free loopback port below the kernel's ephemeral range (see `port_range`).

    Dynamo 1.6.1 reads ``DYN_SYSTEM_PORT`` as a signed 16-bit number, so ports above 32767 make
    a worker exit at start-up; picking from 20000-32767 also keeps clear of ephemeral ports.
    """
    low, high = port_range()
    for _ in range(200):
        port = random.randint(low, high)
        with make_socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise PlatformError(f"found no free loopback port between {low} and {high}")


class _PodConnection(http.client.HTTPConnection):
    """HTTP to a pod's port on loopback, over a socket made in the pods' network."""

    def __init__(self, port: int, make_socket: Callable[[], socket.socket], timeout: float):
        super().__init__("127.0.0.1", port, timeout=timeout)
        self._make_socket = make_socket

    def connect(self) -> None:
        self.sock = connect(self._make_socket, self.port, self.timeout)


def http_get(port: int, path: str, make_socket: Callable[[], socket.socket] = socket.socket,
             timeout: float = PROBE_TIMEOUT) -> tuple[int, str]:
    """GET ``http://127.0.0.1:<port><path>``: (status, body), or (0, "") when it does not answer."""
    connection = _PodConnection(port, make_socket, timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    except Exception:  # noqa: BLE001 - refused, reset, timeout: all mean "not ready"
        return 0, ""
    finally:
        connection.close()


Command = Callable[[ServiceSpec, int], list[str]]  # (service, port) -> argv of a pod's container


class LocalDeployment(Deployment):
    """``command``: what a pod of a service runs given its port (default: the frontend, or the
    mocker for a worker, see `ftlib.platform.local.command`); tests give small stand-ins.
    ``network_isolation``: auto, on or off (default ``FT_NETNS``, see `ftlib.platform.local.netns`).

    If the supervisor thread dies, every call that acts or waits (`wait_ready`, `is_ready`, `pods`
    of live pods, `delete_pod`, `update_service`, `processes`, `signal_process`) raises its error at
    once; reading the record (logs, descriptions, pods with ``include_deleted``, evidence) and
    `teardown` keep working."""

    def __init__(self, spec: DeploymentSpec, output_dir: Path, model_card: Path, command: Command | None = None,
                 network_isolation: str | None = None):
        self.spec = spec.copy()
        self.output_dir = Path(output_dir)
        self.model_card = model_card
        self.timeline = Timeline()
        self._launcher = PodLauncher(spec.name, spawn, network_isolation)  # first: it may refuse the setting
        if self._launcher.isolated:
            log.info("pods of %s run in a private network namespace holding only loopback", spec.name)
        self.runtime_dir = Path(tempfile.mkdtemp(prefix=f"dynamo-ft-{spec.name}-"))
        self._pods: list[LocalPod] = []
        # Rolling updates: each service's current pod template revision, the revision and
        # environment each pod was created with (a restart keeps them, as in Kubernetes), and
        # the services whose rollout has not completed yet.
        self._revisions: dict[str, int] = {name: 1 for name in self.spec.services}
        self._pod_templates: dict[str, tuple[int, dict[str, str]]] = {}
        self._rolling: set[str] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ready = False
        self._torn_down = False
        self._failure = ""  # the supervisor's error and traceback summary, once it died
        self._command = command or self._dynamo_command
        self._probe_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        self._proxy = ServiceProxy(self._ready_frontend_ports, connect_socket=self._launcher.socket)
        self._sampler = ProcessSampler()
        self._supervisor = threading.Thread(target=self._run, name=f"supervisor-{spec.name}", daemon=True)
        _LIVE.add(self)
        self._supervisor.start()

    # -- public API -----------------------------------------------------------------------
    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self._proxy.port}"

    @property
    def network_isolated(self) -> bool:
        """The pods run in a private network namespace holding only loopback."""
        return self._launcher.isolated

    def is_ready(self) -> bool:
        self._check_supervisor()
        return self._ready

    def wait_ready(self, timeout: float) -> float:
        """Block until ready. Fails at once when the supervisor died or a pod is in a crash loop
        (`CRASH_LOOP_RESTARTS` restarts without becoming ready), else after ``timeout``."""
        start = time.monotonic()
        while not self.is_ready():
            if self._torn_down:
                raise PlatformError(f"deployment {self.spec.name!r} was torn down while waiting for it")
            looping = self._crash_looping()
            if looping:
                raise PlatformError(f"deployment {self.spec.name!r} will not become ready: pod {looping} restarted "
                                    f"{CRASH_LOOP_RESTARTS} times without becoming ready (CrashLoopBackOff) after "
                                    f"{time.monotonic() - start:.1f} s:\n" + self._not_ready_report())
            if time.monotonic() - start > timeout:
                raise PlatformError(f"deployment {self.spec.name!r} was not ready within {timeout:g} s:\n"
                                    + self._not_ready_report())
            self.timeline.wait_for_change(TICK_SECONDS)
        return time.monotonic() - start

    def pods(self, service: str | None = None, include_deleted: bool = False) -> list[PodInfo]:
        if not include_deleted:
            self._check_supervisor()
        with self._lock:
            chosen = [p for p in self._pods if (service is None or p.service == service)
                      and (include_deleted or not p.deleted)]
            return sorted((self._info(p) for p in chosen), key=lambda info: info.name)

    def delete_pod(self, pod: str, force: bool = True, reason: str = "") -> None:
        """Force: SIGKILL now. Graceful: SIGTERM, SIGKILL after the grace period, in the
        background (the pod is gone from `pods` at once, its processes drain meanwhile)."""
        self._check_supervisor()
        target = self._pod(pod)
        with self._lock:
            if target.deleted:
                raise TargetError(f"pod {pod!r} is already deleted")
            target.deleted = True
            target.deleted_ns = time.time_ns()
            target.ready = False
        detail = ("force" if force else "graceful") + (f", {reason}" if reason else "")
        self.timeline.add("pod_deleted", target.name, target.service, detail)
        self._update_readiness()
        if force:
            target.stop(grace_seconds=0)
        else:
            threading.Thread(target=target.stop, args=(GRACE_SECONDS,), name=f"terminate-{target.name}",
                             daemon=True).start()

    def update_service(self, service: str, env: dict[str, str]) -> str:
        self._check_supervisor()
        target = self.spec.get_service(service)
        with self._lock:
            if all(target.envs.get(name) == str(value) for name, value in env.items()):
                return str(self._revisions[service])  # an unchanged template rolls nothing out
            for name, value in env.items():
                target.set_env_var(name, value)
            self._revisions[service] += 1
            revision = self._revisions[service]
            self._rolling.add(service)
        changes = ", ".join(f"{name}={value}" for name, value in env.items())
        self.timeline.add("rollout_started", service=service, detail=f"revision {revision}: {changes}")
        self._update_readiness()
        return str(revision)

    def processes(self, pod: str) -> list[ProcessInfo]:
        self._check_supervisor()
        target = self._pod(pod)
        process = target.process
        if process is None or process.poll() is not None:
            return []
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if os.getpgid(proc.info["pid"]) != process.pid:
                    continue
            except (ProcessLookupError, PermissionError):
                continue
            is_main = proc.info["pid"] == process.pid
            command = target.declared_command if is_main else " ".join(proc.info["cmdline"] or [])
            found.append(ProcessInfo(proc.info["pid"], command, is_main, _STATE.get(proc.info["status"], "?")))
        return sorted(found, key=lambda p: p.pid)

    def sample_resources(self) -> list:
        """psutil over each live pod's process group (see `ProcessSampler`)."""
        return self._sampler.sample(self)

    def signal_process(self, pod: str, pid: int, signal_name: str) -> None:
        if pid not in {p.pid for p in self.processes(pod)}:
            raise TargetError(f"process {pid} is not running in pod {pod!r}")
        process = self._pod(pod).process  # through a pidfd, only while pid is still in the pod's group
        if process is None or not process.signal_member(pid, getattr(signal, signal_name)):
            raise TargetError(f"process {pid} is no longer running in pod {pod!r}")

    def logs(self, pod: str, previous: bool = False) -> str:
        target = self._pod(pod, include_deleted=True)
        path = target.previous_log_path if previous else target.log_path
        return path.read_text(errors="replace") if path.exists() else ""

    def metrics(self, pod: str) -> str | None:
        target = self._pod(pod, include_deleted=True)
        if not target.alive or not target.port:
            return None
        status, body = http_get(target.port, "/metrics", self._launcher.socket, timeout=2)
        return body if status == 200 else None

    def describe_pod(self, pod: str) -> dict:
        target = self._pod(pod, include_deleted=True)
        service = self.spec.get_service(target.service)
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": target.name, "creationTimestamp": _iso(target.created_ns),
                         "deletionTimestamp": _iso(target.deleted_ns) if target.deleted_ns else None,
                         "labels": {"nvidia.com/dynamo-graph-deployment-name": self.spec.name,
                                    "nvidia.com/dynamo-component": target.service,
                                    "nvidia.com/dynamo-component-type": service.component_type,
                                    "dynamo-ft/revision": str(self._revision_of(target))}},
            "spec": {"containers": [{"name": "main", "declaredCommand": service.declared_command_line,
                                     "localCommand": target.argv}]},
            "status": {"phase": target.phase, "ready": target.ready,
                       "containerStatuses": [{"name": "main", "restartCount": target.restart_count,
                                              "pid": target.process.pid if target.process else None,
                                              "startedAt": _iso(target.container_started_ns),
                                              "previousExitCodes": target.exit_codes,
                                              "port": target.port}]},
        }

    def collect_evidence(self, directory: Path) -> None:
        directory = Path(directory)
        with self._lock:
            pods = list(self._pods)
        for pod in pods:
            service_dir = directory / pod.service
            description = yaml.safe_dump(self.describe_pod(pod.name), sort_keys=False)
            evidence.write_text(pod.evidence_file("description", service_dir), description)
            metrics = self.metrics(pod.name)
            if metrics is not None:
                evidence.write_text(pod.evidence_file("metrics", service_dir), metrics)
            if pod.log_dir != service_dir and pod.log_path.exists():
                shutil.copy2(pod.log_path, evidence.inside(pod.evidence_file("log", service_dir)))

    def teardown(self) -> None:
        """Stop the supervisor and the proxy, SIGTERM every pod at once, SIGKILL what still runs
        after `TEARDOWN_GRACE_SECONDS`, end the pod launcher and remove the runtime folder."""
        if self._torn_down:
            return
        self._torn_down = True
        started = time.monotonic()
        self._stop.set()
        self._supervisor.join(timeout=10)
        self._proxy.close()
        with self._lock:
            pods = [p for p in self._pods if p.alive]
        for pod in pods:  # SIGTERM everyone first, then wait, so the grace periods overlap
            pod.terminate()
        deadline = time.monotonic() + TEARDOWN_GRACE_SECONDS
        killed = [pod.name for pod in pods if not pod.stop(grace_seconds=max(0.0, deadline - time.monotonic()))]
        self._launcher.close()
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
        try:
            evidence.remove_tree(self.runtime_dir, root=tempfile.gettempdir())
        except OSError as error:  # teardown goes on; ./run clean removes what a run left behind
            log.warning("removing the runtime folder %s of deployment %s: %s", self.runtime_dir, self.spec.name, error)
        _LIVE.discard(self)
        log.info("deployment %s torn down in %.1f s: %d pods stopped by SIGTERM%s", self.spec.name,
                 time.monotonic() - started, len(pods) - len(killed),
                 f", SIGKILL after {TEARDOWN_GRACE_SECONDS:g} s: {', '.join(killed)}" if killed else "")

    # -- supervisor -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._reconcile()
                self._probe()
                self._stop.wait(TICK_SECONDS)
        except BaseException as error:  # noqa: BLE001 - surfaced through the timeline and every call
            self._failure = f"{error!r}\n" + "".join(traceback.format_tb(error.__traceback__)[-4:]).rstrip()
            self.timeline.add("supervisor_failed", detail=repr(error))
            log.error("the supervisor of deployment %s died: %s", self.spec.name, self._failure)

    def _reconcile(self) -> None:
        for service in self.spec.services.values():
            with self._lock:
                live = [p for p in self._pods if p.service == service.name and not p.deleted]
            outdated = [p for p in live if self._revision_of(p) != self._revisions[service.name]]
            if outdated:
                self._roll(service, live, outdated)
            else:
                for _ in range(service.replicas - len(live)):
                    self._create_pod(service)
                for pod in live[service.replicas:]:
                    self.delete_pod(pod.name, force=False)
                if service.name in self._rolling and len(live) == service.replicas and all(p.ready for p in live):
                    self._rolling.discard(service.name)
                    self.timeline.add("rollout_complete", service=service.name,
                                      detail=f"revision {self._revisions[service.name]}")
            for pod in live:
                if pod.process is not None and pod.process.poll() is not None and not pod.deleted:
                    code = pod.retire_container()
                    self.timeline.add("container_died", pod.name, pod.service, f"exit code {code}")
                    self._update_readiness()
                if pod.process is None and not pod.deleted and time.monotonic() >= pod.next_start_at:
                    self._start_container(pod, service)
                    if pod.restart_count:
                        self.timeline.add("container_restarted", pod.name, pod.service, f"restart {pod.restart_count}")

    def _roll(self, service: ServiceSpec, live: list[LocalPod], outdated: list[LocalPod]) -> None:
        create, delete = rolling_update_step(service.replicas, [p.ready for p in live if p not in outdated],
                                             [(p.name, p.ready) for p in outdated])
        for _ in range(create):
            self._create_pod(service)
        revision = self._revisions[service.name]
        for name in delete:
            self.delete_pod(name, force=False, reason=f"rolling update to revision {revision}")

    def _revision_of(self, pod: LocalPod) -> int:
        return self._pod_templates.get(pod.name, (1, {}))[0]

    def _create_pod(self, service: ServiceSpec) -> None:
        name = f"{self.spec.name}-{service.name.lower()}-{secrets.token_hex(3)[:5]}"
        pod = LocalPod(name=name, service=service.name, log_dir=self.output_dir / service.name)
        with self._lock:
            self._pod_templates[name] = (self._revisions[service.name], dict(service.envs))
            self._pods.append(pod)
        self.timeline.add("pod_created", pod.name, pod.service)

    def _start_container(self, pod: LocalPod, service: ServiceSpec) -> None:
        pod.port = free_port(self._launcher.socket)
        env = self._environment(pod, service)
        if not service.is_frontend:
            env.update(DYN_SYSTEM_HOST="127.0.0.1", DYN_SYSTEM_PORT=str(pod.port))
            env.setdefault("DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", '["generate"]')
        pod.declared_command = " ".join(service.declared_command_line)
        pod.start(self._command(service, pod.port), env, self._launcher.spawn)

    def _dynamo_command(self, service: ServiceSpec, port: int) -> list[str]:
        if service.is_frontend:
            return frontend_command(service, port).argv
        return worker_command(self.spec, service, self.model_card).argv

    def _environment(self, pod: LocalPod, service: ServiceSpec) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DYN_")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
                   DYN_FILE_KV=str(self.runtime_dir / "kv"), DYN_TCP_RPC_HOST="127.0.0.1",
                   DYN_TCP_RESPONSE_STREAM_HOST="127.0.0.1", DYN_EVENT_PLANE_HOST="127.0.0.1",
                   POD_NAME=pod.name, POD_NAMESPACE="local")
        env.update(self.spec.global_envs)
        env.update(self._pod_templates.get(pod.name, (0, service.envs))[1])
        return env

    def _probe(self) -> None:
        with self._lock:
            pods = [p for p in self._pods if not p.deleted]
        results = list(self._probe_pool.map(self._probe_pod, pods))
        for pod, ready in zip(pods, results):
            if ready != pod.ready and not pod.deleted:
                pod.ready = ready
                if ready:
                    pod.restarts_since_ready = 0
                self.timeline.add("pod_ready" if ready else "pod_unready", pod.name, pod.service)
        self._update_readiness()

    def _update_readiness(self) -> None:
        with self._lock:
            pods = [p for p in self._pods if not p.deleted]
            ready = all(
                len(live := [p for p in pods if p.service == s.name]) == s.replicas
                and all(p.ready and self._revision_of(p) == self._revisions[s.name] for p in live)
                for s in self.spec.services.values()
            )
            changed, self._ready = ready != self._ready, ready
        if changed:
            self._ready = ready
            self.timeline.add("deployment_ready" if ready else "deployment_unready")

    def _probe_pod(self, pod: LocalPod) -> bool:
        if not pod.alive or not pod.port:
            return False
        if pod.service == self.spec.frontend.name:
            status, body = http_get(pod.port, "/v1/models", self._launcher.socket)
            models = _json(body).get("data") if status == 200 else None
            return isinstance(models, list) and any(m.get("id") == self.spec.model_name for m in models
                                                    if isinstance(m, dict))
        status, body = http_get(pod.port, "/health", self._launcher.socket)
        return status == 200 and _json(body).get("status") == "ready"

    # -- helpers --------------------------------------------------------------------------
    def _ready_frontend_ports(self) -> list[int]:
        with self._lock:
            return [p.port for p in self._pods if p.service == self.spec.frontend.name and p.ready and not p.deleted]

    def _pod(self, name: str, include_deleted: bool = False) -> LocalPod:
        with self._lock:
            for pod in self._pods:
                if pod.name == name and (include_deleted or not pod.deleted):
                    return pod
            known = ", ".join(p.name for p in self._pods if not p.deleted)
        raise TargetError(f"no pod {name!r} in deployment {self.spec.name!r}; pods: {known}")

    def _info(self, pod: LocalPod) -> PodInfo:
        return PodInfo(pod.name, pod.service, pod.ready, pod.restart_count, pod.phase, pod.created_ns, pod.deleted,
                       str(self._revision_of(pod)))

    def _check_supervisor(self) -> None:
        """Raise the supervisor's error if it died: nothing keeps the pods any more."""
        if self._failure:
            raise PlatformError(f"the supervisor of deployment {self.spec.name!r} died; pods are no longer kept, "
                                f"restarted or probed:\n{self._failure}")

    def _crash_looping(self) -> str:
        """The first pod that restarted `CRASH_LOOP_RESTARTS` times since it was last ready, or ""."""
        with self._lock:
            return next((p.name for p in self._pods if not p.deleted and p.restarts_since_ready >= CRASH_LOOP_RESTARTS), "")

    def _not_ready_report(self) -> str:
        """Each unready pod: phase, restarts, exit codes, and the last lines of its current log and,
        after a restart, of the previous container (where the cause usually is)."""
        lines = []
        with self._lock:
            live = [p for p in self._pods if not p.deleted]
        for pod in sorted((p for p in live if not p.ready), key=lambda p: p.name):
            codes = f", exit codes {pod.exit_codes}" if pod.exit_codes else ""
            lines.append(f"  pod {pod.name} ({pod.service}) {pod.phase}, restarts {pod.restart_count}{codes}")
            for label, path in (("previous container", pod.previous_log_path), ("current container", pod.log_path)):
                text = path.read_text(errors="replace") if path.exists() else ""
                if text.strip():
                    lines.append(f"    last lines of the {label}'s log ({path.name}):")
                    lines += [f"    | {line}" for line in text.splitlines()[-LOG_TAIL_LINES:]]
        for service in self.spec.services.values():
            count = sum(p.service == service.name for p in live)
            if count != service.replicas:
                lines.append(f"  service {service.name}: {count} of {service.replicas} pods")
        return "\n".join(lines) or "  (every pod reports ready; the deployment flipped back)"


_STATE = {psutil.STATUS_RUNNING: "R", psutil.STATUS_SLEEPING: "S", psutil.STATUS_DISK_SLEEP: "D",
          psutil.STATUS_STOPPED: "T", psutil.STATUS_TRACING_STOP: "t", psutil.STATUS_ZOMBIE: "Z",
          psutil.STATUS_IDLE: "I", psutil.STATUS_DEAD: "X"}


def rolling_update_step(replicas: int, new_ready: list[bool], old: list[tuple[str, bool]],
                        max_surge: int = MAX_SURGE) -> tuple[int, list[str]]:
    """One step of a rolling update with ``maxUnavailable: 0``, as a Deployment controller takes
    it: how many pods of the new revision to create (never more than ``replicas + max_surge``
    pods in all) and which old pods to delete (unready ones first, and only while the ready pods
    left stay at least ``replicas``). ``new_ready``: readiness of each new pod; ``old``: (name,
    ready) of each old one."""
    total = len(new_ready) + len(old)
    create = max(0, min(replicas - len(new_ready), replicas + max_surge - total))
    new_unavailable = sum(not ready for ready in new_ready) + create
    removable = total + create - replicas - new_unavailable
    ordered = sorted(old, key=lambda pod: (pod[1], pod[0]))
    return create, [name for name, _ in ordered[:max(0, removable)]]


def _json(body: str) -> dict:
    """A health endpoint's JSON object, or {} (so only a real ``"status": "ready"`` counts)."""
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _iso(ns: int | None) -> str | None:
    if not ns:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 1_000_000_000 // 1_000_000:03d}Z"


@atexit.register
def _teardown_leftovers() -> None:
    for deployment in list(_LIVE):
        deployment.teardown()
