"""Checks: verdicts on what a scenario recorded. One class per check.

A check raises `AssertionError` when the system did not behave as required (the scenario
*failed*) and an `FtError` when it cannot judge (no such load, a load without results: the
scenario is *broken*). Load checks count requests honestly (see `ftlib.load.results`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftlib.errors import SpecError
from ftlib.load.results import LoadResults

if TYPE_CHECKING:
    from ftlib.scenario import ScenarioContext


class Check(ABC):
    """Base class: `validate` raises `AssertionError` with what was expected and what was seen."""

    @abstractmethod
    def validate(self, ctx: "ScenarioContext") -> None: ...

    @property
    @abstractmethod
    def description(self) -> str: ...


def _count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SpecError(f"{what} must be a whole number >= 0, got {value!r}")
    return value


@dataclass
class LoadCheck(Check, ABC):
    """A check on the results of one named load."""

    name: str = field(default="default", kw_only=True)

    def results(self, ctx: "ScenarioContext") -> LoadResults:
        return ctx.load_results(self.name)


@dataclass
class ZeroErrors(LoadCheck):
    """No request of the load failed (errors, cut streams and short outputs all count)."""

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        assert results.failed == 0, f"expected no failed requests; {results.describe()}"

    @property
    def description(self) -> str:
        return f"no failed requests in load {self.name!r}"


@dataclass
class MaxErrors(LoadCheck):
    """At most ``max_errors`` requests of the load failed."""

    max_errors: int

    def __post_init__(self) -> None:
        _count(self.max_errors, "the maximum number of errors")

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        assert results.failed <= self.max_errors, (
            f"expected at most {self.max_errors} failed requests; {results.describe()}")

    @property
    def description(self) -> str:
        return f"at most {self.max_errors} failed requests in load {self.name!r}"


@dataclass
class MinRequests(LoadCheck):
    """At least ``min_count`` requests of the load succeeded."""

    min_count: int

    def __post_init__(self) -> None:
        _count(self.min_count, "the minimum number of successful requests")

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        assert results.succeeded >= self.min_count, (
            f"expected at least {self.min_count} successful requests; {results.describe()}")

    @property
    def description(self) -> str:
        return f"at least {self.min_count} successful requests in load {self.name!r}"


@dataclass
class MinFailures(LoadCheck):
    """At least ``min_count`` requests of the load failed: for scenarios that prove a fault is
    visible to clients (for example, killing a worker with request migration disabled)."""

    min_count: int

    def __post_init__(self) -> None:
        _count(self.min_count, "the minimum number of failed requests")

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        assert results.failed >= self.min_count, (
            f"expected at least {self.min_count} failed requests; {results.describe()}")

    @property
    def description(self) -> str:
        return f"at least {self.min_count} failed requests in load {self.name!r}"


@dataclass
class WasCancelled(LoadCheck):
    """The load was (``expected=True``) or was not (``expected=False``) stopped before it finished."""

    expected: bool = True

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        state = "was cancelled" if results.was_cancelled else "ran to completion"
        assert results.was_cancelled == self.expected, (
            f"expected load {self.name!r} to {'be cancelled' if self.expected else 'run to completion'}; it {state}")

    @property
    def description(self) -> str:
        return f"load {self.name!r} {'was' if self.expected else 'was not'} cancelled"


__all__ = ["Check", "LoadCheck", "ZeroErrors", "MaxErrors", "MinRequests", "MinFailures", "WasCancelled"]
