"""Each fault measured against time, from what was recorded: the requests of a load and when
the deployment was ready again.

For one fault, the *not-ready window* runs from the fault's start to the moment the deployment
was ready again with every replica (never before the fault step ended; see
`ftlib.events.time.recovery_point`). A fault's *scope* runs from its start to the next fault's
start (or the end of the load), so a second fault's failures are not blamed on the first.
Everything here is a pure function of recorded numbers, so it can be computed after teardown
and tested on a real run's records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ftlib.events.base import started_faults
from ftlib.events.time import recovery_point
from ftlib.load.inflight import CUT, FAILED_OTHERWISE, REJECTED, SUCCEEDED, InFlightWait, in_flight_at, outcomes

if TYPE_CHECKING:
    from ftlib.events.base import Event
    from ftlib.load.results import RequestRecord
    from ftlib.platform.base import Timeline


def _seconds(ns: int | None, since_ns: int | None) -> float | None:
    return None if ns is None or since_ns is None else (ns - since_ns) / 1e9


@dataclass
class FaultWindow:
    """The numbers of one fault (seconds are measured from the fault's start unless named
    otherwise; None means "never" or "unknown").

    - ``in_flight``: requests in flight when the fault started (started before it, ended after
      it), and how they ended: ``in_flight_succeeded``, ``in_flight_cut`` (the response had
      begun and stopped early), ``in_flight_failed_otherwise``;
    - ``ready_again_seconds``: when the not-ready window closed (``ready_again_source`` says
      how that is known); None if the deployment was never seen ready again;
    - ``first_success_seconds``: the end of the first request that started at or after the
      fault and succeeded;
    - ``last_failure_seconds``: the end of the last failed request in the fault's scope, and
      ``last_failure_after_ready_seconds`` the same measured from "ready again" (more than 0: a
      request failed after the deployment was ready again);
    - ``failed_before`` (ended before the fault), ``failed_while_not_ready`` (ended inside the
      not-ready window), ``failed_after_ready`` (ended after it, within the fault's scope);
    - of the failures in the fault's scope: ``cut`` (streams cut), ``rejected`` (an HTTP error
      before any output, such as 503) and ``failed_otherwise`` (refused or reset connections,
      timeouts, cancellations);
    - ``in_flight_wait``: what the fault step's wait for requests in flight saw, if it waited.
    """

    label: str
    description: str
    fault_ns: int
    fault_at_seconds: float | None  # after the load's first request started
    in_flight: int
    in_flight_succeeded: int
    in_flight_cut: int
    in_flight_failed_otherwise: int
    ready_again_seconds: float | None
    ready_again_source: str
    first_success_seconds: float | None
    last_failure_seconds: float | None
    last_failure_after_ready_seconds: float | None
    failed_before: int
    failed_while_not_ready: int
    failed_after_ready: int
    cut: int
    rejected: int
    failed_otherwise: int
    in_flight_wait: InFlightWait | None = None


def fault_window(records: Iterable["RequestRecord"], fault_ns: int, ready_ns: int | None,
                 until_ns: int | None = None, load_start_ns: int | None = None, label: str = "",
                 description: str = "", ready_source: str = "") -> FaultWindow:
    """The numbers of a fault that started at ``fault_ns``, from the load's ``records``.

    ``ready_ns``: when the deployment was ready again (the not-ready window's end; None: never).
    ``until_ns``: the end of the fault's scope (the next fault's start; None: the load's end).
    ``load_start_ns``: the load's first request start, for ``fault_at_seconds``.
    """
    records = sorted(records, key=lambda r: r.end_ns)
    hit = in_flight_at(records, fault_ns)
    hit_ended = outcomes(hit)
    scope = [r for r in records if fault_ns <= r.end_ns and (until_ns is None or r.end_ns < until_ns)]
    failures = [r for r in scope if not r.ok]
    kinds = outcomes(failures)
    inside = [r for r in failures if ready_ns is None or r.end_ns <= ready_ns]
    first_ok = min((r.end_ns for r in scope if r.ok and r.start_ns >= fault_ns), default=None)
    last_failure = failures[-1].end_ns if failures else None
    return FaultWindow(
        label=label, description=description, fault_ns=fault_ns,
        fault_at_seconds=_seconds(fault_ns, load_start_ns),
        in_flight=len(hit), in_flight_succeeded=hit_ended[SUCCEEDED], in_flight_cut=hit_ended[CUT],
        in_flight_failed_otherwise=hit_ended[REJECTED] + hit_ended[FAILED_OTHERWISE],
        ready_again_seconds=_seconds(ready_ns, fault_ns), ready_again_source=ready_source,
        first_success_seconds=_seconds(first_ok, fault_ns),
        last_failure_seconds=_seconds(last_failure, fault_ns),
        last_failure_after_ready_seconds=_seconds(last_failure, ready_ns),
        failed_before=sum(not r.ok and r.end_ns < fault_ns for r in records),
        failed_while_not_ready=len(inside), failed_after_ready=len(failures) - len(inside),
        cut=kinds[CUT], rejected=kinds[REJECTED], failed_otherwise=kinds[FAILED_OTHERWISE])


def fault_label(fault: "Event") -> str:
    """``DeletePod(decode)``: the event type and the services it targets."""
    services = getattr(fault, "services", None) or []
    return f"{type(fault).__name__}({','.join(services)})"


def fault_windows(events: list["Event"], records: list["RequestRecord"],
                  timeline: "Timeline | None") -> list[FaultWindow]:
    """`fault_window` of every fault that started, in order, with "ready again" from
    `recovery_point` (never before the fault step ended) and the fault step's in-flight wait."""
    faults = started_faults(events)
    load_start = min((r.start_ns for r in records), default=None)
    windows = []
    for number, fault in enumerate(faults):
        ready, source = recovery_point(events, fault, timeline)
        if ready is not None and fault.ended_ns is not None:
            ready = max(ready, fault.ended_ns)
        until = faults[number + 1].started_ns if number + 1 < len(faults) else None
        window = fault_window(records, fault.started_ns, ready, until, load_start, fault_label(fault),
                              fault.description, source)
        window.in_flight_wait = getattr(fault, "in_flight_wait", None)
        windows.append(window)
    return windows


def describe(window: FaultWindow) -> str:
    """One line for logs and verdicts."""
    def at(value: float | None) -> str:
        return "never" if value is None else f"{value:+.2f} s"
    return (f"{window.label}: {window.in_flight} in flight ({window.in_flight_succeeded} succeeded, "
            f"{window.in_flight_cut} cut, {window.in_flight_failed_otherwise} failed otherwise); ready again "
            f"{at(window.ready_again_seconds)}, first success {at(window.first_success_seconds)}, last failure "
            f"{at(window.last_failure_seconds)}; failed while not ready {window.failed_while_not_ready}, after "
            f"ready again {window.failed_after_ready}; cut {window.cut}, rejected {window.rejected}, failed "
            f"otherwise {window.failed_otherwise}")


__all__ = ["FaultWindow", "fault_window", "fault_windows", "fault_label", "describe"]
