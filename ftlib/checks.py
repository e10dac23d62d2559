"""Checks: verdicts on what a scenario recorded. One class per check.

A check raises `AssertionError` when the system did not behave as required (the scenario
*failed*) and an `FtError` when it cannot judge (no such load, a load without results: the
scenario is *broken*). Load checks count requests honestly (see `ftlib.load.results`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from ftlib.errors import SpecError
from ftlib.events.logs import compile_pattern, first_match, plain
from ftlib.events.time import ready_again_ns, recovery_point
from ftlib.load.results import LoadResults

if TYPE_CHECKING:
    from ftlib.events.base import Event
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.checks")


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


@dataclass
class LogCheck(Check, ABC):
    """A check on a service's logs; ``pattern`` is a regular expression, checked when built."""

    service: str
    pattern: str

    def __post_init__(self) -> None:
        self._regex = compile_pattern(self.pattern)

    def logs(self, ctx: "ScenarioContext") -> tuple[str, dict[str, str]]:
        """The service's name and its logs (every pod, deleted ones and previous containers too)."""
        service = ctx.spec.resolve_service(self.service).name
        return service, ctx.service_logs(service)


@dataclass
class ServiceLogContains(LogCheck):
    """The service's log matches ``pattern`` (a regular expression): the whole log of every pod
    the service had, deleted pods and terminated containers included, colour codes removed."""

    def validate(self, ctx: "ScenarioContext") -> None:
        service, logs = self.logs(ctx)
        found = first_match(self._regex, logs)
        assert found, (f"expected the {service} log to contain {self.pattern!r}; it does not. "
                       f"Logs searched: {', '.join(logs) or 'none (the service left no log)'}")
        log.info("%s log matches %r in %s: %s", service, self.pattern, found[0], found[1][:200])

    @property
    def description(self) -> str:
        return f"the {self.service} log contains {self.pattern!r}"


@dataclass
class ServiceLogNotContains(LogCheck):
    """No line of the service's log matches ``pattern`` (a regular expression), in any pod the
    service had, deleted pods and terminated containers included."""

    def validate(self, ctx: "ScenarioContext") -> None:
        service, logs = self.logs(ctx)
        hits = []
        for where, text in logs.items():
            hits += [f"{where}: {line.strip()[:200]}" for line in plain(text).splitlines() if self._regex.search(line)]
        assert not hits, (f"expected the {service} log not to contain {self.pattern!r}; {len(hits)} lines match, "
                          f"the first ones:\n  " + "\n  ".join(hits[:5]))

    @property
    def description(self) -> str:
        return f"the {self.service} log does not contain {self.pattern!r}"


@dataclass
class SuccessRate(LoadCheck):
    """At least ``min_percent`` percent of the load's requests succeeded."""

    min_percent: float

    def __post_init__(self) -> None:
        if isinstance(self.min_percent, bool) or not isinstance(self.min_percent, (int, float)) \
                or not 0 <= self.min_percent <= 100:
            raise SpecError(f"a success rate must be a percentage between 0 and 100, got {self.min_percent!r}")

    def validate(self, ctx: "ScenarioContext") -> None:
        results = self.results(ctx)
        assert results.success_rate >= self.min_percent, (
            f"expected a success rate of at least {self.min_percent:g} %; it was {results.success_rate:.2f} %: "
            f"{results.describe()}")

    @property
    def description(self) -> str:
        return f"at least {self.min_percent:g} % of the requests of load {self.name!r} succeed"


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise SpecError(f"{what} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _faults(ctx: "ScenarioContext") -> list["Event"]:
    faults = [e for e in ctx.events if e.is_fault and e.started_ns is not None]
    if not faults:
        raise SpecError("no fault was injected in this scenario, so there is nothing to measure from; "
                        "inject one with a fault step (a pod deleted, a process killed…) before this check")
    return faults


def _timeline(ctx: "ScenarioContext"):
    if ctx.deployment is None:
        raise SpecError("the scenario has no deployment, so there is no platform timeline to read")
    return ctx.deployment.timeline


def recovery_ns(ctx: "ScenarioContext", fault: "Event") -> int | None:
    """When the deployment recovered from ``fault`` (see `ftlib.events.time.recovery_point`)."""
    return recovery_point(ctx.events, fault, _timeline(ctx))[0]


@dataclass
class RecoveredWithin(Check):
    """The deployment was ready again, with every replica, at most ``seconds`` after the last
    fault started (read from the platform's timeline; a deployment that never lost readiness
    recovered in 0 s)."""

    needs_fault: ClassVar[bool] = True

    seconds: float

    def __post_init__(self) -> None:
        self.seconds = _seconds(self.seconds, "a recovery time")

    def validate(self, ctx: "ScenarioContext") -> None:
        fault = _faults(ctx)[-1]
        ready_ns = ready_again_ns(_timeline(ctx), fault.started_ns)
        assert ready_ns is not None, (f"expected the deployment to be ready again within {self.seconds:g} s after "
                                      f"{fault.description}; it never was")
        took = (ready_ns - fault.started_ns) / 1e9
        assert took <= self.seconds, (f"expected the deployment to be ready again within {self.seconds:g} s after "
                                      f"{fault.description}; it took {took:.2f} s")
        log.info("deployment ready again %.2f s after: %s", took, fault.description)

    @property
    def description(self) -> str:
        return f"the deployment recovered within {self.seconds:g} s of the last fault"


@dataclass
class RequestsSucceedAgainWithin(LoadCheck):
    """Clients saw service restored within ``seconds``: a request that started after the last
    fault started succeeded at most ``seconds`` after the fault (measured to its end)."""

    needs_fault: ClassVar[bool] = True

    seconds: float

    def __post_init__(self) -> None:
        self.seconds = _seconds(self.seconds, "the time for requests to succeed again")

    def validate(self, ctx: "ScenarioContext") -> None:
        fault = _faults(ctx)[-1]
        results = self.results(ctx)
        after = [r for r in results.records if r.start_ns >= fault.started_ns]
        succeeded = [r for r in after if r.ok]
        assert succeeded, (f"expected a request started after {fault.description} to succeed within {self.seconds:g} s; "
                           f"none of the {len(after)} requests started after it succeeded ({results.describe()})")
        first = min(succeeded, key=lambda r: r.end_ns)
        took = (first.end_ns - fault.started_ns) / 1e9
        failed_before = sum(not r.ok and r.end_ns <= first.end_ns for r in after)
        assert took <= self.seconds, (
            f"expected a request started after {fault.description} to succeed within {self.seconds:g} s; the first "
            f"one succeeded after {took:.2f} s ({failed_before} requests started after the fault failed before it)")
        log.info("requests succeeded again %.2f s after: %s", took, fault.description)

    @property
    def description(self) -> str:
        return f"requests of load {self.name!r} succeed again within {self.seconds:g} s of the fault"


@dataclass
class NoFailuresOutsideFaultWindow(LoadCheck):
    """Every failed request of the load ended inside the fault window: from the start of the
    first fault to the recovery from the last one (what a recovery wait recorded, else the
    first moment the deployment was ready again, and never before the last fault ended)."""

    needs_fault: ClassVar[bool] = True

    def validate(self, ctx: "ScenarioContext") -> None:
        faults = _faults(ctx)
        first, last = faults[0], faults[-1]
        recovered = recovery_ns(ctx, last)
        assert recovered is not None, (f"expected the fault window to close when the deployment recovered; it never "
                                       f"recovered after {last.description}")
        start, end = first.started_ns, max(recovered, last.ended_ns or recovered)
        results = self.results(ctx)
        outside = sorted((r for r in results.records if not r.ok and not start <= r.end_ns <= end),
                         key=lambda r: r.end_ns)
        listing = "\n  ".join(f"ended at {(r.end_ns - start) / 1e9:+.2f} s: {r.failure}" for r in outside[:5])
        assert not outside, (
            f"expected no failed request outside the fault window (0 to {(end - start) / 1e9:.2f} s after the start of "
            f"{first.description}); {len(outside)} of {results.failed} failed requests ended outside it, the first "
            f"ones:\n  {listing}")
        log.info("fault window 0 to %.2f s: %d failed requests, all inside it", (end - start) / 1e9, results.failed)

    @property
    def description(self) -> str:
        return f"no request of load {self.name!r} fails outside the fault window"


__all__ = ["Check", "LoadCheck", "ZeroErrors", "MaxErrors", "MinRequests", "MinFailures", "WasCancelled",
           "ServiceLogContains", "ServiceLogNotContains", "SuccessRate", "RecoveredWithin",
           "RequestsSucceedAgainWithin", "NoFailuresOutsideFaultWindow"]
