"""Waiting events: a fixed pause, and an event-driven wait for the deployment to recover."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftlib.errors import FaultNotEffective, SpecError
from ftlib.events.base import Event
from ftlib.platform.base import DISRUPTIONS

if TYPE_CHECKING:
    from ftlib.scenario import ScenarioContext

POLL_SECONDS = 0.2


@dataclass
class Wait(Event):
    """Let time pass (the load keeps running)."""

    duration: float

    def __post_init__(self) -> None:
        if not self.duration >= 0:
            raise SpecError(f"a wait must be 0 seconds or more, got {self.duration!r}")

    def execute(self, ctx: "ScenarioContext") -> None:
        time.sleep(self.duration)

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

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise SpecError(f"a recovery timeout must be more than 0 seconds, got {self.timeout!r}")

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
