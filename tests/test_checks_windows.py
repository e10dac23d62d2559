"""Checks that lay a fault, the platform's timeline and the load's requests on one clock:
recovery time, time until requests succeed again, failures outside the fault window, and the
success rate. Times are built by hand in seconds after an arbitrary origin."""

from __future__ import annotations

import pytest

from fake_deployment import FakeDeployment, context_with
from ftlib.checks import NoFailuresOutsideFaultWindow, RecoveredWithin, RequestsSucceedAgainWithin, SuccessRate
from ftlib.errors import SpecError
from ftlib.events import DeletePod, StartLoad, WaitForRecovery
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.platform.base import TimelineEntry

T0 = 1_700_000_000 * 10**9  # the fault starts 100 s after this origin


def s(seconds: float) -> int:
    return T0 + int(seconds * 1e9)


def request(start: float, end: float, ok: bool = True) -> RequestRecord:
    return RequestRecord(s(start), s(end), ok, "" if ok else "503 error")


def scenario(tmp_path, requests=(), timeline=(), faults=((100, 101),), name="default"):
    """A context whose deployment saw ``timeline`` ((seconds, kind)…), with one fault per
    (start, end) and a load that made ``requests``."""
    deployment = FakeDeployment()
    deployment.timeline.entries[:] = [TimelineEntry(s(0), "deployment_ready")] + [
        TimelineEntry(s(at), kind) for at, kind in timeline]
    ctx = context_with(deployment, tmp_path)
    load = StartLoad(LoadConfig(concurrency=2, duration_seconds=60), name=name)
    load.results = LoadResults(name, list(requests), was_cancelled=False)
    load.started_ns = s(90)
    ctx.events.append(load)
    for start, end in faults:
        fault = DeletePod(["decode"])
        fault.started_ns, fault.ended_ns = s(start), s(end)
        ctx.events.append(fault)
    return ctx


RECOVERY = ((100.5, "pod_deleted"), (100.5, "deployment_unready"), (112, "deployment_ready"))


def test_recovery_is_measured_from_the_fault_to_the_first_ready_after_it(tmp_path):
    ctx = scenario(tmp_path, timeline=RECOVERY + ((120, "deployment_unready"), (130, "deployment_ready")))
    RecoveredWithin(12).validate(ctx)
    with pytest.raises(AssertionError, match=r"ready again ≤ 11.5 s after the last fault: ready again 12.00 s after delete every pod of decode \(force\) — FAILED"):
        RecoveredWithin(11.5).validate(ctx)


def test_recovery_is_measured_from_the_last_fault(tmp_path):
    timeline = RECOVERY + ((200.2, "deployment_unready"), (203, "deployment_ready"))
    RecoveredWithin(3).validate(scenario(tmp_path, timeline=timeline, faults=((100, 101), (200, 201))))


def test_a_deployment_that_never_got_ready_again_did_not_recover(tmp_path):
    ctx = scenario(tmp_path, timeline=((100.5, "deployment_unready"),))
    with pytest.raises(AssertionError, match=r"ready again ≤ 30 s after the last fault: never ready again after delete every pod of decode \(force\) — FAILED"):
        RecoveredWithin(30).validate(ctx)


def test_a_deployment_that_never_lost_readiness_recovered_at_once(tmp_path):
    verdict = RecoveredWithin(1).judge(scenario(tmp_path, timeline=()))

    assert verdict.passed and verdict.observed.startswith("ready again 0.00 s after ")


def test_measuring_recovery_without_a_fault_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="no fault"):
        RecoveredWithin(30).validate(scenario(tmp_path, faults=()))


def test_requests_succeed_again_counts_only_requests_started_after_the_fault(tmp_path):
    ctx = scenario(tmp_path, requests=[
        request(99, 100.2),  # started before the fault: does not count
        request(100.1, 101, ok=False),
        request(100.5, 104.5),  # the first success of a request started after the fault
        request(102, 104.8),
    ])
    RequestsSucceedAgainWithin(4.5).validate(ctx)
    with pytest.raises(AssertionError, match=r"a request succeeds ≤ 4 s after the last fault: first success 4.50 s after delete every pod of decode \(force\) \(1 requests started after the fault failed before it\) — FAILED"):
        RequestsSucceedAgainWithin(4).validate(ctx)


def test_requests_that_never_succeed_again_fail_the_check(tmp_path):
    ctx = scenario(tmp_path, requests=[request(99, 99.5), request(101, 102, ok=False)])
    with pytest.raises(AssertionError, match=r"none of the 1 requests started after delete every pod of decode \(force\) succeeded — FAILED"):
        RequestsSucceedAgainWithin(60).validate(ctx)


def test_requests_succeed_again_reads_the_named_load(tmp_path):
    ctx = scenario(tmp_path, requests=[request(101, 102)], name="chat")
    RequestsSucceedAgainWithin(2, name="chat").validate(ctx)
    with pytest.raises(SpecError, match="no load named 'default'"):
        RequestsSucceedAgainWithin(2).validate(ctx)


def test_failures_inside_the_fault_window_are_allowed(tmp_path):
    ctx = scenario(tmp_path, timeline=RECOVERY,
                   requests=[request(95, 96), request(99, 100.1, ok=False), request(105, 111.9, ok=False)])
    NoFailuresOutsideFaultWindow().validate(ctx)


def test_failures_before_the_fault_or_after_recovery_are_listed_relative_to_the_fault(tmp_path):
    ctx = scenario(tmp_path, timeline=RECOVERY, requests=[
        request(95, 97, ok=False), request(105, 106, ok=False), request(113, 115, ok=False)])
    with pytest.raises(AssertionError) as failure:
        NoFailuresOutsideFaultWindow().validate(ctx)
    message = str(failure.value)
    assert message.splitlines()[0] == ("no failure outside the fault window: 2 of 3 failed requests outside the "
                                       "window 0 to 12.00 s after delete every pod of decode (force) — FAILED")
    assert "ended at -3.00 s: 503 error" in message and "ended at +15.00 s: 503 error" in message


def test_at_most_five_outside_failures_are_listed(tmp_path):
    ctx = scenario(tmp_path, timeline=RECOVERY, requests=[request(80 + i, 81 + i, ok=False) for i in range(8)])
    with pytest.raises(AssertionError) as failure:
        NoFailuresOutsideFaultWindow().validate(ctx)
    assert str(failure.value).count("ended at") == 5 and "8 of 8" in str(failure.value)


def test_the_window_ends_when_the_recovery_wait_saw_the_deployment_recover(tmp_path):
    ctx = scenario(tmp_path, timeline=RECOVERY, requests=[request(113, 114, ok=False)])
    wait = WaitForRecovery(timeout=30)
    wait.started_ns, wait.recovered_ns = s(101), s(115)
    ctx.events.append(wait)
    NoFailuresOutsideFaultWindow().validate(ctx)


def test_the_window_spans_from_the_first_fault_to_recovery_from_the_last_and_its_end(tmp_path):
    timeline = RECOVERY + ((200.1, "deployment_unready"), (203, "deployment_ready"))
    ctx = scenario(tmp_path, timeline=timeline, faults=((100, 101), (200, 206)),
                   requests=[request(150, 151, ok=False), request(204, 205.5, ok=False)])
    NoFailuresOutsideFaultWindow().validate(ctx)  # 205.5 s is before the last fault ended (206 s)


def test_a_window_that_never_closes_fails(tmp_path):
    ctx = scenario(tmp_path, timeline=((100.5, "deployment_unready"),), requests=[request(101, 102, ok=False)])
    with pytest.raises(AssertionError, match="the window never closed: no recovery after"):
        NoFailuresOutsideFaultWindow().validate(ctx)


def test_the_success_rate_is_the_share_of_requests_that_succeeded(tmp_path):
    ctx = scenario(tmp_path, requests=[request(i, i + 1, ok=i != 3) for i in range(10)])
    SuccessRate(90).validate(ctx)
    with pytest.raises(AssertionError, match=r"success rate ≥ 95 %: 90.00 % \(9 of 10 succeeded\) — FAILED"):
        SuccessRate(95).validate(ctx)


@pytest.mark.parametrize("bad", [-1, 101, "90", True])
def test_a_success_rate_must_be_a_percentage(bad):
    with pytest.raises(SpecError):
        SuccessRate(bad)


@pytest.mark.parametrize("make", [lambda: RecoveredWithin(-1), lambda: RequestsSucceedAgainWithin("5")])
def test_a_time_limit_must_be_seconds_at_least_zero(make):
    with pytest.raises(SpecError):
        make()
