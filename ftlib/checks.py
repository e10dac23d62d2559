"""Checks: verdicts on what a scenario recorded. One class per check.

`Check.judge` reads the recorded data and returns a `Verdict` stating what was expected and
what was observed, with numbers, whether it passed or not (see `ftlib.verdicts`); `validate`
raises `CheckFailed` (an `AssertionError`) from a failed verdict, so the scenario *failed*. A
check that cannot judge (no such load, a load without results) raises an `FtError`: the
scenario is *broken*. Load checks count requests honestly (see `ftlib.load.results`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ftlib import validate
from ftlib.errors import SpecError
from ftlib.events.base import started_faults
from ftlib.events.logs import compile_pattern, first_match, plain
from ftlib.events.time import ready_again_ns, recovery_point
from ftlib.load.inflight import describe_in_flight, in_flight_at
from ftlib.load.results import RECORDS_FILE, LoadResults
from ftlib.verdicts import Verdict, raise_if_failed

if TYPE_CHECKING:
    from ftlib.events.base import Event
    from ftlib.plan import PlanValidator
    from ftlib.scenario import ScenarioContext
    from ftlib.spec import DeploymentSpec



class Check(ABC):
    """Base class: `judge` returns the check's `Verdict`; `validate` raises `CheckFailed` when
    it failed. ``expected`` is the requirement in short (``errors ≤ 35``), known before the run.

    Before anything is deployed, the plan (`ftlib.plan.PlanValidator`) resolves every service
    `target_services` names, requires a fault step before a check that ``needs_fault``, and calls `plan`
    for the rest. Every check declares its target services.
    """

    needs_fault: ClassVar[bool] = False

    @abstractmethod
    def target_services(self) -> list[str]:
        """The services the check reads, as the scenario names them; [] for none."""

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        """Check this check against ``spec`` and the steps before it; raise `SpecError`."""

    @abstractmethod
    def judge(self, ctx: "ScenarioContext") -> Verdict: ...

    def validate(self, ctx: "ScenarioContext") -> None:
        raise_if_failed([self.judge(ctx)])

    @property
    @abstractmethod
    def description(self) -> str: ...

    @property
    @abstractmethod
    def expected(self) -> str: ...

    def verdict(self, passed: bool, observed: str, evidence: object = "", details: str = "") -> Verdict:
        return Verdict(self.description, self.expected, observed, bool(passed), str(evidence or ""), details)


def failure_kinds(results: LoadResults) -> str:
    """`` (503 Service Unavailable ×4, stream cut (no output) ×1)``, or nothing without failures."""
    kinds = ", ".join(f"{kind} ×{count}" for kind, count in results.failure_kinds().most_common())
    return f" ({kinds})" if kinds else ""


@dataclass
class LoadCheck(Check, ABC):
    """A check on the results of one named load."""

    name: str = field(default="default", kw_only=True)

    def target_services(self) -> list[str]:
        return []

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        validator.require_load(self.name)

    def results(self, ctx: "ScenarioContext") -> LoadResults:
        return ctx.load_results(self.name)

    def of_load(self, what: str) -> str:
        """``what`` naming the load when it is not the default one."""
        return what if self.name == "default" else f"{what} (load {self.name!r})"

    @staticmethod
    def records_file(results: LoadResults) -> Path | str:
        """The load's per-request records, the evidence of its verdicts ("" without a folder)."""
        return results.directory / RECORDS_FILE if results.directory else ""

    def load_verdict(self, results: LoadResults, passed: bool, observed: str) -> Verdict:
        """A verdict read from the load's per-request records, with the load's state noted."""
        cancelled = ", load cancelled" if results.was_cancelled else ""
        return self.verdict(passed, observed + cancelled, self.records_file(results))

    def failed_of(self, results: LoadResults) -> str:
        return f"{results.failed} of {results.total} failed{failure_kinds(results)}"


@dataclass
class ZeroErrors(LoadCheck):
    """No request of the load failed (errors, cut streams and short outputs all count)."""

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        return self.load_verdict(results, results.failed == 0, self.failed_of(results))

    @property
    def expected(self) -> str:
        return self.of_load("no errors")

    @property
    def description(self) -> str:
        return f"no failed requests in load {self.name!r}"


@dataclass
class MaxErrors(LoadCheck):
    """At most ``max_errors`` requests of the load failed."""

    max_errors: int

    def __post_init__(self) -> None:
        validate.count(self.max_errors, "the maximum number of errors")

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        return self.load_verdict(results, results.failed <= self.max_errors, self.failed_of(results))

    @property
    def expected(self) -> str:
        return self.of_load(f"errors ≤ {self.max_errors}")

    @property
    def description(self) -> str:
        return f"at most {self.max_errors} failed requests in load {self.name!r}"


@dataclass
class MinRequests(LoadCheck):
    """At least ``min_count`` requests of the load succeeded."""

    min_count: int

    def __post_init__(self) -> None:
        validate.count(self.min_count, "the minimum number of successful requests")

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        super().plan(validator, spec)
        validator.require_at_most_sent(self.name, self.min_count, self.description)

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        return self.load_verdict(results, results.succeeded >= self.min_count,
                                 f"{results.succeeded} of {results.total} succeeded")

    @property
    def expected(self) -> str:
        return self.of_load(f"successes ≥ {self.min_count}")

    @property
    def description(self) -> str:
        return f"at least {self.min_count} successful requests in load {self.name!r}"


@dataclass
class MinFailures(LoadCheck):
    """At least ``min_count`` requests of the load failed: for scenarios that prove a fault is
    visible to clients (for example, killing a worker with request migration disabled)."""

    min_count: int

    def __post_init__(self) -> None:
        validate.count(self.min_count, "the minimum number of failed requests")

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        super().plan(validator, spec)
        validator.require_at_most_sent(self.name, self.min_count, self.description)

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        return self.load_verdict(results, results.failed >= self.min_count, self.failed_of(results))

    @property
    def expected(self) -> str:
        return self.of_load(f"failures ≥ {self.min_count}")

    @property
    def description(self) -> str:
        return f"at least {self.min_count} failed requests in load {self.name!r}"


@dataclass
class WasCancelled(LoadCheck):
    """The load was (``cancelled=True``) or was not (``cancelled=False``) stopped before it finished."""

    cancelled: bool = True

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        state = "it was cancelled" if results.was_cancelled else "it ran to completion"
        return self.verdict(results.was_cancelled == self.cancelled,
                            f"{state} ({results.total} requests recorded)", self.records_file(results))

    @property
    def description(self) -> str:
        return f"load {self.name!r} {'was' if self.cancelled else 'was not'} cancelled"

    @property
    def expected(self) -> str:
        return f"load {self.name!r} {'cancelled' if self.cancelled else 'ran to completion'}"


@dataclass
class LogCheck(Check, ABC):
    """A check on a service's logs; ``pattern`` is a regular expression, checked when built."""

    service: str
    pattern: str

    def __post_init__(self) -> None:
        self._regex = compile_pattern(self.pattern)

    def target_services(self) -> list[str]:
        return [self.service]

    def logs(self, ctx: "ScenarioContext") -> tuple[str, dict[str, str]]:
        """The service's name and its logs (every pod, deleted ones and previous containers too)."""
        service = ctx.spec.resolve_service(self.service).name
        return service, ctx.service_logs(service)

    def log_verdict(self, ctx: "ScenarioContext", service: str, passed: bool, observed: str,
                    details: str = "") -> Verdict:
        return self.verdict(passed, observed, ctx.output_dir / service, details)


@dataclass
class ServiceLogContains(LogCheck):
    """The service's log matches ``pattern`` (a regular expression): the whole log of every pod
    the service had, deleted pods and terminated containers included, colour codes removed."""

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        service, logs = self.logs(ctx)
        found = first_match(self._regex, logs)
        if found:
            return self.log_verdict(ctx, service, True, f"found in {found[0]}: {found[1].strip()[:200]}")
        searched = ", ".join(logs) or "none (the service left no log)"
        return self.log_verdict(ctx, service, False, f"no line matches in {len(logs)} logs",
                                f"logs searched: {searched}")

    @property
    def expected(self) -> str:
        return f"the {self.service} log contains {self.pattern!r}"

    @property
    def description(self) -> str:
        return f"the {self.service} log contains {self.pattern!r}"


@dataclass
class ServiceLogNotContains(LogCheck):
    """No line of the service's log matches ``pattern`` (a regular expression), in any pod the
    service had, deleted pods and terminated containers included."""

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        service, logs = self.logs(ctx)
        hits = []
        for where, text in logs.items():
            hits += [f"{where}: {line.strip()[:200]}" for line in plain(text).splitlines() if self._regex.search(line)]
        if not hits:
            return self.log_verdict(ctx, service, True, f"no line matches in {len(logs)} logs")
        return self.log_verdict(ctx, service, False, f"{len(hits)} lines match in {len(logs)} logs",
                                "the first ones:\n" + "\n".join(hits[:5]))

    @property
    def expected(self) -> str:
        return f"the {self.service} log does not contain {self.pattern!r}"

    @property
    def description(self) -> str:
        return f"the {self.service} log does not contain {self.pattern!r}"


@dataclass
class SuccessRate(LoadCheck):
    """At least ``min_percent`` percent of the load's requests succeeded."""

    min_percent: float

    def __post_init__(self) -> None:
        validate.number(self.min_percent, "a success rate", low=0, high=100, unit=" percent")

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        results = self.results(ctx)
        return self.load_verdict(results, results.success_rate >= self.min_percent,
                                 f"{results.success_rate:.2f} % ({results.succeeded} of {results.total} succeeded)")

    @property
    def expected(self) -> str:
        return self.of_load(f"success rate ≥ {self.min_percent:g} %")

    @property
    def description(self) -> str:
        return f"at least {self.min_percent:g} % of the requests of load {self.name!r} succeed"


def _faults(ctx: "ScenarioContext") -> list["Event"]:
    faults = started_faults(ctx.events)
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
        self.seconds = validate.positive_seconds(self.seconds, "a recovery time")  # as WaitForRecovery's timeout

    def target_services(self) -> list[str]:
        return []

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        fault = _faults(ctx)[-1]
        ready_ns = ready_again_ns(_timeline(ctx), fault.started_ns)
        evidence = ctx.output_dir / "timeline.json"
        if ready_ns is None:
            return self.verdict(False, f"never ready again after {fault.description}", evidence,
                                "platform timeline since the fault:\n" + _timeline(ctx).render(fault.started_ns))
        took = (ready_ns - fault.started_ns) / 1e9
        return self.verdict(took <= self.seconds, f"ready again {took:.2f} s after {fault.description}", evidence)

    @property
    def expected(self) -> str:
        return f"ready again ≤ {self.seconds:g} s after the last fault"

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
        self.seconds = validate.positive_seconds(self.seconds, "the time for requests to succeed again")

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        super().plan(validator, spec)
        validator.require_sending_after_last_fault(self.name, self.description)

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        fault = _faults(ctx)[-1]
        results = self.results(ctx)
        after = [r for r in results.records if r.start_ns >= fault.started_ns]
        succeeded = [r for r in after if r.ok]
        if not succeeded:
            return self.load_verdict(results, False, f"none of the {len(after)} requests started after "
                                                     f"{fault.description} succeeded")
        first = min(succeeded, key=lambda r: r.end_ns)
        took = (first.end_ns - fault.started_ns) / 1e9
        failed_before = sum(not r.ok and r.end_ns <= first.end_ns for r in after)
        return self.load_verdict(results, took <= self.seconds,
                                 f"first success {took:.2f} s after {fault.description} "
                                 f"({failed_before} requests started after the fault failed before it)")

    @property
    def expected(self) -> str:
        return self.of_load(f"a request succeeds ≤ {self.seconds:g} s after the last fault")

    @property
    def description(self) -> str:
        return f"requests of load {self.name!r} succeed again within {self.seconds:g} s of the fault"


@dataclass
class NoFailuresOutsideFaultWindow(LoadCheck):
    """Every failed request of the load ended inside the fault window: from the start of the
    first fault to the recovery from the last one (what a recovery wait recorded, else the
    first moment the deployment was ready again, and never before the last fault ended)."""

    needs_fault: ClassVar[bool] = True

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        faults = _faults(ctx)
        first, last = faults[0], faults[-1]
        recovered = recovery_ns(ctx, last)
        if recovered is None:
            return self.verdict(False, f"the window never closed: no recovery after {last.description}",
                                ctx.output_dir / "timeline.json")
        start, end = first.started_ns, max(recovered, last.ended_ns or recovered)
        results = self.results(ctx)
        outside = sorted((r for r in results.records if not r.ok and not start <= r.end_ns <= end),
                         key=lambda r: r.end_ns)
        window = f"window 0 to {(end - start) / 1e9:.2f} s after {first.description}"
        verdict = self.load_verdict(results, not outside,
                                    f"{len(outside)} of {results.failed} failed requests outside the {window}")
        listing = "\n".join(f"ended at {(r.end_ns - start) / 1e9:+.2f} s: {r.failure}" for r in outside[:5])
        return replace(verdict, details=f"the first ones:\n{listing}" if outside else "")

    @property
    def expected(self) -> str:
        return self.of_load("no failure outside the fault window")

    @property
    def description(self) -> str:
        return f"no request of load {self.name!r} fails outside the fault window"


@dataclass
class FaultHitInFlight(LoadCheck):
    """At least ``min_count`` requests of the load were in flight when the last fault started:
    counted from the per-request records (started before the fault, ended after it), so a fault
    that landed in a lull between requests fails, whatever the live count said. The observation
    says how the requests hit ended (succeeded, cut, failed otherwise)."""

    needs_fault: ClassVar[bool] = True

    min_count: int

    def __post_init__(self) -> None:
        validate.count(self.min_count, "the number of requests in flight", low=1, high=validate.MAX_CONCURRENCY)

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        super().plan(validator, spec)
        validator.require_hit_by_last_fault(self.name, self.min_count, self.description)

    def judge(self, ctx: "ScenarioContext") -> Verdict:
        fault = _faults(ctx)[-1]
        results = self.results(ctx)
        hit = in_flight_at(results.records, fault.started_ns)
        verdict = self.load_verdict(results, len(hit) >= self.min_count,
                                    f"{describe_in_flight(hit)} at {fault.description}")
        wait = getattr(fault, "in_flight_wait", None)
        ended = max((r.end_ns for r in results.records if r.end_ns <= fault.started_ns), default=None)
        began = min((r.start_ns for r in results.records if r.start_ns >= fault.started_ns), default=None)
        around = [f"the last request before it ended {(fault.started_ns - ended) / 1e9:.2f} s before the fault"
                  if ended else "no request ended before the fault",
                  f"the next one started {(began - fault.started_ns) / 1e9:.2f} s after it"
                  if began else "no request started after it"]
        details = ([f"before the fault: {wait.describe()}"] if wait is not None else []) + around
        return replace(verdict, details="" if verdict.passed else "\n".join(details))

    @property
    def expected(self) -> str:
        return self.of_load(f"in flight at the last fault ≥ {self.min_count}")

    @property
    def description(self) -> str:
        return f"the last fault hit at least {self.min_count} requests of load {self.name!r} in flight"


__all__ = ["Check", "LoadCheck", "ZeroErrors", "MaxErrors", "MinRequests", "MinFailures", "WasCancelled",
           "ServiceLogContains", "ServiceLogNotContains", "SuccessRate", "RecoveredWithin",
           "RequestsSucceedAgainWithin", "NoFailuresOutsideFaultWindow", "FaultHitInFlight"]
