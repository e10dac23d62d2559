"""ftlib.reports.timeline_picture: the picture drawn from recorded runs (tests/data/timeline: a
worker killed without migration, a worker frozen for 5 s, both recorded on the local platform
with aiperf) and from hand-made edge cases. The figure object is inspected: fault lines,
not-ready spans, legend entries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from matplotlib.colors import to_hex

from ftlib.events.base import Event
from ftlib.events.load import StartLoad
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.platform.base import Timeline, TimelineEntry
from ftlib.reports.timeline_picture import (FAULT_COLOUR, NOT_READY_COLOUR, PNG_FILE, READY_COLOUR, SVG_FILE,
                                            TimelinePicture, draw, failure_kind, in_flight_steps)
from ftlib.scenario import ScenarioContext
from ftlib.spec import get_deployment_spec

DATA = Path(__file__).parent / "data" / "timeline"
S = 1_000_000_000
T0 = 1_800_000_000 * S


@dataclass
class RecordedEvent(Event):
    """An event as events.txt recorded it (type name and description); faults by type name."""

    kind: str
    text: str
    FAULTS: ClassVar[set[str]] = {"DeletePod", "TerminateProcess", "FreezeProcess", "RollingUpgrade"}

    def __post_init__(self) -> None:
        self.is_fault = self.kind in self.FAULTS  # shadows the class flag for this recorded event

    def execute(self, ctx) -> None:
        raise NotImplementedError("a recorded event is never run")

    def target_services(self) -> list[str]:
        return []

    @property
    def description(self) -> str:
        return self.text


def context(tmp_path: Path, events: list, entries: list[TimelineEntry]) -> ScenarioContext:
    ctx = ScenarioContext(get_deployment_spec("mocker", "agg"), platform=None, output_dir=tmp_path / "scenario",
                          name="a recorded scenario", monitors=[])
    ctx.events = events
    ctx.deployment = SimpleNamespace(timeline=Timeline(entries=entries))
    return ctx


def recorded(name: str, tmp_path: Path) -> ScenarioContext:
    """A finished scenario rebuilt from tests/data/timeline/<name>: events.txt, timeline.json and
    aiperf's profile_export.jsonl (trimmed to the fields ftlib reads)."""
    folder = DATA / name
    events = []
    for line in (folder / "events.txt").read_text().splitlines():
        start, end, rest = line.split(" ", 2)
        kind, text = rest.split(": ", 1)
        if kind == "StartLoad":
            event = StartLoad(LoadConfig(concurrency=2, duration_seconds=20), name="default")
            event.results = LoadResults.from_aiperf_dir("default", folder, None, streaming=True, stopped_early=False)
        else:
            event = RecordedEvent(kind=kind, text=text)
        event.started_ns, event.ended_ns = int(start), int(end)
        events.append(event)
    entries = [TimelineEntry(**entry) for entry in json.loads((folder / "timeline.json").read_text())]
    return context(tmp_path, events, entries)


def lines_of(axes, colour: str, style: str) -> list:
    return [line for line in axes.lines if to_hex(line.get_color()) == colour and line.get_linestyle() == style]


def spans_of(axes) -> list:
    return [patch for patch in axes.patches if to_hex(patch.get_facecolor()) == NOT_READY_COLOUR]


def legend_labels(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def load_of(records: list[RequestRecord]) -> StartLoad:
    event = StartLoad(LoadConfig(concurrency=2, duration_seconds=10), name="default")
    event.started_ns, event.ended_ns = T0 - S, T0
    event.results = LoadResults("default", records, False)
    return event


def fault_at(seconds: float, lasted: float = 0.1) -> RecordedEvent:
    fault = RecordedEvent(kind="DeletePod", text="delete one pod of decode")
    fault.started_ns, fault.ended_ns = T0 + int(seconds * S), T0 + int((seconds + lasted) * S)
    return fault


def request(start: float, end: float, failure: str = "") -> RequestRecord:
    return RequestRecord(T0 + int(start * S), T0 + int(end * S), not failure, failure)


# -- recorded runs ---------------------------------------------------------------------------

def test_a_killed_worker_gets_both_files_one_fault_line_per_panel_and_its_not_ready_window(tmp_path):
    ctx = recorded("worker_killed", tmp_path)
    written = TimelinePicture().generate(ctx)
    assert written == [ctx.output_dir / PNG_FILE, ctx.output_dir / SVG_FILE]
    assert (ctx.output_dir / PNG_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (ctx.output_dir / SVG_FILE).read_text()[:1000]
    figure = draw(TimelinePicture().data(ctx))
    assert len(figure.axes) == 3
    for axes in figure.axes:
        assert len(lines_of(axes, FAULT_COLOUR, "--")) == 1
        assert len(lines_of(axes, READY_COLOUR, ":")) == 1
        assert len(spans_of(axes)) == 1


def test_a_killed_worker_splits_its_failures_into_cut_streams_and_http_503(tmp_path):
    data = TimelinePicture().data(recorded("worker_killed", tmp_path))
    labels = legend_labels(draw(data))
    assert labels[:3] == ["succeeded (118)", "stream cut (4)", "HTTP 503 (2)"]
    assert "deployment not ready" in labels
    assert "124 requests (load 'default'): 118 succeeded, 6 failed (stream cut ×4, HTTP 503 ×2)" in \
        draw(data)._suptitle.get_text()


def test_times_are_seconds_since_the_loads_first_request(tmp_path):
    data = TimelinePicture().data(recorded("worker_killed", tmp_path))
    assert min(start for start, _, _ in data.requests) == 0
    fault = data.faults[0]
    assert fault.start == pytest.approx(6.05, abs=0.01)  # events.txt: the kill 6.05 s after the first request
    assert fault.ready_again == pytest.approx(6.83, abs=0.01)  # timeline.json: deployment_ready
    assert data.not_ready == [pytest.approx((6.19, 6.83), abs=0.01)]


def test_a_frozen_worker_shows_how_long_the_freeze_lasted_and_that_nothing_failed(tmp_path):
    figure = draw(TimelinePicture().data(recorded("worker_frozen", tmp_path)))
    top, _, errors = figure.axes
    bars = [line for line in top.lines if to_hex(line.get_color()) == FAULT_COLOUR and line.get_linestyle() == "-"]
    assert len(bars) == 1 and bars[0].get_xdata()[1] - bars[0].get_xdata()[0] == pytest.approx(5.07, abs=0.01)
    assert "no request failed" in [text.get_text() for text in errors.texts]
    notes = "\n".join(legend_labels(figure))
    assert notes.startswith("succeeded (40)") and "F1 at 2.9 s, 1 in flight: freeze" in notes
    assert "lasted 5.1 s" in notes and "ready again at 8.0 s (+5.1 s)" in notes


# -- edge cases ---------------------------------------------------------------------------------

def test_a_scenario_without_a_fault_has_no_fault_line_and_says_so(tmp_path):
    ctx = context(tmp_path, [load_of([request(0, 1), request(0.5, 2)])], [TimelineEntry(T0 - S, "deployment_ready")])
    figure = draw(TimelinePicture().data(ctx))
    assert not any(lines_of(axes, FAULT_COLOUR, "--") for axes in figure.axes)
    assert not any(spans_of(axes) for axes in figure.axes)
    assert "no fault was injected" in legend_labels(figure)


def test_all_requests_failed_draws_without_a_success_entry(tmp_path):
    records = [request(0, 0.01, "503 Service Unavailable"), request(1, 3, "stream cut (no output)"),
               request(2, 2.5, "cancelled by the client")]
    ctx = context(tmp_path, [load_of(records), fault_at(0.5)], [])
    written = TimelinePicture().generate(ctx)
    assert all(path.exists() for path in written)
    labels = legend_labels(draw(TimelinePicture().data(ctx)))
    assert labels[:3] == ["stream cut (1)", "HTTP 503 (1)", "other failure (1)"]


def test_recovery_that_never_came_shades_to_the_end_and_says_not_ready_again(tmp_path):
    entries = [TimelineEntry(T0 - S, "deployment_ready"), TimelineEntry(T0 + 3 * S, "deployment_unready")]
    ctx = context(tmp_path, [load_of([request(0, 1), request(4, 5, "503 Service Unavailable")]), fault_at(3)],
                  entries)
    data = TimelinePicture().data(ctx)
    assert data.faults[0].ready_again is None and data.not_ready == [(3.0, None)]
    figure = draw(data)
    assert not lines_of(figure.axes[0], READY_COLOUR, ":")
    assert "deployment not ready (never ready again)" in legend_labels(figure)
    assert "not ready again (the deployment was not ready again)" in "\n".join(legend_labels(figure))


def test_a_fault_before_the_load_and_two_close_faults_get_separate_tags(tmp_path):
    ctx = context(tmp_path, [load_of([request(0, 1), request(1, 10)]), fault_at(-2), fault_at(5), fault_at(5.1)], [])
    figure = draw(TimelinePicture().data(ctx))
    assert figure.axes[0].get_xlim()[0] < -2
    tags = [(text.get_text(), text.xyann) for text in figure.axes[0].texts if text.get_text().startswith("F")
            and len(text.get_text()) == 2]
    assert [tag for tag, _ in tags] == ["F1", "F2", "F3"]
    assert tags[1][1] != tags[2][1]  # F3 is raised above F2 instead of printed over it


def test_a_scenario_whose_load_recorded_nothing_gets_no_picture(tmp_path):
    empty = load_of([])
    empty.results = None
    ctx = context(tmp_path, [empty], [])
    assert TimelinePicture().generate(ctx) == []
    assert not (ctx.output_dir / PNG_FILE).exists()


# -- pieces ------------------------------------------------------------------------------------

@pytest.mark.parametrize("failure, kind", [
    ("", "succeeded"), ("stream cut (no output)", "stream cut"), ("stream cut (short output)", "stream cut"),
    ("short output", "stream cut"), ("503 Service Unavailable", "HTTP 503"), ("500 error", "HTTP 500"),
    ("cancelled by the client", "other failure"), ("ClientConnectorError", "other failure"),
])
def test_failure_kind_names_cut_streams_http_errors_and_the_rest(failure, kind):
    assert failure_kind(request(0, 1, failure)) == kind


def test_in_flight_counts_step_up_at_each_start_and_down_at_each_end():
    times, counts = in_flight_steps([(0, 2, "succeeded"), (1, 3, "succeeded"), (2, 4, "succeeded")])
    assert list(zip(times, counts)) == [(0, 1), (1, 2), (2, 2), (3, 1), (4, 0)]
