"""Each fault against time (`ftlib.windows`): in flight at the fault, first success, last
failure, failures before / while not ready / after ready again, cut against rejected. On a real
run's records (one of two mocker workers SIGKILLed: two streams cut, one 503) and on small runs
built by hand, in seconds after the load's first request."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conftest import RECORDS
from ftlib.events import DeletePod, FreezeProcess, StartLoad, WaitForRecovery
from ftlib.load.config import LoadConfig
from ftlib.load.inflight import InFlightWait
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.platform.base import Timeline, TimelineEntry
from ftlib.reports.fault_tolerance import JSON_FILE, MARKDOWN_FILE, FaultToleranceReport
from ftlib.scenario import ScenarioContext
from ftlib.spec import get_deployment_spec
from ftlib.windows import describe, fault_window, fault_windows

RUN = sorted((RequestRecord.from_aiperf(json.loads(line), 64, True) for line in RECORDS.read_text().splitlines()),
             key=lambda r: r.start_ns)
T0 = RUN[0].start_ns


def s(seconds: float) -> int:
    return T0 + int(seconds * 1e9)


def request(start: float, end: float, failure: str = "", ttft_ms: float | None = None) -> RequestRecord:
    return RequestRecord(s(start), s(end), not failure, failure, None if failure else 64, ttft_ms=ttft_ms)


def test_the_real_run_against_a_fault_at_four_seconds_ready_again_at_four_point_six():
    window = fault_window(RUN, s(4.0), s(4.6), load_start_ns=T0, label="TerminateProcess(decode)")
    assert (window.in_flight, window.in_flight_succeeded, window.in_flight_cut) == (4, 2, 2)
    assert window.fault_at_seconds == pytest.approx(4.0)
    assert window.ready_again_seconds == pytest.approx(0.6)
    assert window.first_success_seconds == pytest.approx(0.787, abs=0.001)  # started 4.362 s, ended 4.787 s
    assert (window.failed_before, window.failed_while_not_ready, window.failed_after_ready) == (0, 2, 1)
    assert (window.cut, window.rejected, window.failed_otherwise) == (2, 1, 0)
    assert window.last_failure_seconds == pytest.approx(1.109, abs=0.001)  # the 503 at 5.109 s
    assert window.last_failure_after_ready_seconds == pytest.approx(0.509, abs=0.001)
    assert describe(window).startswith("TerminateProcess(decode): 4 in flight (2 succeeded, 2 cut, 0 failed otherwise)")


def test_no_failures():
    records = [request(0, 1), request(0.5, 1.5), request(2, 3)]
    window = fault_window(records, s(1.2), s(1.8))
    assert (window.in_flight, window.in_flight_succeeded) == (1, 1)
    assert (window.failed_before, window.failed_while_not_ready, window.failed_after_ready) == (0, 0, 0)
    assert window.last_failure_seconds is None and window.last_failure_after_ready_seconds is None
    assert window.first_success_seconds == pytest.approx(1.8)  # the request started at 2 s, ended at 3 s


def test_a_fault_before_the_load_hit_nothing_in_flight():
    window = fault_window(RUN, s(-3), s(-1), load_start_ns=T0)
    assert window.in_flight == 0 and window.fault_at_seconds == pytest.approx(-3)
    assert window.failed_before == 0 and window.failed_after_ready == 3  # every failure came after ready again
    assert window.first_success_seconds == pytest.approx(3.414, abs=0.001)


def test_all_failed():
    records = [request(0, 2, "stream cut (no output)", ttft_ms=20), request(1, 1.2, "503 Service Unavailable"),
               request(1.5, 1.6, "ClientConnectorError")]
    window = fault_window(records, s(1.0), s(5.0))
    assert (window.in_flight, window.in_flight_cut, window.in_flight_failed_otherwise) == (1, 1, 0)
    assert window.first_success_seconds is None
    assert (window.cut, window.rejected, window.failed_otherwise) == (1, 1, 1)
    assert window.failed_while_not_ready == 3 and window.last_failure_seconds == pytest.approx(1.0)


def test_recovery_never_came():
    records = [request(0, 1), request(1.5, 2.5, "503 Service Unavailable"),
               request(20, 20.1, "503 Service Unavailable")]
    window = fault_window(records, s(1.2), None)
    assert window.ready_again_seconds is None and window.last_failure_after_ready_seconds is None
    assert (window.failed_while_not_ready, window.failed_after_ready) == (2, 0)  # still not ready: all inside


def test_a_late_failure_five_seconds_after_ready_again_is_counted_apart():
    records = [request(0, 1), request(1.1, 1.2, "503 Service Unavailable"), request(3, 4),
               request(7.0, 7.1, "503 Service Unavailable"), request(8, 9)]
    window = fault_window(records, s(1.0), s(2.1))
    assert (window.failed_while_not_ready, window.failed_after_ready) == (1, 1)
    assert window.last_failure_seconds == pytest.approx(6.1)
    assert window.last_failure_after_ready_seconds == pytest.approx(5.0)


def test_a_second_fault_closes_the_first_ones_scope():
    records = [request(0, 1), request(1.1, 1.2, "503 Service Unavailable"), request(2, 3),
               request(5.1, 5.2, "503 Service Unavailable"), request(6, 7)]
    first = DeletePod(["decode"])
    first.started_ns, first.ended_ns = s(1.0), s(1.05)
    second = DeletePod(["decode"])
    second.started_ns, second.ended_ns = s(5.0), s(5.05)
    seen = ((-10, "deployment_ready"), (1.01, "deployment_unready"), (1.5, "deployment_ready"),
            (5.01, "deployment_unready"), (5.5, "deployment_ready"))
    timeline = Timeline(entries=[TimelineEntry(s(at), kind) for at, kind in seen])
    one, two = fault_windows([first, second], records, timeline)
    assert (one.failed_while_not_ready, one.failed_after_ready, one.last_failure_seconds) == (1, 0, pytest.approx(0.2))
    assert (two.failed_before, two.failed_while_not_ready) == (1, 1)
    assert one.ready_again_source == "platform timeline" and one.ready_again_seconds == pytest.approx(0.5)


def test_the_not_ready_window_lasts_at_least_as_long_as_the_fault_step():
    """A freeze leaves the deployment ready; the window still spans the 5 s of the freeze."""
    freeze = FreezeProcess(["decode"], "dynamo.mocker", 5)
    freeze.started_ns, freeze.ended_ns = s(1.0), s(6.0)
    timeline = Timeline(entries=[TimelineEntry(s(-10), "deployment_ready")])
    records = [request(0.5, 6.5, "stream cut (short output)", ttft_ms=10), request(7, 8)]
    (window,) = fault_windows([freeze], records, timeline)
    assert window.ready_again_seconds == pytest.approx(5.0)
    assert (window.failed_while_not_ready, window.failed_after_ready) == (0, 1)


# -- the fault tolerance report ------------------------------------------------------------------

def report_context(tmp_path, fault_at: float) -> ScenarioContext:
    ctx = ScenarioContext(get_deployment_spec("mocker", "agg"), platform=None, output_dir=tmp_path / "scenario",
                          name="a worker is killed", monitors=[])
    load = StartLoad(LoadConfig(concurrency=4, duration_seconds=8))
    load.results = LoadResults("default", RUN, was_cancelled=False)
    fault = DeletePod(["decode"], one_pod=True)
    fault.started_ns, fault.ended_ns = s(fault_at), s(fault_at + 0.05)
    wait = WaitForRecovery(timeout=60)
    wait.fault_ns, wait.recovered_ns = s(fault_at), s(fault_at + 0.6)
    ctx.events = [load, fault, wait]
    ctx.deployment = SimpleNamespace(timeline=Timeline(entries=[TimelineEntry(s(-10), "deployment_ready")]))
    return ctx


def test_the_report_shows_each_fault_against_time_in_markdown_and_json(tmp_path):
    ctx = report_context(tmp_path, 4.0)
    FaultToleranceReport().generate(ctx)
    markdown = (ctx.output_dir / MARKDOWN_FILE).read_text()
    assert "| DeletePod(decode) | 4.0 | 4 | 2 | 2 | 0 |" in markdown
    assert "| DeletePod(decode) | 0.60 | 0.79 | 1.11 | 0.51 | 0 | 2 | 1 | 2 | 1 | 0 |" in markdown
    data = json.loads((ctx.output_dir / JSON_FILE).read_text())
    assert data["faults"][0]["in_flight"] == 4 and data["faults"][0]["rejected"] == 1
    assert not any("in flight" in warning for warning in data["warnings"])


def test_the_report_warns_when_a_fault_hit_nothing_in_flight(tmp_path):
    ctx = report_context(tmp_path, 1.8)  # the lull from 1.691 to 1.978 s
    fault = ctx.events[1]
    fault.in_flight_wait = InFlightWait(wanted=1, timeout_seconds=5.0, waited_seconds=5.0, last_seen=0, most_seen=0,
                                        reached=False)
    FaultToleranceReport().generate(ctx)
    markdown = (ctx.output_dir / MARKDOWN_FILE).read_text()
    assert "**Warning:** 0 requests were in flight when DeletePod(decode) hit" in markdown
    assert "**Warning:** DeletePod(decode) was injected after waiting 5.0 s for 1 requests in flight" in markdown
    assert "| DeletePod(decode) | 1.8 | **0** |" in markdown
