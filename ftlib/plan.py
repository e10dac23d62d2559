"""Validating a scenario before anything is deployed.

`PlanValidator` takes a scenario's events and checks in order and raises `SpecError` for what
would fail at run time for reasons knowable in advance. It knows no concrete event or check:
each one declares its services (``target_services()``), whether it needs a fault before it
(``needs_fault``), whether it is one (``is_fault``), and checks the rest itself in its
``plan(validator, spec)`` hook, with the validator's rules below (loads started, running or
ended; process names against the declared command lines; a deployable spec). behave's plan pass
feeds it step by step; `run_scenario` feeds it the whole scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftlib.errors import SpecError
from ftlib.validate import MAX_REPLICAS

if TYPE_CHECKING:
    from ftlib.checks import Check
    from ftlib.events.base import Event
    from ftlib.load.config import LoadConfig
    from ftlib.spec import DeploymentSpec, ServiceSpec

RUNNING = "running"
FAULT_EXAMPLES = "a pod deleted, a process killed, frozen, rolling-upgraded…"


def resolve_targets(spec: "DeploymentSpec", item: "Event | Check") -> str:
    """Every service an event or check names (its ``target_services()``) must resolve to exactly one
    service. Returns how role words resolved (`` [decode worker -> VllmDecodeWorker]``) for a plan."""
    resolved = [(word, spec.resolve_service(word).name) for word in item.target_services()]
    shown = [f"{word} -> {name}" for word, name in resolved if word != name]
    return f" [{', '.join(shown)}]" if shown else ""


def _command_line(service: "ServiceSpec") -> str:
    return " ".join(service.declared_command_line)


@dataclass
class PlanValidator:
    """Checks events and checks in scenario order against a spec.

    ``loads`` maps each load started so far to its state: ``running``, or why it has ended;
    ``load_configs`` to what it sends. ``clock`` is how many seconds the timeline has certainly
    taken so far (waits and freezes; recoveries and rollouts only add to it), and ``load_ends`` when
    each duration load certainly stops sending; ``at_last_fault`` which loads were running then,
    and ``before_last_fault`` which had been started.
    """

    loads: dict[str, str] = field(default_factory=dict)
    load_configs: dict[str, "LoadConfig"] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    deployable: bool = False
    clock: float = 0.0
    load_ends: dict[str, float] = field(default_factory=dict)
    at_last_fault: set[str] = field(default_factory=set)
    before_last_fault: set[str] = field(default_factory=set)

    def event(self, spec: "DeploymentSpec", event: "Event") -> str:
        self.require_deployable(spec)
        targets = resolve_targets(spec, event)
        self.require_pods(spec, event.target_services(), event.description)
        if event.needs_fault:
            self.require_fault(event.description)
        event.plan(self, spec)
        if event.is_fault:
            self.faults.append(event.description)
            self.at_last_fault, self.before_last_fault = set(self.running_loads()), set(self.loads)
        self.clock += event.blocks_seconds
        return targets

    def check(self, spec: "DeploymentSpec", check: "Check") -> str:
        targets = resolve_targets(spec, check)
        if check.needs_fault:
            self.require_fault(check.description)
        check.plan(self, spec)
        for name, state in self.loads.items():  # a Then step lets every running load run to its end
            if state == RUNNING:
                self.loads[name] = f"completed at an earlier Then step, which waits for every load ({check.description})"
                self.clock = max(self.clock, self.load_ends.get(name, self.clock))
        return targets

    # -- the rules events and checks apply in their plan hooks -----------------------------
    def require_deployable(self, spec: "DeploymentSpec") -> None:
        """Every frontend and worker service needs a replica: with no worker the frontend never
        lists the model, so the deployment could never be ready."""
        if self.deployable:
            return
        for service in [spec.frontend, *spec.workers]:
            self.require_replicas(service)
        self.deployable = True

    @staticmethod
    def require_pods(spec: "DeploymentSpec", words: list[str], description: str) -> None:
        """A step that acts on a service needs a pod of it to act on."""
        for word in words:
            service = spec.resolve_service(word)
            if service.replicas < 1:
                raise SpecError(f"service {service.name} ({service.role}) has 0 replicas, so this step ({description}) "
                                f"has no pod to act on; give it 1 to {MAX_REPLICAS} replicas")

    @staticmethod
    def require_replicas(service: "ServiceSpec") -> None:
        if service.replicas < 1 and (service.is_frontend or service.is_worker):
            raise SpecError(f"service {service.name} ({service.role}) has 0 replicas, so the deployment could never "
                            f"be ready (the frontend lists the model only once a worker serves it); give every "
                            f"frontend and worker service 1 to {MAX_REPLICAS} replicas")

    def require_fault(self, description: str) -> None:
        if not self.faults:
            raise SpecError(f"this step ({description}) measures from a fault, but no fault step comes before it; "
                            f"inject one first ({FAULT_EXAMPLES})")

    def require_load(self, name: str) -> str:
        """The state of load ``name``; an error if no load of that name was started before."""
        if name not in self.loads:
            known = ", ".join(self.loads) or "none started"
            raise SpecError(f"no load named {name!r} was started before this step; loads: {known}")
        return self.loads[name]

    def start_load(self, name: str, config: "LoadConfig | None" = None) -> None:
        if name in self.loads:
            raise SpecError(f"a load named {name!r} was already started in this scenario; give each load its own "
                            f"name, for example: When a load \"{name}-2\" of 100 requests at concurrency 4 is started")
        self.loads[name] = RUNNING
        if config is not None:
            self.load_configs[name] = config
            if config.duration is not None:
                self.load_ends[name] = self.clock + config.duration

    def running_loads(self) -> list[str]:
        """The loads still sending at this point of the timeline: started, not stopped or waited
        for, and (a duration load) not past its duration by the waits before this point."""
        return [name for name, state in self.loads.items()
                if state == RUNNING and self.clock < self.load_ends.get(name, float("inf"))]

    def _not_running(self, names) -> str:
        """Why each of ``names`` is not sending any more, for a message."""
        return "; ".join(f"load {name!r} has {self.loads[name]}" if self.loads[name] != RUNNING else
                         f"load {name!r} sends for {self.load_configs[name].duration:g} s and the steps before this "
                         f"one take at least {self.clock:g} s" for name in names)

    def require_in_flight(self, count: int, description: str) -> None:
        """A fault that waits for ``count`` requests in flight needs loads running then that can
        keep that many in flight at once (each at most its concurrency, or its request count)."""
        running = self.running_loads()
        if not running:
            ended = self._not_running(self.loads) or "no load was started before it"
            raise SpecError(f"this step ({description}) waits for at least {count} requests in flight, but no load "
                            f"is running at that point ({ended}); start one before it, for example: When a load at "
                            f"concurrency {count} is started for 30 seconds")
        known = [name for name in running if name in self.load_configs]
        if len(known) < len(running):
            return  # a load of unknown size could hold any number
        most = sum(self.load_configs[name].max_in_flight for name in known)
        if count > most:
            loads = ", ".join(f"load {name!r}: {self.load_configs[name].in_flight_limit}" for name in known)
            raise SpecError(f"this step ({description}) waits for at least {count} requests in flight, but the loads "
                            f"running at that point keep at most {most} in flight ({loads}); ask for at most {most}, "
                            f"or start a load at concurrency {count} or more")

    def require_hit_by_last_fault(self, name: str, count: int, description: str) -> None:
        """A check that counts ``count`` requests of load ``name`` in flight at the last fault needs
        that load running then, able to hold that many."""
        if name not in self.at_last_fault:
            why = self._not_running([name]) if name in self.before_last_fault else f"load {name!r} started after it"
            raise SpecError(f"this check ({description}) can never pass: load {name!r} was not running when the last "
                            f"fault ({self.faults[-1]}) was injected ({why}); inject the fault while the load runs")
        config = self.load_configs.get(name)
        if config is not None and count > config.max_in_flight:
            raise SpecError(f"this check ({description}) can never pass: load {name!r} keeps at most "
                            f"{config.max_in_flight} requests in flight ({config.in_flight_limit}); ask for at most "
                            f"{config.max_in_flight}")

    def require_sending_after_last_fault(self, name: str, description: str) -> None:
        """A check on requests that started after the last fault needs load ``name`` running then
        or started after it."""
        if name in self.before_last_fault and name not in self.at_last_fault:
            raise SpecError(f"this check ({description}) can never pass: load {name!r} had stopped sending before "
                            f"the last fault ({self.faults[-1]}): {self._not_running([name])}; inject the fault while "
                            "the load runs, or start a load after it")

    def require_at_most_sent(self, name: str, count: int, description: str) -> None:
        """A check that counts ``count`` requests of load ``name`` must not ask for more than it sends."""
        config = self.load_configs.get(name)
        if config is not None and config.request_count is not None and count > config.request_count:
            raise SpecError(f"this check ({description}) can never pass: load {name!r} sends "
                            f"{config.request_count} requests in all; ask for at most {config.request_count}")

    def end_load(self, name: str, verb: str, step: str) -> None:
        """Load ``name`` ends with this step (``verb``: ``stop`` or ``wait for``): it must be running."""
        state = self.require_load(name)
        if state != RUNNING:
            raise SpecError(f"load {name!r} has already {state}, so there is nothing left to {verb}; a load can be "
                            "stopped or waited for only while it runs: remove this step or move it before that one")
        self.loads[name] = f"{'been stopped' if verb == 'stop' else 'completed'} at an earlier step ({step})"
        if verb != "stop":  # waiting for a duration load to complete takes at least the rest of its duration
            self.clock = max(self.clock, self.load_ends.get(name, self.clock))

    def require_process(self, spec: "DeploymentSpec", words: list[str], process_name: str) -> None:
        """``process_name`` must be part of the declared command line of every service named: that
        is what every platform matches processes against."""
        for word in words:
            service = spec.resolve_service(word)
            line = _command_line(service)
            if not service.declared_command_line or process_name in line:
                continue  # a service that declares no command runs its image's: nothing to judge here
            elsewhere = [f"{s.name} ({s.role})" for s in spec.services.values()
                         if s.name != service.name and process_name in _command_line(s)]
            hint = f"; {process_name!r} is the command of {', '.join(elsewhere)}: name that service instead" \
                if elsewhere else ""
            raise SpecError(f"no process of {service.name} ({service.role}) can match {process_name!r}: processes are "
                            f"matched by the command line the deployment declares, and {service.name} declares "
                            f"{line!r}; name a part of it, such as {_example(service)!r}{hint}")


def _example(service: "ServiceSpec") -> str:
    """The most telling word of a declared command line: the module after ``-m``, else the program."""
    command = service.declared_command_line
    if "-m" in command[:-1]:
        return command[command.index("-m") + 1]
    return command[0].rsplit("/", 1)[-1]


def validate_scenario(spec: "DeploymentSpec", events, checks) -> None:
    """Raise `SpecError` for the first event or check that cannot work with ``spec``."""
    validator = PlanValidator()
    validator.require_deployable(spec)
    for event in events:
        validator.event(spec, event)
    for check in checks:
        validator.check(spec, check)
