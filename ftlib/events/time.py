"""Waiting events: a fixed pause, and an event-driven wait for the deployment to recover."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ftlib.errors import FaultNotEffective
from ftlib import validate
from ftlib.events.base import Event, started_faults
from ftlib.platform.base import DISRUPTIONS

if TYPE_CHECKING:
    from ftlib.platform.base import Timeline
    from ftlib.scenario import ScenarioContext

POLL_SECONDS = 0.2


@dataclass
class Wait(Event):
    """Let time pass (the load keeps running)."""

    duration: float

    def __post_init__(self) -> None:
        self.duration = validate.seconds(self.duration, "a wait")

    def target_services(self) -> list[str]:
        return []

    def execute(self, ctx: "ScenarioContext") -> None:
        time.sleep(self.duration)

    @property
    def blocks_seconds(self) -> float:
        return self.duration

    @property
    def description(self) -> str:
        return f"wait {self.duration:g} s"


@dataclass
class WaitForRecovery(Event):
    """Wait until the deployment has recovered from the last fault.

    Recovery means: since the fault started, the platform saw the deployment lose readiness or a
    pod (a pod deleted, a container died, a pod unready), and the deployment is now ready again
    with every replica. The wait follows the platform's timeline, so a recovery faster than any
    poll still counts. If nothing was disrupted within ``timeout`` the fault did not take effect
    (an error); if the deployment is still not ready, the system failed to recover (a failure).
    """

    timeout: float = 300.0
    fault_ns: int | None = field(default=None, init=False)
    recovered_ns: int | None = field(default=None, init=False)
    needs_fault: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.timeout = validate.positive_seconds(self.timeout, "a recovery timeout")

    def target_services(self) -> list[str]:
        return []

    @property
    def recovery_seconds(self) -> float | None:
        if self.recovered_ns is None or self.fault_ns is None:
            return None
        return (self.recovered_ns - self.fault_ns) / 1e9

    def execute(self, ctx: "ScenarioContext") -> None:
        fault = ctx.last_fault()
        self.fault_ns = fault.started_ns if fault else self.started_ns
        deployment = ctx.deployment
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            entries = deployment.timeline.since(self.fault_ns)
            disruptions = [e for e in entries if e.kind in DISRUPTIONS]
            if disruptions and deployment.is_ready():
                last = disruptions[-1].ns
                ready = [e.ns for e in entries if e.kind == "deployment_ready" and e.ns >= last]
                self.recovered_ns = ready[0] if ready else time.time_ns()
                return
            deployment.timeline.wait_for_change(POLL_SECONDS)
        entries = deployment.timeline.since(self.fault_ns)
        seen = deployment.timeline.render(self.fault_ns)
        what = fault.description if fault else "the start of this wait"
        if not any(e.kind in DISRUPTIONS for e in entries):
            raise FaultNotEffective(f"the deployment never lost readiness or a pod within {self.timeout:g} s after "
                                    f"{what}; there was nothing to recover from. Platform timeline since then:\n{seen}")
        raise AssertionError(f"expected the deployment to be ready again within {self.timeout:g} s after {what}; "
                             f"it was not. Platform timeline since the fault:\n{seen}")

    @property
    def description(self) -> str:
        return f"wait up to {self.timeout:g} s for the deployment to recover"


def ready_again_ns(timeline: "Timeline", fault_ns: int, until_ns: int | None = None) -> int | None:
    """The first moment at or after ``fault_ns`` (and before ``until_ns``) the platform saw the
    deployment ready with every replica: its first ``deployment_ready`` then, or ``fault_ns``
    itself if readiness never changed after the fault and the deployment was ready before it.
    None if it stayed unready."""
    transitions = [e for e in timeline.since(0) if e.kind in ("deployment_ready", "deployment_unready")]
    after = [e for e in transitions if e.ns >= fault_ns and (until_ns is None or e.ns < until_ns)]
    ready = [e.ns for e in after if e.kind == "deployment_ready"]
    if ready:
        return ready[0]
    before = [e.kind for e in transitions if e.ns < fault_ns]
    return fault_ns if not after and before and before[-1] == "deployment_ready" else None


def recovery_point(events: list[Event], fault: Event, timeline: "Timeline | None") -> tuple[int | None, str]:
    """When the deployment recovered from ``fault`` and how that is known: what a recovery wait
    after it (and before the next fault) recorded, else `ready_again_ns` on the platform's
    timeline up to the next fault. ``(None, why)`` when no recovery was seen."""
    later = events[events.index(fault) + 1:]
    next_fault_ns = next((e.started_ns for e in started_faults(later)), None)
    for event in later:
        if event.is_fault:
            break
        if isinstance(event, WaitForRecovery) and event.recovered_ns is not None:
            return event.recovered_ns, "recovery wait"
    if timeline is None:
        return None, "no deployment timeline"
    ready = ready_again_ns(timeline, fault.started_ns, next_fault_ns)
    return (ready, "platform timeline") if ready is not None else (None, "the deployment was not ready again")
