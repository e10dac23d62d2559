"""The fault tolerance report: what clients saw before and after each fault, and how long the
deployment took to start and to recover."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ftlib import evidence
from ftlib.events.base import started_faults
from ftlib.events.load import StartLoad
from ftlib.events.time import recovery_point
from ftlib.reports.base import Report
from ftlib.windows import FaultWindow, fault_label, fault_windows

if TYPE_CHECKING:
    from ftlib.events.base import Event
    from ftlib.load.results import RequestRecord
    from ftlib.platform.base import Timeline
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
MARKDOWN_FILE = "fault_tolerance_report.md"
JSON_FILE = "fault_tolerance_report.json"
WHOLE_RUN = "whole run"


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) with linear interpolation between ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LatencyStats:
    """Latency of the successful requests of one window, in milliseconds."""

    requests: int
    mean_ms: float | None
    p50_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, records: Iterable["RequestRecord"]) -> "LatencyStats":
        values = [r.latency_ms for r in records if r.ok and r.latency_ms is not None]
        mean = sum(values) / len(values) if values else None
        return cls(len(values), mean, percentile(values, 50), percentile(values, 99))


@dataclass
class FaultRow:
    """One row of the report: one fault (requests split at its start) or the whole run."""

    label: str
    description: str
    fault_ns: int | None = None
    fault_at_seconds: float | None = None  # after the load's first request started
    startup_seconds: float | None = None
    recovery_seconds: float | None = None
    recovery_source: str = ""
    succeeded: int = 0
    failed: int = 0
    succeeded_before: int | None = None
    failed_before: int | None = None
    succeeded_after: int | None = None
    failed_after: int | None = None
    latency: LatencyStats | None = None
    latency_before: LatencyStats | None = None
    latency_after: LatencyStats | None = None
    load_spans_fault: bool | None = None
    load_spans_recovery: bool | None = None


@dataclass
class FaultToleranceSummary:
    """Everything the report says, as written to ``fault_tolerance_report.json``."""

    scenario: str
    load: str | None
    startup_seconds: float | None
    load_first_start_ns: int | None = None
    load_last_end_ns: int | None = None
    load_was_cancelled: bool | None = None
    rows: list[FaultRow] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)  # each fault against time (`ftlib.windows`)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def load_seconds(self) -> float | None:
        if self.load_first_start_ns is None or self.load_last_end_ns is None:
            return None
        return (self.load_last_end_ns - self.load_first_start_ns) / 1e9


class FaultToleranceReport(Report):
    """Fault tolerance report (``fault_tolerance_report.md`` and ``.json``).

    For one load (the first one started, or the one named by ``load``) and every fault the
    scenario injected (events such as DeletePod or TerminateProcess):

    - requests that succeeded and failed *before* the fault (the request ended before the fault
      started) and *after* it (every other request);
    - latency of the successful requests before and after (mean, p50, p99, in ms);
    - startup seconds (deploy until every replica was ready) and recovery seconds: the
      ``recovery_seconds`` measured by the next "deployment recovers" wait after the fault, or
      else the time from the fault to the first ``deployment_ready`` the platform recorded;
    - whether the load covered the fault (its first request started before the fault and its
      last one ended after it) and the recovery (its last request ended after the deployment
      was ready again). When it did not, the report says so in a warning: an "after" column
      then does not show how the recovered system behaves;
    - for each fault against time (`ftlib.windows.FaultWindow`): the requests in flight when it
      hit and how they ended (a **warning** when there were none: the run then measured how new
      requests are refused, not streams cut mid-flight), what the fault step's wait for requests
      in flight saw, when the deployment was ready again, the first success and the last
      failure after the fault, failures before it, while the deployment was not ready and after
      it was ready again, and cut streams against rejected requests.

    A last row covers the whole run. A scenario without a load, or without a fault, still gets
    a report that says so. The report reads only recorded results, so it can be written after
    teardown and after a failed check.
    """

    def __init__(self, load: str | None = None):
        self.load = load
        self._logged = ""

    @property
    def description(self) -> str:
        which = f"load {self.load!r}" if self.load else "the first load"
        return f"fault tolerance report of {which}"

    # -- building -------------------------------------------------------------------------
    def summarize(self, ctx: "ScenarioContext") -> FaultToleranceSummary:
        """What the report says, without writing anything."""
        summary = FaultToleranceSummary(ctx.name, None, ctx.startup_seconds)
        events = list(ctx.events)
        faults = started_faults(events)
        load = self._choose_load(events, summary)
        if not faults:
            summary.notes.append("no fault was injected in this scenario")
        if load is None:
            return summary
        records = load.results.records
        summary.load_first_start_ns = min(r.start_ns for r in records)
        summary.load_last_end_ns = max(r.end_ns for r in records)
        summary.load_was_cancelled = load.results.was_cancelled
        timeline = getattr(ctx.deployment, "timeline", None)
        for fault in faults:
            summary.rows.append(self._fault_row(fault, records, events, timeline, summary))
        summary.rows.append(self._whole_run_row(records, summary))
        summary.faults = fault_windows(events, records, timeline)
        summary.warnings += in_flight_warnings(summary.faults)
        return summary

    def _choose_load(self, events: list["Event"], summary: FaultToleranceSummary) -> StartLoad | None:
        loads = [e for e in events if isinstance(e, StartLoad)]
        if self.load is not None:
            loads = [e for e in loads if e.name == self.load]
        if not loads:
            what = f"no load named {self.load!r}" if self.load else "no load"
            summary.notes.insert(0, f"{what} ran in this scenario: there are no requests to report on")
            return None
        load = loads[0]
        summary.load = load.name
        if load.results is None or not load.results.records:
            summary.notes.insert(0, f"load {load.name!r} has no results (it failed, or was never collected): "
                                    "there are no requests to report on")
            return None
        return load

    def _fault_row(self, fault: "Event", records: list["RequestRecord"], events: list["Event"],
                   timeline: "Timeline | None",
                   summary: FaultToleranceSummary) -> FaultRow:
        fault_ns = fault.started_ns
        before = [r for r in records if r.end_ns < fault_ns]
        after = [r for r in records if r.end_ns >= fault_ns]
        recovered, source = recovery_point(events, fault, timeline)
        recovery = None if recovered is None else (recovered - fault_ns) / 1e9
        first, last = summary.load_first_start_ns, summary.load_last_end_ns
        label = fault_label(fault)
        row = FaultRow(
            label=label, description=fault.description, fault_ns=fault_ns,
            fault_at_seconds=(fault_ns - first) / 1e9, startup_seconds=summary.startup_seconds,
            recovery_seconds=recovery, recovery_source=source,
            succeeded=sum(r.ok for r in records), failed=sum(not r.ok for r in records),
            latency=LatencyStats.of(records),
            succeeded_before=sum(r.ok for r in before), failed_before=sum(not r.ok for r in before),
            succeeded_after=sum(r.ok for r in after), failed_after=sum(not r.ok for r in after),
            latency_before=LatencyStats.of(before), latency_after=LatencyStats.of(after),
            load_spans_fault=first < fault_ns < last,
        )
        if first >= fault_ns:
            summary.warnings.append(f"the load did not cover {label}: its first request started "
                                    f"{(first - fault_ns) / 1e9:.1f} s after the fault")
        elif last <= fault_ns:
            summary.warnings.append(f"the load did not cover {label}: its last request ended "
                                    f"{(fault_ns - last) / 1e9:.1f} s before the fault")
        if recovery is None:
            summary.warnings.append(f"no recovery from {label} was recorded ({source}); "
                                    "whether the load covered the recovery is unknown")
        else:
            recovered_ns = fault_ns + int(recovery * 1e9)
            row.load_spans_recovery = last > recovered_ns
            if not row.load_spans_recovery:
                summary.warnings.append(f"the load did not cover the recovery from {label}: its last request "
                                        f"ended {(recovered_ns - last) / 1e9:.1f} s before the deployment was "
                                        "ready again, so the 'after' columns do not show the recovered system")
        return row

    @staticmethod
    def _whole_run_row(records: list["RequestRecord"], summary: FaultToleranceSummary) -> FaultRow:
        return FaultRow(label=WHOLE_RUN, description="every request of the load",
                        startup_seconds=summary.startup_seconds,
                        succeeded=sum(r.ok for r in records), failed=sum(not r.ok for r in records),
                        latency=LatencyStats.of(records))

    # -- writing --------------------------------------------------------------------------
    def generate(self, ctx: "ScenarioContext") -> list[Path]:
        summary = self.summarize(ctx)
        markdown = evidence.write_text(ctx.output_dir / MARKDOWN_FILE, text := to_markdown(summary))
        data = evidence.write_text(ctx.output_dir / JSON_FILE, json.dumps(to_json(summary), indent=1) + "\n")
        if text != self._logged:
            log.info("fault tolerance report: %s\n%s", markdown, text)
            self._logged = text
        else:
            log.info("fault tolerance report (unchanged): %s", markdown)
        return [markdown, data]


def in_flight_warnings(windows: list[FaultWindow]) -> list[str]:
    """A warning for each fault that hit no request in flight, and for each fault step whose
    wait for requests in flight ran out."""
    warnings = []
    for window in windows:
        wait = window.in_flight_wait
        if wait is not None and not wait.reached:
            warnings.append(f"{window.label} was injected after waiting {wait.waited_seconds:.1f} s for "
                            f"{wait.wanted} requests in flight without seeing them (the frontend reported at most "
                            f"{wait.most_seen})")
        if window.in_flight == 0:
            warnings.append(f"0 requests were in flight when {window.label} hit: this run measured how new requests "
                            "are refused, not what happens to requests cut mid-flight")
    return warnings


# -- rendering ------------------------------------------------------------------------------
def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "**NO**")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def to_markdown(summary: FaultToleranceSummary) -> str:
    lines = [f"# Fault tolerance report: {summary.scenario}", ""]
    if summary.load is not None and summary.load_seconds is not None:
        cancelled = ", cancelled" if summary.load_was_cancelled else ""
        lines += [f"Load `{summary.load}`: requests from first start to last end {summary.load_seconds:.1f} s"
                  f"{cancelled}. Startup {_num(summary.startup_seconds)} s.", ""]
    for note in summary.notes:
        lines += [f"*Note:* {note}.", ""]
    for warning in summary.warnings:
        lines += [f"**Warning:** {warning}.", ""]
    if not summary.rows:
        return "\n".join(lines).rstrip() + "\n"
    faults = [r for r in summary.rows if r.label != WHOLE_RUN]
    whole = [r for r in summary.rows if r.label == WHOLE_RUN]
    lines += ["## Timing", ""]
    lines += _table(["Fault", "At (s into load)", "Startup (s)", "Recovery (s)", "Recovery measured by",
                     "Load ran across the fault", "Load ran past ready again"],
                    [[r.label, _num(r.fault_at_seconds), _num(r.startup_seconds), _num(r.recovery_seconds),
                      r.recovery_source or "-", _yes_no(r.load_spans_fault), _yes_no(r.load_spans_recovery)]
                     for r in faults]
                    + [[WHOLE_RUN, "-", _num(r.startup_seconds), "-", "-", "-", "-"] for r in whole])
    lines += ["", "## Requests (split at the fault's start by request end time)", ""]
    lines += _table(["Fault", "Succeeded before", "Failed before", "Succeeded after", "Failed after"],
                    [[r.label, str(r.succeeded_before), str(r.failed_before), str(r.succeeded_after),
                      str(r.failed_after)] for r in faults]
                    + [[f"{WHOLE_RUN} (all requests)", str(r.succeeded), str(r.failed), "-", "-"]
                       for r in whole])
    lines += ["", "## Latency of successful requests (ms)", ""]
    latency_rows = []
    for r in faults:
        for window, stats in (("before", r.latency_before), ("after", r.latency_after)):
            latency_rows.append([r.label, window, str(stats.requests), _num(stats.mean_ms), _num(stats.p50_ms),
                                 _num(stats.p99_ms)])
    for r in whole:
        stats = r.latency
        latency_rows.append([WHOLE_RUN, "all", str(stats.requests), _num(stats.mean_ms), _num(stats.p50_ms),
                             _num(stats.p99_ms)])
    lines += _table(["Fault", "Window", "Requests", "Mean", "p50", "p99"], latency_rows)
    lines += _fault_window_tables(summary.faults)
    return "\n".join(lines) + "\n"


def _waited(window: FaultWindow) -> str:
    wait = window.in_flight_wait
    if wait is None:
        return "none (no load was running)"
    seen = "-" if wait.most_seen is None else str(wait.most_seen)
    outcome = "" if wait.reached else ", **not reached**"
    return f"{wait.waited_seconds:.2f} s for {wait.wanted} (frontend saw up to {seen}{outcome})"


def _fault_window_tables(windows: list[FaultWindow]) -> list[str]:
    if not windows:
        return []
    lines = ["", "## What each fault hit (requests started before it and ended after it)", ""]
    lines += _table(["Fault", "At (s into load)", "Requests in flight", "Of those: succeeded", "Cut",
                     "Failed otherwise", "Wait for requests in flight before the fault"],
                    [[w.label, _num(w.fault_at_seconds), str(w.in_flight) if w.in_flight else "**0**",
                      str(w.in_flight_succeeded), str(w.in_flight_cut), str(w.in_flight_failed_otherwise),
                      _waited(w)] for w in windows])
    lines += ["", "## Failures against time (seconds after the fault; the deployment was not ready from the fault "
                  "until ready again)", ""]
    lines += _table(["Fault", "Ready again", "First success", "Last failure", "Last failure after ready again",
                     "Failed before the fault", "Failed while not ready", "Failed after ready again", "Cut streams",
                     "Rejected (HTTP error)", "Failed otherwise"],
                    [[w.label, _num(w.ready_again_seconds, 2), _num(w.first_success_seconds, 2),
                      _num(w.last_failure_seconds, 2), _num(w.last_failure_after_ready_seconds, 2),
                      str(w.failed_before), str(w.failed_while_not_ready), str(w.failed_after_ready), str(w.cut),
                      str(w.rejected), str(w.failed_otherwise)] for w in windows])
    return lines


def to_json(summary: FaultToleranceSummary) -> dict:
    data = asdict(summary)
    data["load_seconds"] = summary.load_seconds
    return data
