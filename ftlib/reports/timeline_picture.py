"""The timeline picture: every request, every fault and the deployment's readiness on one clock."""

from __future__ import annotations

import logging
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ftlib import evidence
from ftlib.events.base import started_faults
from ftlib.events.load import StartLoad
from ftlib.events.time import recovery_point
from ftlib.load import inflight
from ftlib.reports.base import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ftlib.events.base import Event
    from ftlib.load.results import RequestRecord
    from ftlib.platform.base import Timeline
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
PNG_FILE = "timeline.png"
SVG_FILE = "timeline.svg"
S = 1e9  # ns per second

SUCCEEDED = "succeeded"
CUT = "stream cut"
OTHER = "other failure"
# colour and marker of each kind of request; HTTP errors ("HTTP 503"…) share one style
_STYLE = {SUCCEEDED: ("#2ca02c", "o"), CUT: ("#d62728", "X"), "HTTP": ("#ff7f0e", "v"), OTHER: ("#7f3f98", "D")}
NOT_READY_COLOUR = "#f4b942"
FAULT_COLOUR = "#c00000"
READY_COLOUR = "#1f77b4"


def failure_kind(record: "RequestRecord") -> str:
    """How a request ended, by the rule of `ftlib.load.inflight.outcome`: ``succeeded``,
    ``stream cut`` (its response had begun and stopped early), ``HTTP <code>`` (an HTTP error
    status before any output, such as 503) or ``other failure`` (refused, reset, timed out…)."""
    kind = inflight.outcome(record)
    if kind == inflight.REJECTED:
        return f"HTTP {record.failure[:3]}"
    return {inflight.SUCCEEDED: SUCCEEDED, inflight.CUT: CUT}.get(kind, OTHER)


def _style(kind: str) -> tuple[str, str]:
    return _STYLE["HTTP"] if kind.startswith("HTTP ") else _STYLE[kind]


@dataclass
class FaultMark:
    """One fault on the picture: when it started and ended (s), and when the deployment was
    ready again after it (None: never, as far as the platform saw)."""

    number: int
    description: str
    start: float
    end: float
    ready_again: float | None
    ready_source: str = ""
    in_flight: int = 0  # requests in flight when it started

    @property
    def tag(self) -> str:
        return f"F{self.number}"


@dataclass
class TimelineData:
    """What the picture shows, in seconds since the load's first request started."""

    title: str
    origin_ns: int
    requests: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, kind)
    faults: list[FaultMark] = field(default_factory=list)
    not_ready: list[tuple[float, float | None]] = field(default_factory=list)  # (start, end or None: never ready)
    loads: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, title: str, records: list["RequestRecord"], events: list["Event"],
              timeline: "Timeline | None", loads: Iterable[str] = ()) -> "TimelineData":
        """From recorded data: the records of every load, the scenario's events, the platform's timeline."""
        origin = min(r.start_ns for r in records)
        data = cls(title, origin, loads=list(loads))
        data.requests = [((r.start_ns - origin) / S, (r.end_ns - origin) / S, failure_kind(r)) for r in records]
        faults = started_faults(events)
        for number, fault in enumerate(faults, 1):
            ready, source = recovery_point(events, fault, timeline)
            data.faults.append(FaultMark(number, fault.description, (fault.started_ns - origin) / S,
                                         ((fault.ended_ns or fault.started_ns) - origin) / S,
                                         None if ready is None else (ready - origin) / S, source,
                                         len(inflight.in_flight_at(records, fault.started_ns))))
        data.not_ready = not_ready_windows(timeline, origin) if timeline is not None else []
        return data

    @property
    def span(self) -> tuple[float, float]:
        """The x range: every request, fault, not-ready window and "ready again", with a margin."""
        xs = [0.0] + [end for _, end, _ in self.requests]
        for fault in self.faults:
            xs += [fault.start, fault.end] + ([fault.ready_again] if fault.ready_again is not None else [])
        xs += [x for window in self.not_ready for x in window if x is not None]
        low, high = min(xs), max(xs)
        margin = max(0.5, 0.02 * (high - low))
        return low - margin, high + margin

    def counts(self) -> Counter:
        return Counter(kind for _, _, kind in self.requests)


def not_ready_windows(timeline: "Timeline", origin_ns: int) -> list[tuple[float, float | None]]:
    """Every stretch from a ``deployment_unready`` to the next ``deployment_ready`` (None when
    it never came), in seconds since ``origin_ns``. The start-up before the first ready is left out."""
    windows, start = [], None
    for entry in timeline.since(0):
        if entry.kind == "deployment_unready" and start is None:
            start = entry.ns
        elif entry.kind == "deployment_ready" and start is not None:
            windows.append(((start - origin_ns) / S, (entry.ns - origin_ns) / S))
            start = None
    if start is not None:
        windows.append(((start - origin_ns) / S, None))
    return windows


def in_flight_steps(requests: list[tuple[float, float, str]]) -> tuple[list[float], list[int]]:
    """The number of requests in flight as a step function: (times, counts after each time)."""
    changes = sorted([(start, 1) for start, _, _ in requests] + [(end, -1) for _, end, _ in requests],
                     key=lambda change: (change[0], change[1]))
    times, counts, level = [], [], 0
    for at, step in changes:
        level += step
        if times and times[-1] == at:
            counts[-1] = level
        else:
            times.append(at)
            counts.append(level)
    return times, counts


def draw(data: TimelineData) -> "Figure":
    """The picture as a matplotlib figure (not saved)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    figure = Figure(figsize=(11, 7.2), layout="constrained")  # shown at about half size in Allure
    grid = figure.add_gridspec(3, 1, height_ratios=[3.2, 1, 1])
    top = figure.add_subplot(grid[0])
    flight = figure.add_subplot(grid[1], sharex=top)
    errors = figure.add_subplot(grid[2], sharex=top)
    counts = data.counts()
    kinds = sorted(counts, key=lambda k: (k != SUCCEEDED, k != CUT, not k.startswith("HTTP"), k))
    handles = []

    for kind in kinds:
        ends = [end for _, end, k in data.requests if k == kind]
        latency = [end - start for start, end, k in data.requests if k == kind]
        colour, marker = _style(kind)
        ok = kind == SUCCEEDED
        top.scatter(ends, latency, s=14 if ok else 46, c=colour, marker=marker, alpha=0.55 if ok else 0.95,
                    linewidths=0, zorder=3 if ok else 4, label=f"{kind} ({counts[kind]})")
    top.set_ylabel("latency (s)\nrequest end − start")
    highest = max([end - start for start, end, _ in data.requests] + [0.001]) * 1.25
    top.set_ylim(-0.04 * highest, highest)  # requests rejected at once (latency ~0) stay visible
    handles += top.get_legend_handles_labels()[0]

    times, levels = in_flight_steps(data.requests)
    flight.step(times, levels, where="post", color="#444444", linewidth=1.0)
    flight.set_ylabel("in flight\n(requests)")
    flight.set_ylim(bottom=0, top=max(levels + [1]) * 1.2)
    flight.yaxis.get_major_locator().set_params(integer=True)

    _error_bars(errors, data, [k for k in kinds if k != SUCCEEDED])
    errors.set_ylabel("failed\n(requests / s)")
    errors.set_xlabel("time since the load's first request started (s)")

    low, high = data.span
    for axes in (top, flight, errors):
        axes.set_xlim(low, high)
        axes.grid(True, alpha=0.3)
        for start, end in data.not_ready:
            axes.axvspan(start, high if end is None else end, color=NOT_READY_COLOUR, alpha=0.3, linewidth=0, zorder=1)
        for fault in data.faults:
            axes.axvline(fault.start, color=FAULT_COLOUR, linestyle="--", linewidth=1.4, zorder=5)
            if fault.ready_again is not None:
                axes.axvline(fault.ready_again, color=READY_COLOUR, linestyle=":", linewidth=1.6, zorder=5)
    flight.tick_params(labelbottom=False)
    top.tick_params(labelbottom=False)
    _fault_tags(top, data)

    if data.not_ready:
        never = any(end is None for _, end in data.not_ready)
        handles.append(Patch(color=NOT_READY_COLOUR, alpha=0.3,
                             label="deployment not ready" + (" (never ready again)" if never else "")))
    if any(f.ready_again is not None for f in data.faults):
        handles.append(Line2D([], [], color=READY_COLOUR, linestyle=":", label="ready again after a fault"))
    handles += [Line2D([], [], color=FAULT_COLOUR, linestyle="--", label=note) for note in fault_notes(data)] or \
        [Line2D([], [], linestyle="none", label="no fault was injected")]
    top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    figure.suptitle(_title(data), fontsize=11)
    return figure


def _error_bars(axes, data: TimelineData, kinds: list[str]) -> None:
    """Failed requests per second (by the second they ended in), stacked by kind."""
    if not kinds:
        axes.text(0.5, 0.5, "no request failed", transform=axes.transAxes, ha="center", va="center",
                  color="#555555", fontsize=9)
        axes.set_ylim(0, 1)
        axes.set_yticks([0, 1])
        return
    import math

    first = math.floor(min(end for _, end, _ in data.requests))
    last = math.floor(max(end for _, end, _ in data.requests))
    seconds = list(range(first, last + 1))
    bottom = [0] * len(seconds)
    for kind in kinds:
        per_second = Counter(math.floor(end) for _, end, k in data.requests if k == kind)
        heights = [per_second.get(s, 0) for s in seconds]
        axes.bar([s + 0.5 for s in seconds], heights, width=0.9, bottom=bottom, color=_style(kind)[0],
                 zorder=3, label=kind)
        bottom = [b + h for b, h in zip(bottom, heights)]
    axes.set_ylim(0, max(bottom) * 1.25 + 0.5)
    axes.yaxis.get_major_locator().set_params(integer=True)


def _fault_tags(axes, data: TimelineData) -> None:
    """``F1``, ``F2``… above the plot at each fault's line, raised when two would overlap; a bar
    under the tag shows how long a fault lasted (a freeze, a rolling upgrade)."""
    low, high = data.span
    close = 0.035 * (high - low)
    placed: list[tuple[float, int]] = []
    for fault in data.faults:
        level = 0
        while any(abs(fault.start - x) < close and lvl == level for x, lvl in placed):
            level += 1
        placed.append((fault.start, level))
        axes.annotate(fault.tag, xy=(fault.start, 1.0), xycoords=("data", "axes fraction"),
                      xytext=(0, 3 + 13 * level), textcoords="offset points", ha="center", va="bottom",
                      fontsize=9, fontweight="bold", color=FAULT_COLOUR, annotation_clip=False)
        if fault.end - fault.start > 0.02 * (high - low):
            axes.plot([fault.start, fault.end], [0.97, 0.97], transform=axes.get_xaxis_transform(),
                      color=FAULT_COLOUR, linewidth=3, alpha=0.45, solid_capstyle="butt", zorder=6)


def fault_notes(data: TimelineData) -> list[str]:
    """Per fault, for the legend: what it was, when, how long it lasted, when the deployment was
    ready again (or that it never was)."""
    notes = []
    for fault in data.faults:
        lines = textwrap.wrap(f"{fault.tag} at {fault.start:.1f} s, {fault.in_flight} in flight: "
                              f"{fault.description}", 38, break_on_hyphens=False)
        if fault.end - fault.start >= 0.5:
            lines.append(f"lasted {fault.end - fault.start:.1f} s")
        if fault.ready_again is None:
            lines.append(f"not ready again ({fault.ready_source})")
        else:
            lines.append(f"ready again at {fault.ready_again:.1f} s (+{fault.ready_again - fault.start:.1f} s)")
        notes.append("\n".join(lines[:1] + ["  " + line for line in lines[1:]]))
    return notes


def _title(data: TimelineData) -> str:
    counts = data.counts()
    failed = sum(n for kind, n in counts.items() if kind != SUCCEEDED)
    kinds = ", ".join(f"{kind} ×{n}" for kind, n in counts.most_common() if kind != SUCCEEDED)
    loads = f" (load {', '.join(repr(n) for n in data.loads)})" if data.loads else ""
    summary = f"{len(data.requests)} requests{loads}: {counts[SUCCEEDED]} succeeded, {failed} failed"
    return f"{data.title}\n{summary}" + (f" ({kinds})" if kinds else "")


class TimelinePicture(Report):
    """The timeline picture (``timeline.png`` and ``timeline.svg``), written for every scenario
    that ran a load.

    One picture, three panels on one time axis (seconds since the load's first request started):

    - top: one dot per request at the moment it ended, as high as it took (request end minus
      start, in seconds). Green dots succeeded; failures are drawn apart, by kind: red crosses
      for streams cut short (the response broke off or came back without its tokens), orange
      triangles for HTTP errors (``HTTP 503``…), purple diamonds for anything else. The legend
      counts each kind.
    - middle: how many requests were in flight at each moment.
    - bottom: failed requests per second (by the second they ended in), stacked by kind.

    On every panel each fault is a red dashed line, tagged ``F1``, ``F2``… above the top panel
    (a bar under the tag when the fault lasted, as a freeze or a rolling upgrade does); the
    stretches in which the platform saw the deployment not ready are shaded; a blue dotted line
    marks when it was ready again after each fault (as the recovery wait or the platform's
    timeline recorded it: the rule of `ftlib.events.time.recovery_point`). The legend spells out
    each fault: its time, how many requests were in flight when it started (none: the fault
    did not hit a request mid-flight), how long it lasted and when the deployment was ready again, or that
    it never was.

    Requests of every load are drawn together. A scenario without a load, or whose load
    recorded no request, gets no picture (the log says why). The picture reads only recorded
    results, so it is written after teardown, also when a check failed.
    """

    @property
    def description(self) -> str:
        return "timeline picture (timeline.png, timeline.svg)"

    def data(self, ctx: "ScenarioContext") -> TimelineData | None:
        """What the picture would show, or None when no load recorded a request."""
        loads = [e for e in ctx.events if isinstance(e, StartLoad)]
        with_records = [load for load in loads if load.results is not None and load.results.records]
        if not with_records:
            return None
        records = [r for load in with_records for r in load.results.records]
        timeline = getattr(ctx.deployment, "timeline", None)
        return TimelineData.build(ctx.name, records, list(ctx.events), timeline, [load.name for load in with_records])

    def generate(self, ctx: "ScenarioContext") -> list[Path]:
        data = self.data(ctx)
        if data is None:
            if any(isinstance(e, StartLoad) for e in ctx.events):
                log.info("no timeline picture: no load recorded a request")
            return []
        figure = draw(data)
        paths = [evidence.inside(ctx.output_dir / PNG_FILE), evidence.inside(ctx.output_dir / SVG_FILE)]
        paths[0].parent.mkdir(parents=True, exist_ok=True)  # as evidence.write_text does, once both are checked
        figure.savefig(paths[0], dpi=130)
        figure.savefig(paths[1])
        log.info("timeline picture: %s", paths[0])
        return paths
