"""What a report and a monitor are.

A `Report` reads what a finished scenario recorded (events, load results, the platform's
timeline) and writes files into the scenario's output folder; it never touches live state, so
it can run after teardown and even after a check failed. A `Monitor` watches a scenario while
it runs (from deploy to teardown) and writes what it saw when stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftlib.scenario import ScenarioContext


class Report(ABC):
    """Base class: `generate` writes the report's files and returns their paths."""

    @abstractmethod
    def generate(self, ctx: "ScenarioContext") -> list[Path]:
        """Write the report into ``ctx.output_dir``; return the files written."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line saying what the report shows, for logs."""


class Monitor(ABC):
    """Base class for something that runs beside a scenario.

    `start` is called once the deployment is applied, `stop` when the scenario finishes
    (before evidence is collected and the deployment torn down); `stop` writes what was seen
    and must be safe to call twice, or without `start`.
    """

    @abstractmethod
    def start(self, ctx: "ScenarioContext") -> None:
        """Begin watching (must return at once: watch in a background thread)."""

    @abstractmethod
    def stop(self, ctx: "ScenarioContext") -> list[Path]:
        """Stop watching; write and return the files."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line saying what is watched."""
