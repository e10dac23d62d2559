"""Validating a scenario before anything is deployed.

`PlanValidator` takes a scenario's events and checks in order and raises `SpecError` for
what would fail at run time for reasons knowable in advance: a service no role word or name
resolves, a load referred to before it was started, a check that measures from a fault with
no fault before it. behave's plan pass feeds it step by step; `run_scenario` feeds it the
whole scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftlib.checks import Check, LoadCheck
from ftlib.errors import SpecError
from ftlib.events.base import Event
from ftlib.events.load import StartLoad, StopLoad, WaitForLoadCompletion
from ftlib.spec import DeploymentSpec


def resolve_targets(spec: DeploymentSpec, item: object) -> str:
    """Every service an event or check names (``services`` list or ``service``) must resolve.
    Returns how role words resolved (`` [decode worker -> VllmDecodeWorker]``) for a plan."""
    words = list(getattr(item, "services", None) or [])
    if getattr(item, "service", None):
        words.append(item.service)
    resolved = [(word, spec.resolve_service(word).name) for word in words]
    shown = [f"{word} -> {name}" for word, name in resolved if word != name]
    return f" [{', '.join(shown)}]" if shown else ""


@dataclass
class PlanValidator:
    """Checks events and checks in scenario order against a spec."""

    started_loads: list[str] = field(default_factory=list)
    faults: int = 0

    def event(self, spec: DeploymentSpec, event: Event) -> str:
        targets = resolve_targets(spec, event)
        if isinstance(event, (StopLoad, WaitForLoadCompletion)):
            self.require_load(event.name)
        if isinstance(event, StartLoad):
            self.started_loads.append(event.name)
        self.faults += bool(event.is_fault)
        return targets

    def check(self, spec: DeploymentSpec, check: Check) -> str:
        if isinstance(check, LoadCheck):
            self.require_load(check.name)
        if getattr(check, "needs_fault", False) and not self.faults:
            raise SpecError(f"'{check.description}' measures from a fault, but no fault step comes before it; "
                            "inject one first (a pod deleted, a process killed, frozen, rolling-upgraded…)")
        return resolve_targets(spec, check)

    def require_load(self, name: str) -> None:
        if name not in self.started_loads:
            known = ", ".join(dict.fromkeys(self.started_loads)) or "none started"
            raise SpecError(f"no load named {name!r} was started before this step; loads: {known}")


def validate_scenario(spec: DeploymentSpec, events, checks) -> None:
    """Raise `SpecError` for the first event or check that cannot work with ``spec``."""
    validator = PlanValidator()
    for event in events:
        validator.event(spec, event)
    for check in checks:
        validator.check(spec, check)
