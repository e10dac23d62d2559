"""The Event base class: lifecycle, timestamps and logging, so each event holds only its logic."""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ftlib.plan import PlanValidator
    from ftlib.scenario import ScenarioContext
    from ftlib.spec import DeploymentSpec

log = logging.getLogger("ftlib.events")


@dataclass(kw_only=True)
class Event(ABC):
    """One step of a scenario's timeline.

    `run` stamps ``started_ns``/``ended_ns`` (ns since the epoch, the clock of aiperf's request
    records) around `execute`, even when it fails. `stop` ends whatever the event left running;
    it is called in reverse order when the scenario settles and must be safe to call twice.

    Before anything is deployed, the plan (`ftlib.plan.PlanValidator`) resolves every service
    `target_services` names, requires a fault before an event that ``needs_fault``, counts events that
    are one (``is_fault``), and calls `plan` for the rest. Every event declares its target services.
    """

    started_ns: int | None = field(default=None, init=False)
    ended_ns: int | None = field(default=None, init=False)
    is_fault: ClassVar[bool] = False
    needs_fault: ClassVar[bool] = False

    @abstractmethod
    def target_services(self) -> list[str]:
        """The services the event acts on, as the scenario names them (exact names or role
        words), for the plan to resolve; [] for an event that acts on no service."""

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        """Check the event against ``spec`` and the steps before it (``validator`` knows the loads
        and faults); raise `SpecError` for what cannot work. Nothing is deployed yet."""

    def run(self, ctx: "ScenarioContext") -> None:
        log.info("start: %s", self.description)
        self.started_ns = time.time_ns()
        try:
            self.execute(ctx)
        finally:
            self.ended_ns = time.time_ns()
            log.info("end (%.2f s): %s", self.seconds, self.description)

    @property
    def seconds(self) -> float:
        if self.started_ns is None:
            return 0.0
        return ((self.ended_ns or time.time_ns()) - self.started_ns) / 1e9

    @abstractmethod
    def execute(self, ctx: "ScenarioContext") -> None:
        """Do the event's work."""

    def stop(self, ctx: "ScenarioContext") -> None:
        """End what the event left running (default: nothing)."""

    @property
    def active(self) -> bool:
        """Whether the event still has something running that `stop` would end."""
        return False

    @property
    def blocks_seconds(self) -> float:
        """How long the event certainly takes, known from the plan (a wait, a freeze): the plan
        counts it to know which loads still send at a later step. 0 for one that may end at once."""
        return 0.0

    @property
    @abstractmethod
    def description(self) -> str:
        """One line saying what the event does, for logs and reports."""


def started_faults(events: list[Event]) -> list[Event]:
    """The faults among ``events`` that were injected (have a start time), in order."""
    return [e for e in events if e.is_fault and e.started_ns is not None]
