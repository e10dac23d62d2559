"""Faults: delete pods, signal processes. Each one waits for requests in flight (while a load
runs) and verifies that it took effect."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ftlib.errors import FaultNotEffective, InFlightShortfall, SpecError, TargetError
from ftlib import validate
from ftlib.validate import SIGNAL_NAMES, normalize_signal  # noqa: F401 - part of this module's API
from ftlib.events.base import Event
from ftlib.load.inflight import InFlightWait, wait_for_in_flight

if TYPE_CHECKING:
    from ftlib.plan import PlanValidator
    from ftlib.platform.base import PodInfo, ProcessInfo
    from ftlib.scenario import ScenarioContext
    from ftlib.spec import DeploymentSpec

log = logging.getLogger("ftlib.events")
IN_FLIGHT_TIMEOUT = 5.0
NON_TERMINATING = {"SIGSTOP", "SIGTSTP", "SIGCONT", "SIGCHLD", "SIGWINCH", "SIGURG"}
@dataclass(kw_only=True)
class Fault(Event):
    """Base class of every fault: while a load runs, it waits until requests are in flight
    before it injects, so it hits streams mid-flight rather than a lull between requests.

    The wait reads the frontend's ``dynamo_frontend_inflight_requests``
    (`Deployment.inflight_requests`) until it reports at least ``min_in_flight`` requests (1
    when not given), for at most ``in_flight_timeout`` seconds; what it saw is kept in
    ``in_flight_wait`` and logged. Without a running load there is no wait. The fault's start
    (``started_ns``) is the moment of injection, after the wait.

    When the bound passes first: with the default (1) the fault is injected anyway and the
    shortfall is recorded and logged as a warning; the verdict belongs to the recorded
    requests (``Then the fault hit at least 1 requests in flight`` fails such a run, and the
    fault tolerance report warns). With a count the scenario asked for (``… while at least 4
    requests are in flight``), the step's own sentence would be false, so nothing is injected
    and `InFlightShortfall` is raised: the scenario is broken, not failed.
    """

    min_in_flight: int | None = None
    in_flight_timeout: float = IN_FLIGHT_TIMEOUT
    in_flight_wait: InFlightWait | None = field(default=None, init=False)
    is_fault: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.min_in_flight is not None:
            self.min_in_flight = validate.count(self.min_in_flight, "the number of requests in flight", low=1,
                                                high=validate.MAX_CONCURRENCY)
        self.in_flight_timeout = validate.positive_seconds(self.in_flight_timeout, "the wait for requests in flight")

    def run(self, ctx: "ScenarioContext") -> None:
        self.wait_for_requests(ctx)
        super().run(ctx)

    def wait_for_requests(self, ctx: "ScenarioContext") -> None:
        """While a load runs, wait (bounded) until enough requests are in flight."""
        if not any(load.active for load in ctx.loads()):
            return
        wanted = self.min_in_flight or 1
        wait = self.in_flight_wait = wait_for_in_flight(ctx.deployment.inflight_requests, wanted,
                                                        self.in_flight_timeout)
        if wait.reached:
            log.info("before %s: %s", self.description, wait.describe())
        elif self.min_in_flight is None:
            log.warning("before %s: %s; injecting anyway (the recorded requests will show what it hit)",
                        self.description, wait.describe())
        else:
            raise InFlightShortfall(f"not injected: {self.description}; {wait.describe()}")

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        """A count of requests in flight to wait for needs loads that can hold that many then."""
        if self.min_in_flight is not None:
            validator.require_in_flight(self.min_in_flight, self.description)

    @property
    def while_in_flight(self) -> str:
        """The sentence's ending, for descriptions: `` while at least 4 requests are in flight``."""
        return "" if self.min_in_flight is None else f" while at least {self.min_in_flight} requests are in flight"


def _choose(pods: list["PodInfo"], one_pod: bool) -> list["PodInfo"]:
    return pods[:1] if one_pod else pods


def match_processes(ctx: "ScenarioContext", services: list[str], process_name: str,
                    one_pod: bool = False) -> list[tuple["PodInfo", "ProcessInfo"]]:
    """Every process whose declared command line contains ``process_name``, in every pod (or
    the first pod, with ``one_pod``) of each service. An error if a service has no pods or
    nothing matched; the error lists what runs there."""
    deployment = ctx.deployment
    matches, seen = [], []
    for word in services:
        service = ctx.spec.resolve_service(word).name
        pods = deployment.pods(service)
        if not pods:
            raise TargetError(f"service {service!r} has no pods")
        for pod in _choose(pods, one_pod):
            for process in deployment.processes(pod.name):
                seen.append(f"{pod.name}: {process.pid} {process.command}")
                if process_name in process.command:
                    matches.append((pod, process))
    if not matches:
        listing = "\n  ".join(seen) or "(no processes)"
        raise TargetError(f"no process matching {process_name!r} in {', '.join(services)}; "
                          f"processes there:\n  {listing}")
    return matches


@dataclass
class DeletePod(Fault):
    """Delete every pod of each service (or exactly one pod with ``one_pod``), as
    ``kubectl delete pod --force`` would. The service's controller replaces each deleted pod by
    a new one with a new name; the event fails unless that replacement appears within
    ``verify_timeout`` seconds. The pod's description and metrics are saved first
    (``<Service>/<pod>.before_delete.*``)."""

    services: list[str]
    one_pod: bool = False
    force: bool = True
    verify_timeout: float = 60.0
    deleted: list[str] = field(default_factory=list, init=False)

    def target_services(self) -> list[str]:
        return self.services

    def execute(self, ctx: "ScenarioContext") -> None:
        deployment = ctx.deployment
        targets: dict[str, list[str]] = {}
        for word in self.services:
            service = ctx.spec.resolve_service(word).name
            pods = deployment.pods(service)
            if not pods:
                raise TargetError(f"service {service!r} has no pods to delete")
            targets[service] = [p.name for p in _choose(pods, self.one_pod)]
        for service, names in targets.items():
            for name in names:
                ctx.save_pod_evidence(name, suffix=".before_delete")
                deployment.delete_pod(name, force=self.force)
                self.deleted.append(name)
        self._verify(ctx, targets)

    def _verify(self, ctx: "ScenarioContext", targets: dict[str, list[str]]) -> None:
        deployment = ctx.deployment
        deadline = time.monotonic() + self.verify_timeout
        before = {p.name for p in deployment.pods(include_deleted=True) if p.created_ns < (self.started_ns or 0)}
        while True:
            missing = {}
            for service, names in targets.items():
                current = deployment.pods(service)
                replacements = [p.name for p in current if p.name not in before]
                still_there = [p.name for p in current if p.name in names]
                if still_there or len(replacements) < len(names):
                    missing[service] = (still_there, replacements)
            if not missing:
                return
            if time.monotonic() > deadline:
                detail = "; ".join(f"{s}: still present {st}, new pods {rp}" for s, (st, rp) in missing.items())
                raise FaultNotEffective(f"pod deletion did not take effect within {self.verify_timeout:g} s: {detail}")
            deployment.timeline.wait_for_change(0.1)  # a new pod is a timeline entry

    @property
    def description(self) -> str:
        which = "one pod" if self.one_pod else "every pod"
        force = " (force)" if self.force else ""
        return f"delete {which} of {', '.join(self.services)}{force}{self.while_in_flight}"


@dataclass
class TerminateProcess(Fault):
    """Send a signal (default SIGKILL) to every process whose command line contains
    ``process_name`` in every pod of each service (or in one pod with ``one_pod``).

    Processes are matched by their command line as the deployment declares it, so
    ``dynamo.vllm`` names a vLLM worker's engine on every platform. The event fails if nothing
    matched (listing what runs there), and verifies the effect: a terminating signal must end
    every process it was sent to and, for a pod's main process, raise the pod's restart count;
    SIGSTOP must leave the processes stopped, SIGCONT running.
    """

    services: list[str]
    process_name: str
    signal: str = "SIGKILL"
    one_pod: bool = False
    verify_timeout: float = 30.0
    targets: list[tuple[str, int, str]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.signal = normalize_signal(self.signal)
        if not self.process_name:
            raise SpecError("a process name to match is required (for example 'dynamo.vllm' or 'python')")

    def target_services(self) -> list[str]:
        return self.services

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        validator.require_process(spec, self.services, self.process_name)
        super().plan(validator, spec)

    def execute(self, ctx: "ScenarioContext") -> None:
        deployment = ctx.deployment
        matches = match_processes(ctx, self.services, self.process_name, self.one_pod)
        for pod, process in matches:
            deployment.signal_process(pod.name, process.pid, self.signal)
            self.targets.append((pod.name, process.pid, process.command))
        self._verify(ctx, matches)

    def _verify(self, ctx: "ScenarioContext", matches: list) -> None:
        deployment = ctx.deployment
        deadline = time.monotonic() + self.verify_timeout
        while True:
            pending = [f"{pod.name} pid {proc.pid}: {why}" for pod, proc in matches
                       if (why := self._not_yet(deployment, pod, proc))]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise FaultNotEffective(f"{self.signal} did not take effect within {self.verify_timeout:g} s:\n  "
                                        + "\n  ".join(pending))
            deployment.timeline.wait_for_change(0.1)  # a died or restarted container is a timeline entry

    def _not_yet(self, deployment, pod, process) -> str:
        current = {p.name: p for p in deployment.pods(pod.service)}
        if pod.name not in current:
            return ""  # the pod itself is gone: the process certainly is
        running = {p.pid: p for p in deployment.processes(pod.name)}
        if self.signal == "SIGSTOP":
            state = running[process.pid].state if process.pid in running else "gone"
            return "" if state in ("T", "t") else f"state {state}, expected stopped (T)"
        if self.signal in NON_TERMINATING:
            return ""
        if process.pid in running:
            return "still running" + (PID1_RULE.format(signal=self.signal) if process.pid == 1 else "")
        if process.is_main and current[pod.name].restart_count <= pod.restart_count:
            return f"restart count still {current[pod.name].restart_count}"
        return ""

    @property
    def description(self) -> str:
        where = "one pod of " if self.one_pod else ""
        return f"send {self.signal} to '{self.process_name}' in {where}{', '.join(self.services)}{self.while_in_flight}"


STOPPED_STATES = ("T", "t")
PID1_RULE = ("; it is PID 1 of its PID namespace, which only receives signals it installed a handler for, "
             "and {signal} sent from inside the container was ignored (deploy the service with "
             "shareProcessNamespace: true so the engine is not PID 1)")


@dataclass
class FreezeProcess(Fault):
    """Freeze every process whose command line contains ``process_name`` in every pod of each
    service (or in one pod with ``one_pod``) for ``duration`` seconds: SIGSTOP, then SIGCONT.

    The event blocks for the duration. It verifies that every process it stopped is in state
    T (stopped) and, after SIGCONT, that each one runs again. The processes are resumed
    whatever happens (a failed verification, an error, Ctrl-C): until they are, the event is
    `active`, so the scenario's teardown resumes them too.
    """

    services: list[str]
    process_name: str
    duration: float
    one_pod: bool = False
    verify_timeout: float = 10.0
    targets: list[tuple[str, int, str]] = field(default_factory=list, init=False)
    frozen_seconds: float | None = field(default=None, init=False)
    _frozen: list = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.process_name:
            raise SpecError("a process name to match is required (for example 'dynamo.mocker' or 'python')")
        self.duration = validate.positive_seconds(self.duration, "a freeze")

    def target_services(self) -> list[str]:
        return self.services

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        validator.require_process(spec, self.services, self.process_name)
        super().plan(validator, spec)

    @property
    def blocks_seconds(self) -> float:
        return self.duration

    def execute(self, ctx: "ScenarioContext") -> None:
        matches = match_processes(ctx, self.services, self.process_name, self.one_pod)
        stopped_at = time.monotonic()
        try:
            for pod, process in matches:
                self._frozen.append((pod, process))
                ctx.deployment.signal_process(pod.name, process.pid, "SIGSTOP")
                self.targets.append((pod.name, process.pid, process.command))
            self._wait_for_state(ctx, matches, stopped=True)
            time.sleep(max(0.0, self.duration - (time.monotonic() - stopped_at)))
        finally:
            resumed = self._resume(ctx)
            self.frozen_seconds = time.monotonic() - stopped_at
        self._wait_for_state(ctx, resumed, stopped=False)

    def _resume(self, ctx: "ScenarioContext") -> list[tuple["PodInfo", "ProcessInfo"]]:
        """SIGCONT every process this event stopped (once); those that still exist are returned."""
        resumed = []
        for pod, process in list(self._frozen):
            try:
                ctx.deployment.signal_process(pod.name, process.pid, "SIGCONT")
                resumed.append((pod, process))
            except (TargetError, ProcessLookupError):
                pass  # the process or its pod is gone: nothing left to resume
            self._frozen.remove((pod, process))
        return resumed

    def _wait_for_state(self, ctx: "ScenarioContext", matches: list, stopped: bool) -> None:
        deadline = time.monotonic() + self.verify_timeout
        while True:
            pending = []
            for pod, process in matches:
                states = {p.pid: p.state for p in ctx.deployment.processes(pod.name)}
                if process.pid in states and (states[process.pid] in STOPPED_STATES) != stopped:
                    pending.append(f"{pod.name} pid {process.pid}: state {states[process.pid]}")
                elif stopped and process.pid not in states:
                    pending.append(f"{pod.name} pid {process.pid}: gone")
            if not pending:
                return
            if time.monotonic() > deadline:
                want = "stopped (T) after SIGSTOP" if stopped else "running again after SIGCONT"
                raise FaultNotEffective(f"expected every frozen process to be {want} within "
                                        f"{self.verify_timeout:g} s:\n  " + "\n  ".join(pending))
            time.sleep(0.1)

    def stop(self, ctx: "ScenarioContext") -> None:
        self._resume(ctx)

    @property
    def active(self) -> bool:
        return bool(self._frozen)

    @property
    def description(self) -> str:
        where = "one pod of " if self.one_pod else ""
        return (f"freeze '{self.process_name}' in {where}{', '.join(self.services)} for {self.duration:g} s"
                f"{self.while_in_flight}")
