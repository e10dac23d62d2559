"""The node agent's pods: their specs as it reads them, their containers over time (instances,
restarts with the kubelet's back-off, probes, graceful stops) and the status a kubelet writes.

No API call is made here: `PodRuntime` is driven by `PodRuntime.tick` (the agent calls it every
`TICK_SECONDS` with ``time.monotonic()``), by `PodRuntime.exec` and by `PodRuntime.terminate`;
it says what to write through `pod_status` and `PodRuntime.events`, and the agent
(`ftlib.controlplane.node`) does the API calls. Its containers' files are the folders the agent
gives it (`PodRuntime.volumes_bound`) and folders it makes under ``folder``
(`ftlib.controlplane.node_files`).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ftlib.controlplane import node_files, node_programs, node_processes as procs
from ftlib.controlplane.node_files import ContainerFiles, Mount
from ftlib.controlplane.node_processes import ExecAnswer, PidNamespace, Process
from ftlib.controlplane.node_programs import ExecContext, ProcessIO

START_SECONDS = 0.2       # creating and starting a container
RESTART_SECONDS = 0.5     # from a container's death to the kubelet starting it again (PLEG relist, sync)
BACKOFF_INITIAL = 10.0    # the kubelet's crash-loop back-off: 10 s, doubled per restart, at most 300 s
BACKOFF_MAX = 300.0
DEFAULT_GRACE = 30
ENGINE_READY_SECONDS = 0.3  # an engine logs "ready" this long after it started
RUNTIME = "simulated"      # the container runtime's name, in containerIDs and the Node's nodeInfo


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the spec, as the agent reads it -------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    initial_delay: float = 0.0
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3
    grace: int | None = None        # the probe's own terminationGracePeriodSeconds
    always_fails: bool = False      # an exec probe running ``false``

    @classmethod
    def parse(cls, raw: dict | None) -> "Probe | None":
        if not raw:
            return None
        command = ((raw.get("exec") or {}).get("command") or [])
        return cls(float(raw.get("initialDelaySeconds") or 0), float(raw.get("periodSeconds") or 10),
                   int(raw.get("successThreshold") or 1), int(raw.get("failureThreshold") or 3),
                   raw.get("terminationGracePeriodSeconds"),
                   bool(command) and procs.basename(command[0]) == "false")


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    argv: list[str]
    env: dict[str, str]
    mounts: tuple[tuple[str, str, bool], ...]   # (volume, mountPath, readOnly)
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None
    pre_stop_seconds: float = 0.0
    stop_signal: int = procs.SIGTERM
    sidecar: bool = False           # an init container with restartPolicy Always


@dataclass(frozen=True)
class VolumeSpec:
    """A volume of the pod: its kind (``persistentVolumeClaim``, ``emptyDir``, ``configMap``…),
    the claim of a PVC volume, and whether the pod mounts it read-only."""
    name: str
    kind: str
    claim: str = ""
    read_only: bool = False

    @classmethod
    def parse(cls, raw: dict) -> "VolumeSpec":
        kind = next((k for k in raw if k != "name"), "")
        source = raw.get(kind) if isinstance(raw.get(kind), dict) else {}
        return cls(raw.get("name", ""), kind, source.get("claimName", "") if kind == "persistentVolumeClaim" else "",
                   bool(source.get("readOnly")))


@dataclass(frozen=True)
class PodSpec:
    namespace: str
    name: str
    uid: str
    generation: int
    node: str
    containers: tuple[ContainerSpec, ...]
    init_containers: tuple[ContainerSpec, ...]
    restart_policy: str
    share_pid: bool
    host_network: bool
    grace: int
    claims: tuple[str, ...]
    volumes: tuple[VolumeSpec, ...] = ()


def _env(raw: list[dict] | None, pod: dict) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    fields = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": (pod.get("spec") or {}).get("nodeName", "")}
    env = {}
    for item in raw or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref in fields:
            env[item["name"]] = fields[ref]
    return env


def _pre_stop_seconds(lifecycle: dict | None) -> float:
    pre_stop = (lifecycle or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return float((pre_stop["sleep"] or {}).get("seconds") or 0)
    command = (pre_stop.get("exec") or {}).get("command") or []
    launch = procs.resolve_launch(command, {}, "") if command else None
    if launch and launch.argv and procs.basename(launch.argv[0]) == "sleep":
        return procs.parse_duration(launch.argv[1:]) or 0.0
    return 0.0


def _container(raw: dict, pod: dict, init: bool) -> ContainerSpec:
    image = raw.get("image") or ""
    signal = procs.parse_signal(str(((raw.get("lifecycle") or {}).get("stopSignal") or "SIGTERM")))
    mounts = tuple((m.get("name", ""), m.get("mountPath", ""), bool(m.get("readOnly"))) for m in raw.get("volumeMounts") or [])
    return ContainerSpec(raw["name"], image, procs.container_argv(raw.get("command") or [], raw.get("args") or [], image),
                         _env(raw.get("env"), pod), mounts, Probe.parse(raw.get("readinessProbe")),
                         Probe.parse(raw.get("livenessProbe")), Probe.parse(raw.get("startupProbe")),
                         _pre_stop_seconds(raw.get("lifecycle")), signal or procs.SIGTERM,
                         init and raw.get("restartPolicy") == "Always")


def parse_pod(pod: dict) -> PodSpec:
    """The parts of a Pod (as JSON) the agent acts on."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    volumes = tuple(VolumeSpec.parse(v) for v in spec.get("volumes") or [])
    claims = tuple(v.claim for v in volumes if v.claim)
    grace = spec.get("terminationGracePeriodSeconds")
    return PodSpec(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""), int(meta.get("generation") or 1),
                   spec.get("nodeName", ""), tuple(_container(c, pod, False) for c in spec.get("containers") or []),
                   tuple(_container(c, pod, True) for c in spec.get("initContainers") or []),
                   spec.get("restartPolicy") or "Always", bool(spec.get("shareProcessNamespace")),
                   bool(spec.get("hostNetwork")), DEFAULT_GRACE if grace is None else int(grace), claims, volumes)


def normalize_image(image: str) -> str:
    """An image reference as containerd reports it (``busybox:1.36`` → ``docker.io/library/busybox:1.36``)."""
    name, digest = (image.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def image_id(image: str) -> str:
    """A stable digest reference for ``image`` (no image is pulled: the digest is made up from its name)."""
    reference = normalize_image(image)
    repository = reference.split("@", 1)[0].rsplit(":", 1)[0] if ":" in reference.split("@", 1)[0].rsplit("/", 1)[-1] \
        else reference.split("@", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(reference.encode()).hexdigest()}"


# -- container logs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogLine:
    when: datetime
    stream: str
    text: str


@dataclass
class LogFile:
    """One container instance's log, in the CRI format the kubelet reads (``<RFC3339Nano> stdout F text``).
    With ``tee`` (the log-tee wrapper's file, on the host) every line is also appended there as the
    program wrote it, and the container log shows it as stdout (the wrapper's ``exec >fifo 2>&1``)."""
    path: Path
    tee: Path | None = None

    def write(self, text: str, stream: str = "stdout") -> None:
        when = utc_now()
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        lines = text.splitlines() or [""]
        stream = "stdout" if self.tee is not None else stream
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for line in lines:
                out.write(f"{stamp} {stream} F {line}\n")
        if self.tee is not None:
            try:
                with self.tee.open("a", encoding="utf-8") as copy:
                    copy.write("".join(line + "\n" for line in lines))
            except OSError:
                self.tee = None  # the volume went away: tee ends, the container log goes on

    def lines(self) -> list[LogLine]:
        try:
            raw = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line for line in map(parse_cri_line, raw) if line is not None]


def parse_cri_line(raw: str) -> LogLine | None:
    parts = raw.split(" ", 3)
    if len(parts) < 4:
        return None
    try:
        when = datetime.strptime(parts[0][:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return LogLine(when, parts[1], parts[3])


# -- containers over time ------------------------------------------------------------------------
@dataclass
class Backoff:
    """The kubelet's per-container crash-loop back-off (client-go flowcontrol.Backoff semantics)."""
    duration: float = 0.0
    last_update: float | None = None

    def _expired(self, exited: float) -> bool:
        return self.last_update is None or exited - self.last_update > 2 * BACKOFF_MAX

    def remaining(self, exited: float, now: float) -> float:
        """Seconds the container must still wait after it exited at ``exited``."""
        if self._expired(exited):
            return 0.0
        return max(0.0, self.duration - (now - exited))

    def next(self, exited: float, now: float) -> None:
        self.duration = BACKOFF_INITIAL if self._expired(exited) else min(self.duration * 2, BACKOFF_MAX)
        self.last_update = now


@dataclass
class ProbeState:
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    passed: bool = False


@dataclass
class Instance:
    """One run of a container: its ID, processes, log and, once it ended, how."""
    number: int
    container_id: str
    started: datetime
    started_mono: float
    log: LogFile
    namespace: PidNamespace
    main: Process
    tee: Process | None = None
    files: ContainerFiles | None = None
    finished: datetime | None = None
    finished_mono: float | None = None
    exit_code: int | None = None
    reason: str = ""
    said_ready: bool = False

    def terminated(self) -> dict:
        state = {"exitCode": self.exit_code, "reason": self.reason, "startedAt": rfc3339(self.started),
                 "finishedAt": rfc3339(self.finished or self.started), "containerID": self.container_id}
        signal = self.exit_code - 128 if self.exit_code and self.exit_code > 128 else None
        if signal:
            state["signal"] = signal
        return state


@dataclass
class ContainerRun:
    """One container of the spec: its current, last and earlier instance, restarts, readiness."""
    spec: ContainerSpec
    init: bool = False
    restart_count: int = 0
    current: Instance | None = None
    last: Instance | None = None       # the instance that ended most recently
    earlier: Instance | None = None    # the one before it (the lastState of a container that stays terminated)
    waiting: str = "ContainerCreating"
    waiting_message: str = ""
    start_at: float | None = None
    done: bool = False              # will not run again
    ready: bool = False
    started: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    readiness: ProbeState = field(default_factory=ProbeState)
    liveness: ProbeState = field(default_factory=ProbeState)
    startup: ProbeState = field(default_factory=ProbeState)
    signal_at: float | None = None  # when the stop signal goes (after preStop)
    kill_at: float | None = None    # when SIGKILL goes

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.exit_code is None

    @property
    def succeeded(self) -> bool:
        return self.current is None and self.last is not None and self.last.exit_code == 0


@dataclass(frozen=True)
class PodEvent:
    """An Event the kubelet would record about the pod."""
    type: str
    reason: str
    message: str
    field_path: str = ""


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str = ""
    message: str = ""
    since: str = ""


# -- the pod -------------------------------------------------------------------------------------
@dataclass
class PodRuntime:
    """What the node agent runs for one pod (see the module docstring)."""
    spec: PodSpec
    folder: Path
    pod_ip: str
    host_ip: str = "127.0.0.1"
    start_time: datetime = field(default_factory=utc_now)
    restarts_before: dict[str, int] = field(default_factory=dict)  # restart counts a previous agent left
    volumes_ready: bool = False
    volume_folders: dict[str, Path] = field(default_factory=dict)  # PVC volume → its PV's folder on the host
    sandbox: PidNamespace | None = None
    pause: Process | None = None
    sandbox_ready: bool = False
    terminating: bool = False
    finished: bool = False          # terminal: no container runs or will run again
    runs: dict[str, ContainerRun] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)
    events: list[PodEvent] = field(default_factory=list)
    changed: bool = True
    waiting_for: str = ""

    def __post_init__(self) -> None:
        for spec in self.spec.init_containers:
            self.runs[spec.name] = ContainerRun(spec, init=True)
        for spec in self.spec.containers:
            self.runs[spec.name] = ContainerRun(spec, waiting="PodInitializing" if self.init_runs() else "ContainerCreating")
        for name, count in self.restarts_before.items():
            if name in self.runs:
                self.runs[name].restart_count = count + 1  # the agent restarted: its containers did too

    # -- views -------------------------------------------------------------------------
    @property
    def key(self) -> tuple[str, str]:
        return self.spec.namespace, self.spec.name

    def app_runs(self) -> list[ContainerRun]:
        return [r for r in self.runs.values() if not r.init or r.spec.sidecar]

    def init_runs(self) -> list[ContainerRun]:
        return [r for r in self.runs.values() if r.init and not r.spec.sidecar]

    def initialized(self) -> bool:
        return all(r.succeeded or r.done and r.last is not None and r.last.exit_code == 0 for r in self.init_runs())

    def namespace_of(self, run: ContainerRun) -> PidNamespace | None:
        """The PID namespace a process of ``run`` sees: the pod's when it is shared, else the container's."""
        if not run.running:
            return None
        return self.sandbox if self.spec.share_pid else run.current.namespace

    def _namespaces(self) -> list[PidNamespace]:
        found = [self.sandbox] if self.sandbox is not None else []
        found += [r.current.namespace for r in self.runs.values() if r.running and r.current.namespace is not self.sandbox]
        return found

    def log_path(self, container: str, number: int) -> Path:
        return self.folder / container / f"{number}.log"

    def _event(self, kind: str, reason: str, message: str, run: ContainerRun | None = None) -> None:
        path = f"spec.{'initContainers' if run.init else 'containers'}{{{run.spec.name}}}" if run is not None else ""
        self.events.append(PodEvent(kind, reason, message, path))

    # -- volumes and sandbox -----------------------------------------------------------
    def volumes_bound(self, now: float, folders: dict[str, Path] | None = None) -> None:
        """Every claim of the pod is Bound (``folders``: each PVC volume's PV folder on the host):
        the sandbox starts (pause as PID 1 when the PID namespace is shared)."""
        if self.volumes_ready or self.terminating:
            return
        self.volumes_ready = True
        self.volume_folders = dict(folders or {})
        self.waiting_for = ""
        self._start_sandbox(now)

    def waiting_on(self, why: str) -> None:
        if why != self.waiting_for:
            self.waiting_for = why
            self.changed = True

    def _start_sandbox(self, now: float) -> None:
        if self.spec.share_pid:
            self.sandbox = PidNamespace()
            self.pause = self.sandbox.spawn(["/pause"], procs.program_for(["/pause"]), "pause", now, session_leader=True)
            self.sandbox.next_pid = 7  # runc's own short-lived processes take a few PIDs
        self.sandbox_ready = True
        for run in self.init_runs():
            run.done = False
        self._start_next(now + START_SECONDS)
        self.changed = True

    def _start_next(self, when: float) -> None:
        """Schedule the next init container, or every app container once the init containers are done."""
        pending = [r for r in self.init_runs() if not r.done]
        if pending:
            if not pending[0].running and pending[0].start_at is None:
                pending[0].start_at = when
            return
        for run in self.app_runs():
            if not run.running and not run.done and run.start_at is None:
                run.start_at = when

    # -- starting and stopping containers ----------------------------------------------
    def _start(self, run: ContainerRun, now: float) -> None:
        if run.last is not None:
            run.restart_count += 1
        started = utc_now()
        log = LogFile(self.log_path(run.spec.name, run.restart_count))
        launch = procs.resolve_launch(run.spec.argv, run.spec.env, started.strftime("%Y%m%dT%H%M%S"))
        files = self._container_files(run)
        tee_file = self._tee_file(launch, files)
        namespace = self.sandbox if self.spec.share_pid and self.sandbox is not None else PidNamespace()
        script = node_programs.script_for(launch.argv, now)
        program = node_programs.WRAPPER_PROGRAM if script else procs.Program("oneshot", lifetime=0.0) \
            if node_programs.python_script(launch.argv) is not None else procs.program_for(launch.argv)
        main = namespace.spawn(launch.argv, program, "main", now, session_leader=True, owner=run.spec.name)
        main.script = script
        tee = namespace.spawn(launch.tee, procs.program_for(launch.tee), "tee", now, skip=5,
                              owner=run.spec.name) if tee_file else None
        run.current = Instance(run.restart_count, f"{RUNTIME}://" + secrets.token_hex(32), started, now, log,
                               namespace, main, tee, files)
        run.waiting, run.waiting_message, run.start_at = "", "", None
        run.readiness, run.liveness, run.startup = ProbeState(), ProbeState(), ProbeState()
        run.started = run.spec.startup is None
        for note in launch.notes:
            log.write(note, "stderr")
        if launch.tee and not tee_file:
            log.write(f"ft-log-tee: cannot write {launch.tee_file}; output goes to the container log only", "stderr")
        log.tee = tee_file
        self._run_oneshot(run.current, run.spec.env, now)
        if main.program.error:
            log.write(main.program.error, "stderr")
        if main.program.kind == "engine":
            log.write(f"{_display(main)}[{main.pid}]: simulated process started: {main.args()}")
        self._event("Normal", "Pulled", f'Container image "{normalize_image(run.spec.image)}" already present on machine', run)
        self._event("Normal", "Created", f"Created container: {run.spec.name}", run)
        self._event("Normal", "Started", f"Started container {run.spec.name}", run)
        self.changed = True

    # -- a container's files -------------------------------------------------------------
    def _container_files(self, run: ContainerRun) -> ContainerFiles:
        """The filesystem of a new instance of ``run`` (`ftlib.controlplane.node_files`): its
        mounts over a fresh scratch root."""
        volumes = {v.name: v for v in self.spec.volumes}
        mounts = []
        for name, path, read_only in run.spec.mounts:
            volume = volumes.get(name)
            if volume is None or not path.startswith("/"):
                continue  # the API server refuses such a pod; nothing to mount
            folder, fixed = self._volume_folder(volume)
            mounts.append(Mount(node_files.container_path(path), folder, read_only or volume.read_only or fixed))
        root = node_files.fresh_root(self.folder / node_files.SCRATCH / run.spec.name)
        return ContainerFiles(tuple(mounts), root)

    def _volume_folder(self, volume: VolumeSpec) -> tuple[Path, bool]:
        """The host folder of ``volume`` and whether it is read-only whatever the mount says."""
        if volume.claim and volume.name in self.volume_folders:
            return self.volume_folders[volume.name], False
        folder = self.folder / node_files.VOLUMES / volume.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder, volume.kind != "emptyDir"

    @staticmethod
    def _tee_file(launch: procs.Launch, files: ContainerFiles) -> Path | None:
        """The log-tee wrapper's ``mkdir -p "$d" && : >>"$d/$s.log"``: the host file, or None when it fails."""
        if not launch.tee:
            return None
        try:
            files.make_dirs(launch.tee_file.rsplit("/", 1)[0])
            return files.append(launch.tee_file).host
        except (OSError, ValueError):
            return None

    def _run_oneshot(self, instance: Instance, env: dict[str, str], now: float) -> None:
        """A main process that does its work at once (``touch``, a ``python -c`` script): done
        now, its output logged, its exit code the one it ends with."""
        main = instance.main
        if main.program.kind != "oneshot" or main.program.exit_code or not main.argv:
            return
        if procs.basename(main.argv[0]) == "touch":
            answer = node_programs.touch(main.argv[1:], instance.files)
        elif node_programs.python_script(main.argv) is not None:
            answer = node_programs.run_python(main.argv, self._exec_context(instance.namespace, instance.files, now))
        else:
            return
        for text, stream in ((answer.stdout, "stdout"), (answer.stderr, "stderr")):
            if text:
                instance.log.write(text.rstrip("\n"), stream)
        main.program = procs.Program("oneshot", lifetime=0.0, exit_code=answer.exit_code)

    def _exec_context(self, namespace: PidNamespace, files: ContainerFiles, now: float) -> ExecContext:
        def kill(pid: int, signum: int) -> bool:
            process = namespace.find(pid)
            if process is not None:
                self._signal(process, signum, now, from_inside=True)
            return process is not None
        return ExecContext(files, namespace.alive, kill)

    def _io(self, process: Process, now: float) -> ProcessIO | None:
        run = self.runs.get(process.owner)
        if run is None or not run.running:
            return None
        instance, namespace = run.current, self.namespace_of(run)

        def spawn(argv: list[str], program: procs.Program) -> Process:
            return namespace.spawn(argv, program, "child", now, owner=run.spec.name)
        return ProcessIO(instance.files, run.spec.env, instance.log.write, spawn)

    def _step_scripts(self, now: float) -> None:
        for namespace in self._namespaces():
            for process in namespace.alive():
                io = self._io(process, now) if process.script is not None else None
                code = process.script.step(now, io) if io is not None else None
                if code is not None and process.alive:
                    self._process_exited(process, code, now)

    def _exited(self, run: ContainerRun, code: int, now: float) -> None:
        """The container's main process ended with ``code``: the rest of the container goes with
        it (the runtime kills its cgroup), then the restart policy decides."""
        instance = run.current
        instance.exit_code = code
        instance.reason = "Completed" if code == 0 else "Error"
        instance.finished, instance.finished_mono = utc_now(), now
        if instance.main.program.kind == "engine" and instance.main.terminating:
            instance.log.write(f"{_display(instance.main)}[{instance.main.pid}]: exited with code {code}")
        for process in instance.namespace.alive():
            if process.owner == run.spec.name:
                procs.exit_process(process, 128 + procs.SIGKILL)
        instance.namespace.reap()
        run.earlier, run.last, run.current = run.last, instance, None
        run.ready = run.started = False
        run.signal_at = run.kill_at = None
        self.changed = True
        self._after_exit(run, code, now)

    def _after_exit(self, run: ContainerRun, code: int, now: float) -> None:
        if self.terminating or not self.sandbox_ready:
            run.done = self.terminating
            return
        policy = self.spec.restart_policy
        if run.init and not run.spec.sidecar:
            if code == 0:
                run.done = True
                self._start_next(now + START_SECONDS)
            elif policy == "Never":
                run.done = True
            else:
                self._schedule_restart(run, now)
        elif run.spec.sidecar or policy == "Always" or (policy == "OnFailure" and code != 0):
            self._schedule_restart(run, now)
        else:
            run.done = True

    def _schedule_restart(self, run: ContainerRun, now: float) -> None:
        wait = run.backoff.remaining(run.last.finished_mono, now)
        if wait > 0:
            run.waiting = "CrashLoopBackOff"
            run.waiting_message = (f"back-off {int(run.backoff.duration)}s restarting failed container="
                                   f"{run.spec.name} pod={self.spec.name}_{self.spec.namespace}({self.spec.uid})")
            self._event("Warning", "BackOff", f"Back-off restarting failed container {run.spec.name} in pod "
                                              f"{self.spec.name}_{self.spec.namespace}({self.spec.uid})", run)
        run.start_at = now + max(wait, RESTART_SECONDS)
        run.backoff.next(run.last.finished_mono, now + wait)

    def stop_container(self, run: ContainerRun, now: float, grace: float, reason: str) -> None:
        """Stop ``run`` as the kubelet does: preStop, its stop signal from outside, SIGKILL after ``grace``."""
        if not run.running or run.kill_at is not None:
            return
        self._event("Normal", "Killing", reason, run)
        run.signal_at = now + min(run.spec.pre_stop_seconds, grace)
        run.kill_at = now + grace
        self.changed = True

    def terminate(self, now: float, grace: float) -> None:
        """The pod is being deleted: stop every container within ``grace`` seconds; none restarts.
        A second call can only shorten the grace period, as a second delete does."""
        if self.terminating:
            for run in self.runs.values():
                if run.kill_at is not None:
                    run.kill_at = min(run.kill_at, now + grace)
                    run.signal_at = min(run.signal_at, run.kill_at) if run.signal_at is not None else None
            return
        self.terminating = True
        for run in self.runs.values():
            run.start_at = None
            if run.running:
                self.stop_container(run, now, grace, f"Stopping container {run.spec.name}")
            else:
                run.done = True
        self.changed = True

    # -- time passing ------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Advance to ``now``: stop signals and SIGKILLs, processes ending, probes, starts, the end."""
        for run in list(self.runs.values()):
            self._stop_signals(run, now)
        self._step_scripts(now)
        for namespace in self._namespaces():
            for process in namespace.alive():
                code = procs.due_exit(process, now)
                if code is not None:
                    self._process_exited(process, code, now)
        if self.pause is not None and not self.pause.alive and self.sandbox_ready and not self.terminating:
            self._sandbox_died(now)
        for run in list(self.runs.values()):
            if run.running:
                self._probe(run, now)
            elif run.start_at is not None and now >= run.start_at and self.sandbox_ready and not self.terminating:
                self._start(run, now)
        if not self.finished and self._all_over():
            self._finish()

    def _all_over(self) -> bool:
        if any(r.running or r.start_at is not None for r in self.runs.values()):
            return False
        return self.terminating or pod_phase(self) in ("Succeeded", "Failed")

    def _stop_signals(self, run: ContainerRun, now: float) -> None:
        if run.running and run.signal_at is not None and now >= run.signal_at:
            run.signal_at = None
            self._signal(run.current.main, run.spec.stop_signal, now, from_inside=False)
        if run.running and run.kill_at is not None and now >= run.kill_at:
            self._signal(run.current.main, procs.SIGKILL, now, from_inside=False)

    def _finish(self) -> None:
        self.finished = True
        self.sandbox_ready = False
        for process in (self.sandbox.alive() if self.sandbox is not None else []):
            procs.exit_process(process, 0)
        self.changed = True

    def _sandbox_died(self, now: float) -> None:
        """pause ended (a signal it handles, sent from inside): the kubelet kills every container
        and makes a new sandbox; init containers run again, then the containers, their restart
        counts raised."""
        self._event("Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
        self.sandbox_ready = False
        for run in self.runs.values():
            run.start_at = None
            if run.running:
                self._signal(run.current.main, procs.SIGKILL, now, from_inside=False)
        self._start_sandbox(now + RESTART_SECONDS)

    # -- signals -----------------------------------------------------------------------
    def _run_of(self, process: Process) -> ContainerRun | None:
        run = self.runs.get(process.owner)
        return run if run is not None and run.current is not None and process is run.current.main else None

    def _signal(self, process: Process, signum: int, now: float, from_inside: bool) -> procs.SignalOutcome:
        outcome = procs.deliver(process, signum, now, from_inside)
        run = self._run_of(process)
        if outcome.effect == "handled" and run is not None and process.program.kind == "engine" and \
                signum in (procs.SIGTERM, procs.SIGINT):
            name = "SIGTERM" if signum == procs.SIGTERM else "SIGINT"
            run.current.log.write(f"{_display(process)}[{process.pid}]: received {name}: shutting down gracefully")
        if outcome.effect == "handled" and process.script is not None:
            io = self._io(process, now)
            code = process.script.signal(signum, now, io) if io is not None else None
            if code is not None:
                outcome = procs.SignalOutcome("exited", code)
        if outcome.effect == "exited":
            self._process_exited(process, outcome.exit_code, now)
        if outcome.effect in ("stopped", "continued", "handled"):
            self.changed = True
        return outcome

    def _process_exited(self, process: Process, code: int, now: float) -> None:
        procs.exit_process(process, code)
        owner = self.runs.get(process.owner)
        if process.role == "tee" and owner is not None and owner.current is not None and owner.current.tee is process:
            owner.current.log.tee = None  # nothing copies to the log PVC any more
        run = self._run_of(process)
        if run is not None:
            self._exited(run, code, now)

    # -- probes ------------------------------------------------------------------------
    def _probe(self, run: ContainerRun, now: float) -> None:
        instance = run.current
        healthy = instance.main.state != "T" and not instance.main.terminating
        if not run.started:
            if self._probe_step(run.spec.startup, run.startup, instance, healthy, now) is True:
                run.started = True
                self.changed = True
            elif run.startup.failures >= run.spec.startup.failure_threshold:
                self._unhealthy(run, "Startup", run.spec.startup, now)
            return
        if run.spec.liveness is not None and run.kill_at is None:
            self._probe_step(run.spec.liveness, run.liveness, instance, healthy, now)
            if run.liveness.failures >= run.spec.liveness.failure_threshold:
                self._unhealthy(run, "Liveness", run.spec.liveness, now)
        ready = True if run.spec.readiness is None else \
            self._probe_step(run.spec.readiness, run.readiness, instance, healthy, now)
        if ready is not None and ready != run.ready:
            run.ready = ready
            self.changed = True
        if run.ready and not instance.said_ready and instance.main.program.kind == "engine" and \
                now - instance.started_mono >= ENGINE_READY_SECONDS:
            instance.said_ready = True
            instance.log.write(f"{_display(instance.main)}[{instance.main.pid}]: ready")

    def _probe_step(self, probe: Probe, state: ProbeState, instance: Instance, healthy: bool, now: float) -> bool | None:
        """Run ``probe`` if it is due: True/False once a threshold is crossed, None otherwise."""
        if now < max(state.next_at, instance.started_mono + probe.initial_delay):
            return None
        state.next_at = now + probe.period
        if healthy and not probe.always_fails:
            state.successes, state.failures = state.successes + 1, 0
            return True if state.successes >= probe.success_threshold else None
        state.successes, state.failures = 0, state.failures + 1
        return False if state.failures >= probe.failure_threshold else None

    def _unhealthy(self, run: ContainerRun, kind: str, probe: Probe, now: float) -> None:
        self._event("Warning", "Unhealthy", f"{kind} probe failed: the simulated process is not responding", run)
        grace = probe.grace if probe.grace is not None else self.spec.grace
        self.stop_container(run, now, grace, f"Container {run.spec.name} failed {kind.lower()} probe, will be restarted")

    # -- exec ----------------------------------------------------------------------------
    def container_running(self, container: str) -> bool:
        run = self.runs.get(container)
        return run is not None and run.running

    def exec(self, container: str, argv: list[str], now: float) -> tuple[ExecAnswer, Process | None]:
        """Run ``argv`` in ``container`` (which must be running; see
        `ftlib.controlplane.node_processes`): the answer, and the exec's own process while it
        runs (a ``sleep``)."""
        run = self.runs[container]
        namespace = self.namespace_of(run)
        word = argv[0] if argv else ""
        name = procs.basename(word)
        if name not in procs.IMAGE_COMMANDS or ("/" in word and word not in _PATHS.get(name, ())):
            return ExecAnswer(missing=procs.missing_executable(word)), None
        if name == "sh":
            launch = procs.resolve_launch(argv, run.spec.env, "")
            if launch.argv == list(argv):
                return ExecAnswer(stderr="sh: the node agent's shell runs one simple command only\n", exit_code=2), None
            return self.exec(container, launch.argv, now)
        if name == "ps":
            return self._ps(namespace, argv, now, container), None
        if name == "kill":
            return self._kill(namespace, argv[1:], now), None
        if name == "touch":
            return node_programs.touch(argv[1:], run.current.files), None
        if node_programs.is_python(word):
            return self._python(run, namespace, argv, now), None
        program = procs.program_for(argv)
        if program.kind == "sleep":
            return ExecAnswer(sleep=program.lifetime), namespace.spawn(argv, program, "exec", now, owner=container)
        return ExecAnswer(stderr=(program.error + "\n") if program.error else "", exit_code=program.exit_code), None

    def _python(self, run: ContainerRun, namespace: PidNamespace, argv: list[str], now: float) -> ExecAnswer:
        """An exec'd ``python`` (`ftlib.controlplane.node_programs`), in the process table while it runs."""
        itself = namespace.spawn(argv, procs.Program("oneshot"), "exec", now, owner=run.spec.name)
        itself.state = "R"
        try:
            return node_programs.run_python(argv, self._exec_context(namespace, run.current.files, now))
        finally:
            if itself.alive:
                procs.exit_process(itself, 0)
            namespace.reap()

    def _ps(self, namespace: PidNamespace, argv: list[str], now: float, container: str) -> ExecAnswer:
        columns = procs.ps_columns(argv[1:])
        if isinstance(columns, str):
            return ExecAnswer(stderr=columns + "\n", exit_code=1)
        itself = namespace.spawn(argv, procs.Program("oneshot"), "exec", now, owner=container)
        itself.state = "R"
        try:
            return ExecAnswer(procs.format_ps(namespace.alive(), columns))
        finally:
            procs.exit_process(itself, 0)
            namespace.reap()

    def _kill(self, namespace: PidNamespace, args: list[str], now: float) -> ExecAnswer:
        request = procs.parse_kill(args)
        if request.listing:
            return ExecAnswer(procs.signal_listing())
        if request.error:
            return ExecAnswer(stderr=request.error + "\n", exit_code=1)
        errors = []
        for pid in request.pids:
            process = namespace.find(pid)
            if process is None:
                errors.append(f"kill: ({pid}): No such process")
            elif request.signum:
                self._signal(process, request.signum, now, from_inside=True)
        return ExecAnswer(stderr="".join(e + "\n" for e in errors), exit_code=1 if errors else 0)

    def kill_everything(self) -> None:
        """The pod is gone from the API: every process ends at once."""
        for namespace in self._namespaces():
            for process in namespace.alive():
                procs.exit_process(process, 128 + procs.SIGKILL)


_PATHS = {name: (f"/bin/{name}", f"/usr/bin/{name}", f"/usr/local/bin/{name}") for name in procs.IMAGE_COMMANDS}


def _display(process: Process) -> str:
    argv = process.argv
    if len(argv) > 2 and argv[1] == "-m":
        return argv[2]
    return procs.basename(argv[0])


# -- the status a kubelet writes ---------------------------------------------------------------
def container_status(run: ContainerRun) -> dict:
    """One entry of ``containerStatuses``/``initContainerStatuses``."""
    spec = run.spec
    status = {"name": spec.name, "image": normalize_image(spec.image), "imageID": "", "ready": run.ready,
              "restartCount": run.restart_count, "started": run.started and run.running, "lastState": {}}
    if spec.mounts:
        status["volumeMounts"] = [{"name": n, "mountPath": p, **({"readOnly": True} if ro else {})}
                                  for n, p, ro in spec.mounts]
    shown = run.current or run.last
    if shown is not None:
        status["imageID"] = image_id(spec.image)
        status["containerID"] = shown.container_id
    previous = run.last
    if run.current is not None:
        status["state"] = {"running": {"startedAt": rfc3339(run.current.started)}}
    elif run.last is None or run.waiting:
        waiting = {"reason": run.waiting or "ContainerCreating"}
        if run.waiting_message:
            waiting["message"] = run.waiting_message
        status["state"] = {"waiting": waiting}
    else:
        status["state"] = {"terminated": run.last.terminated()}
        previous = run.earlier
    if previous is not None:
        status["lastState"] = {"terminated": previous.terminated()}
    return status


def pod_phase(pod: PodRuntime) -> str:
    """The phase as the kubelet's getPhase computes it."""
    if pod.finished and pod.terminating:
        apps = pod.app_runs()
        return "Succeeded" if apps and all(r.last is not None and r.last.exit_code == 0 for r in apps) else "Failed"
    inits = pod.init_runs()
    if any(r.done and not r.succeeded for r in inits):
        return "Failed"
    if not pod.initialized():
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for run in pod.app_runs():
        if run.running:
            running += 1
        elif run.last is not None:
            stopped += 1
            succeeded += run.last.exit_code == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    policy = pod.spec.restart_policy
    if policy == "Always" and not pod.terminating:
        return "Running"
    if policy == "OnFailure" and stopped != succeeded and not all(r.done for r in pod.app_runs()):
        return "Running"
    return "Succeeded" if stopped == succeeded else "Failed"


def _not_ready(runs: list[ContainerRun]) -> str:
    names = [r.spec.name for r in runs if not r.ready]
    return f"containers with unready status: [{' '.join(names)}]" if names else ""


def _conditions(pod: PodRuntime, phase: str) -> dict[str, Condition]:
    apps = pod.app_runs()
    all_ready = bool(apps) and all(r.ready for r in apps)
    terminal = phase in ("Succeeded", "Failed")
    pending_inits = [r.spec.name for r in pod.init_runs() if not r.succeeded]
    wanted = {"PodReadyToStartContainers": Condition("True" if pod.sandbox_ready else "False"),
              "Initialized": Condition("True") if not pending_inits else
              Condition("False", "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(pending_inits)}]"),
              "ContainersReady": Condition("True") if all_ready else
              Condition("False", "PodCompleted" if terminal else "ContainersNotReady", "" if terminal else _not_ready(apps))}
    wanted["Ready"] = wanted["ContainersReady"]
    return wanted


def pod_status(pod: PodRuntime) -> dict:
    """The ``status`` a kubelet would write for ``pod`` now (conditions keep their transition times)."""
    phase = pod_phase(pod)
    stamp = rfc3339(utc_now())
    for kind, condition in _conditions(pod, phase).items():
        old = pod.conditions.get(kind)
        if old is None or (old.status, old.reason, old.message) != (condition.status, condition.reason, condition.message):
            pod.conditions[kind] = Condition(condition.status, condition.reason, condition.message, stamp)
    generation = pod.spec.generation
    conditions = [{"type": kind, "status": c.status, "lastProbeTime": None, "lastTransitionTime": c.since,
                   "observedGeneration": generation, **({"reason": c.reason} if c.reason else {}),
                   **({"message": c.message} if c.message else {})} for kind, c in pod.conditions.items()]
    status = {"phase": phase, "conditions": conditions, "hostIP": pod.host_ip, "hostIPs": [{"ip": pod.host_ip}],
              "startTime": rfc3339(pod.start_time), "observedGeneration": generation,
              "containerStatuses": [container_status(r) for r in pod.runs.values() if not r.init]}
    if pod.spec.init_containers:
        status["initContainerStatuses"] = [container_status(r) for r in pod.runs.values() if r.init]
    if pod.sandbox_ready or pod.finished:
        status["podIP"], status["podIPs"] = pod.pod_ip, [{"ip": pod.pod_ip}]
    return status
