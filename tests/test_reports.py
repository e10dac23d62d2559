"""ftlib.reports: the fault tolerance report's arithmetic on hand-built results, and the
resource history on real local processes (no Dynamo, nothing deployed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ftlib.events import DeletePod, StartLoad, TerminateProcess, Wait, WaitForRecovery
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.platform.base import Timeline, TimelineEntry
from ftlib.platform.local.resources import ProcessSampler
from tests.test_platform_local_resources import PodsWithPids, sleeper  # noqa: F401 - sleeper is a fixture
from ftlib.reports import FaultToleranceReport, ResourceHistory
from ftlib.reports.fault_tolerance import JSON_FILE, MARKDOWN_FILE, WHOLE_RUN, percentile
from ftlib.reports.resources import HISTORY_FILE
from ftlib.scenario import ScenarioContext
from ftlib.spec import get_deployment_spec

S = 1_000_000_000  # one second in ns
T0 = 1_800_000_000 * S  # the load's first request starts here


# -- fixtures: a scenario's record, built by hand -------------------------------------------------

def record(start_s: float, end_s: float, ok: bool = True, latency_ms: float | None = None) -> RequestRecord:
    latency = (end_s - start_s) * 1000 if latency_ms is None else latency_ms
    return RequestRecord(T0 + int(start_s * S), T0 + int(end_s * S), ok, "" if ok else "503 error",
                         64 if ok else None, latency)


def load(records: list[RequestRecord], name: str = "default", cancelled: bool = False) -> StartLoad:
    event = StartLoad(LoadConfig(concurrency=4, duration_seconds=25), name=name)
    event.started_ns, event.ended_ns = T0 - S // 2, T0
    event.results = LoadResults(name, records, cancelled)
    return event


def at(event, start_s: float, end_s: float | None = None):
    event.started_ns = T0 + int(start_s * S)
    event.ended_ns = T0 + int((start_s if end_s is None else end_s) * S)
    return event


def recovered(fault_s: float, after_s: float) -> WaitForRecovery:
    wait = at(WaitForRecovery(timeout=60), fault_s + 0.1, fault_s + after_s)
    wait.fault_ns, wait.recovered_ns = T0 + int(fault_s * S), T0 + int((fault_s + after_s) * S)
    return wait


def scenario(tmp_path: Path, events: list, timeline: list[tuple[float, str]] = ()) -> ScenarioContext:
    ctx = ScenarioContext(get_deployment_spec("mocker", "agg"), platform=None, output_dir=tmp_path / "scenario",
                          name="a decode pod is deleted", monitors=[])
    ctx.events, ctx.startup_seconds = events, 12.5
    entries = [TimelineEntry(T0 + int(s * S), kind) for s, kind in timeline]
    ctx.deployment = SimpleNamespace(timeline=Timeline(entries=entries))
    return ctx


@pytest.fixture
def records() -> list[RequestRecord]:
    """Ten requests around a fault at +6 s: four ended before it (one failed), six after (one failed).
    Successful latencies: before 100, 200, 300 ms; after 400, 500, 600, 700, 800 ms."""
    return [
        record(0.0, 1.0, latency_ms=100), record(1.0, 2.0, latency_ms=200), record(2.0, 3.0, latency_ms=300),
        record(3.0, 5.9, ok=False, latency_ms=9999),
        record(5.0, 6.5, ok=False, latency_ms=9999),  # running at the fault: it ended after it
        record(5.5, 7.0, latency_ms=400), record(7.0, 9.0, latency_ms=500), record(9.0, 12.0, latency_ms=600),
        record(12.0, 20.0, latency_ms=700), record(20.0, 25.0, latency_ms=800),
    ]


# -- the fault tolerance report ----------------------------------------------------------------

def test_percentile_interpolates_between_ranks():
    assert percentile([100, 200, 300], 50) == 200
    assert percentile([100, 200, 300], 99) == pytest.approx(298)
    assert percentile([5], 99) == 5
    assert percentile([], 50) is None


def test_requests_are_split_at_the_fault_by_the_time_they_ended(tmp_path, records):
    fault = at(DeletePod(["decode"], one_pod=True), 6.0, 6.2)
    ctx = scenario(tmp_path, [load(records), at(Wait(6), 0, 6), fault, recovered(6.0, 4.0)])

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert row.label == "DeletePod(decode)"
    assert (row.succeeded_before, row.failed_before) == (3, 1)
    assert (row.succeeded_after, row.failed_after) == (5, 1)
    assert row.fault_at_seconds == pytest.approx(6.0)


def test_latency_before_and_after_is_mean_p50_p99_of_successful_requests(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 4.0)])

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert (row.latency_before.requests, row.latency_before.mean_ms, row.latency_before.p50_ms) == (3, 200, 200)
    assert row.latency_before.p99_ms == pytest.approx(298)
    assert (row.latency_after.requests, row.latency_after.mean_ms, row.latency_after.p50_ms) == (5, 600, 600)
    assert row.latency_after.p99_ms == pytest.approx(796)


def test_the_whole_run_row_counts_every_request_and_carries_the_startup_time(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 4.0)])

    whole = FaultToleranceReport().summarize(ctx).rows[-1]

    assert whole.label == WHOLE_RUN
    assert (whole.succeeded, whole.failed, whole.startup_seconds) == (8, 2, 12.5)
    assert whole.latency.requests == 8 and whole.latency.mean_ms == pytest.approx(450)


def test_recovery_is_taken_from_the_next_recovery_wait_after_the_fault(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 4.0)],
                   timeline=[(7.0, "deployment_ready")])

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert row.recovery_seconds == pytest.approx(4.0)
    assert row.recovery_source == "recovery wait"


def test_without_a_recovery_wait_recovery_is_the_first_deployment_ready_after_the_fault(tmp_path, records):
    timeline = [(0.0, "deployment_ready"), (6.1, "deployment_unready"), (8.5, "deployment_ready")]
    ctx = scenario(tmp_path, [load(records), at(TerminateProcess(["decode"], "dynamo.mocker"), 6.0)], timeline)

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert row.recovery_seconds == pytest.approx(2.5)
    assert row.recovery_source == "platform timeline"
    assert row.label == "TerminateProcess(decode)"


def test_a_load_that_covers_the_fault_and_the_recovery_raises_no_warning(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 4.0)])

    summary = FaultToleranceReport().summarize(ctx)

    assert (summary.rows[0].load_spans_fault, summary.rows[0].load_spans_recovery) == (True, True)
    assert summary.warnings == []


def test_a_load_that_ended_before_the_recovery_is_flagged(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 30.0)])

    summary = FaultToleranceReport().summarize(ctx)
    markdown = (tmp_path / "scenario" / MARKDOWN_FILE)
    FaultToleranceReport().generate(ctx)

    assert (summary.rows[0].load_spans_fault, summary.rows[0].load_spans_recovery) == (True, False)
    assert "did not cover the recovery from DeletePod(decode)" in summary.warnings[0]
    assert "11.0 s before the deployment was ready again" in summary.warnings[0]
    assert "**Warning:** the load did not cover the recovery" in markdown.read_text()
    assert "**NO**" in markdown.read_text()


def test_a_load_that_started_after_the_fault_is_flagged(tmp_path, records):
    ctx = scenario(tmp_path, [at(DeletePod(["decode"]), -3.0), recovered(-3.0, 2.0), load(records)])

    summary = FaultToleranceReport().summarize(ctx)

    assert summary.rows[0].load_spans_fault is False
    assert summary.rows[0].load_spans_recovery is True
    assert "its first request started 3.0 s after the fault" in summary.warnings[0]


def test_a_fault_without_any_recovery_says_the_recovery_is_unknown(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0)], timeline=[(6.1, "deployment_unready")])

    summary = FaultToleranceReport().summarize(ctx)

    assert summary.rows[0].recovery_seconds is None
    assert summary.rows[0].load_spans_recovery is None
    assert "no recovery from DeletePod(decode) was recorded" in summary.warnings[0]


def test_each_fault_gets_its_own_row_and_recovery(tmp_path, records):
    events = [load(records), at(DeletePod(["decode"]), 3.5), recovered(3.5, 1.0),
              at(DeletePod(["Frontend"]), 10.0), recovered(10.0, 2.0)]
    ctx = scenario(tmp_path, events)

    rows = FaultToleranceReport().summarize(ctx).rows

    assert [r.label for r in rows] == ["DeletePod(decode)", "DeletePod(Frontend)", WHOLE_RUN]
    assert [r.recovery_seconds for r in rows[:2]] == [pytest.approx(1.0), pytest.approx(2.0)]
    assert (rows[1].succeeded_before, rows[1].failed_before) == (5, 2)


def test_the_report_is_written_as_markdown_and_json_into_the_scenario_folder(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0), recovered(6.0, 4.0)])

    written = FaultToleranceReport().generate(ctx)

    assert written == [ctx.output_dir / MARKDOWN_FILE, ctx.output_dir / JSON_FILE]
    data = json.loads(written[1].read_text())
    assert data["load"] == "default" and data["startup_seconds"] == 12.5
    assert data["rows"][0]["succeeded_before"] == 3 and data["rows"][0]["latency_after"]["p50_ms"] == 600
    assert data["load_seconds"] == pytest.approx(25.0)
    markdown = written[0].read_text()
    assert "| DeletePod(decode) | 3 | 1 | 5 | 1 |" in markdown
    assert "| DeletePod(decode) | before | 3 | 200.0 | 200.0 | 298.0 |" in markdown


def test_a_named_load_is_reported_instead_of_the_first(tmp_path, records):
    other = load([record(0, 1), record(1, 2)], name="background")
    ctx = scenario(tmp_path, [other, load(records, name="main"), at(DeletePod(["decode"]), 6.0)])

    summary = FaultToleranceReport(load="main").summarize(ctx)

    assert summary.load == "main" and summary.rows[-1].succeeded == 8


def test_a_scenario_without_a_load_writes_a_report_that_says_so(tmp_path):
    ctx = scenario(tmp_path, [at(DeletePod(["decode"]), 6.0)])

    FaultToleranceReport().generate(ctx)

    assert "no load ran in this scenario" in (ctx.output_dir / MARKDOWN_FILE).read_text()
    assert json.loads((ctx.output_dir / JSON_FILE).read_text())["rows"] == []


def test_a_load_without_results_writes_a_report_that_says_so(tmp_path):
    aborted = load([])
    aborted.results = None
    ctx = scenario(tmp_path, [aborted, at(DeletePod(["decode"]), 6.0)])

    summary = FaultToleranceReport().summarize(ctx)

    assert summary.rows == [] and "load 'default' has no results" in summary.notes[0]


def test_a_scenario_without_a_fault_reports_the_whole_run_only(tmp_path, records):
    ctx = scenario(tmp_path, [load(records)])

    summary = FaultToleranceReport().summarize(ctx)

    assert [r.label for r in summary.rows] == [WHOLE_RUN]
    assert "no fault was injected in this scenario" in summary.notes


def test_a_scenario_that_never_deployed_still_gets_a_report(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0)])
    ctx.deployment = None

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert row.recovery_seconds is None and row.recovery_source == "no deployment timeline"


# -- the resource history ----------------------------------------------------------------------

class FakeDeployment(PodsWithPids):
    """Pods whose processes are given local pids; sampled as the local platform does."""

    def __init__(self, pods: dict[str, tuple[str, list[int]]], figures: bool = True):
        super().__init__(pods)
        self.figures = figures
        self.sampler = ProcessSampler()

    def sample_resources(self):
        return self.sampler.sample(self) if self.figures else None


def test_resource_history_samples_in_the_background_and_writes_json_when_stopped(tmp_path, sleeper):
    deployment = FakeDeployment({"sleeper": ("decode", [sleeper.pid])})
    ctx = SimpleNamespace(deployment=deployment, platform=SimpleNamespace(name="local"), output_dir=tmp_path)
    history = ResourceHistory(interval=0.05)

    history.start(ctx)
    time.sleep(0.4)
    written = history.stop(ctx)

    samples = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert written == [tmp_path / HISTORY_FILE]
    assert len(samples) >= 3
    assert set(samples[0]) == {"ts_ns", "pod", "service", "cpu_percent", "rss_bytes", "processes"}
    assert history.stop(ctx) == written  # stopping twice is harmless
    assert "| decode | sleeper |" in history.summary()


def test_resource_history_is_empty_on_platforms_that_offer_no_figures(tmp_path):
    ctx = SimpleNamespace(deployment=FakeDeployment({}, figures=False), platform=SimpleNamespace(name="kubernetes"),
                          output_dir=tmp_path)
    history = ResourceHistory(interval=0.05)

    history.start(ctx)

    assert history.stop(ctx) == [tmp_path / HISTORY_FILE]
    assert json.loads((tmp_path / HISTORY_FILE).read_text()) == []
    assert history.unavailable


# -- allure attachments and where results go -----------------------------------------------------

def test_a_log_tail_keeps_the_last_lines_and_says_how_many_were_left_out():
    from ftlib.reports.allure_results import tail

    text = "".join(f"line {n}\n" for n in range(1, 251))

    kept = tail(text, 200)

    assert kept.splitlines()[0] == "[… 50 earlier lines omitted]"
    assert kept.splitlines()[1] == "line 51" and kept.splitlines()[-1] == "line 250"
    assert tail("short\n", 200) == "short\n"


def test_only_the_logs_of_this_runs_pods_are_attached(tmp_path):
    from ftlib.reports.allure_results import pod_log_files

    for name in ("decode/pod-a_20260101T000000.log", "decode/pod-a_20260101T000000.previous.log",
                 "decode/pod-a_20260101T000000.metrics.log", "decode/old-pod_20250101T000000.log",
                 "Frontend/fe_20260101T000000.log", "load/default/aiperf.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")

    names = [f"{p.parent.name}/{p.name}" for p in pod_log_files(tmp_path, ["pod-a", "fe"])]

    assert names == ["Frontend/fe_20260101T000000.log", "decode/pod-a_20260101T000000.log",
                     "decode/pod-a_20260101T000000.previous.log"]


def test_allure_results_follow_the_output_dir_unless_a_results_dir_is_given(tmp_path):
    from ftlib.reports.allure_results import results_dir

    features = tmp_path / "repo" / "features"

    assert results_dir({"output_dir": "test_outputs"}, features) == tmp_path / "repo" / "test_outputs" / "allure-results"
    assert results_dir({"output_dir": "/runs/7"}, features) == Path("/runs/7/allure-results")
    assert results_dir({"output_dir": "x", "AllureFormatter.results_dir": "/r"}, features) == Path("/r")


def test_a_fault_the_deployment_stayed_ready_through_recovers_in_no_time(tmp_path, records):
    ctx = scenario(tmp_path, [load(records), at(DeletePod(["decode"]), 6.0)], timeline=[(0.0, "deployment_ready")])

    row = FaultToleranceReport().summarize(ctx).rows[0]

    assert (row.recovery_seconds, row.recovery_source) == (0.0, "platform timeline")
