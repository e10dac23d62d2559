"""Requests in flight: the frontend's gauge, the fault steps' bounded wait for it, the count a
fault hit in the recorded requests, and the check on it. The deployment is the in-memory fake
(`fake_deployment.py`) answering /metrics with counts the test sets."""

from __future__ import annotations

import json
import logging

import pytest

from conftest import RECORDS
from fake_deployment import FakeDeployment, context_with
from ftlib.checks import FaultHitInFlight
from ftlib.errors import InFlightShortfall, SpecError
from ftlib.events import DeletePod, RollingUpgrade, StartLoad, TerminateProcess
from ftlib.load.config import LoadConfig
from ftlib.load.inflight import (CUT, FAILED_OTHERWISE, REJECTED, SUCCEEDED, describe_in_flight, in_flight_at,
                                 outcome, wait_for_in_flight)
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.platform.base import gauge_sum

GAUGE = "dynamo_frontend_inflight_requests"


class GaugeDeployment(FakeDeployment):
    """A fake whose frontend pods answer /metrics with the next of ``counts`` (the last one
    repeats); None in ``counts`` is a frontend that does not answer."""

    def __init__(self, counts):
        super().__init__()
        self.counts = list(counts)
        self.reads = 0

    def metrics(self, pod):
        if not pod.startswith(self.spec.frontend.name.lower()):
            return None
        self.reads += 1
        count = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return None if count is None else f'# TYPE {GAUGE} gauge\n{GAUGE}{{model="m"}} {count}\n'


def running_load(ctx) -> StartLoad:
    load = StartLoad(LoadConfig(concurrency=4, duration_seconds=30))
    load.runner = object()  # running: no results yet
    ctx.events.append(load)
    return load


def freeze(**kwargs) -> TerminateProcess:
    """A fault the fake can verify at once: SIGSTOP to the decode worker's engine."""
    return TerminateProcess(["decode"], "dynamo.mocker", "SIGSTOP", in_flight_timeout=kwargs.pop("timeout", 0.5),
                            **kwargs)


# -- the frontend's gauge -------------------------------------------------------------------------

def test_the_gauge_is_summed_over_its_series_and_other_metrics_are_ignored():
    text = (f"# HELP {GAUGE} x\n{GAUGE}{{model=\"a\"}} 3\n{GAUGE}{{model=\"b\",note=\"}}\"}} 2\n"
            f"{GAUGE}_total 9\n{GAUGE} 1\nother 5\n")
    assert gauge_sum(text, GAUGE) == 6
    assert gauge_sum("other 5\n", GAUGE) == 0


def test_the_deployment_reads_in_flight_requests_from_every_frontend_pod(tmp_path):
    deployment = GaugeDeployment([3])
    deployment.add_pod(deployment.spec.frontend.name)  # a second frontend replica
    assert deployment.inflight_requests() == 6
    assert GaugeDeployment([None]).inflight_requests() is None


# -- the bounded wait -----------------------------------------------------------------------------

def test_the_wait_ends_as_soon_as_enough_requests_are_in_flight():
    counts = iter([0, None, 1, 3])
    wait = wait_for_in_flight(lambda: next(counts), 2, timeout=10, sleep=lambda s: None)
    assert (wait.reached, wait.last_seen, wait.most_seen) == (True, 3, 3)
    assert "waited" in wait.describe()


def test_the_wait_gives_up_at_its_bound_and_says_what_it_saw():
    now = [0.0]
    wait = wait_for_in_flight(lambda: 1, 4, timeout=2.0, clock=lambda: now[0],
                              sleep=lambda s: now.__setitem__(0, now[0] + 0.5))
    assert not wait.reached and wait.waited_seconds == pytest.approx(2.0)
    assert wait.describe() == ("fewer than 4 requests in flight after waiting 2.00 s (bound 2 s): the frontend "
                               "reported 1 in flight (at most 1)")


def test_a_frontend_that_raises_counts_as_no_answer():
    def broken():
        raise OSError("connection refused")
    wait = wait_for_in_flight(broken, 1, timeout=0.0)
    assert not wait.reached and wait.most_seen is None
    assert "never answered" in wait.describe()


def test_a_fault_waits_for_a_request_in_flight_before_it_injects(tmp_path):
    deployment = GaugeDeployment([0, 0, 2])
    ctx = context_with(deployment, tmp_path)
    running_load(ctx)
    fault = freeze()
    fault.run(ctx)
    assert fault.in_flight_wait.reached and fault.in_flight_wait.last_seen == 2
    assert deployment.reads == 3 and deployment.signals  # injected after the third read
    assert fault.started_ns is not None


def test_without_a_running_load_a_fault_does_not_wait(tmp_path):
    deployment = GaugeDeployment([0])
    ctx = context_with(deployment, tmp_path)
    fault = freeze()
    fault.run(ctx)
    assert fault.in_flight_wait is None and deployment.reads == 0 and deployment.signals


def test_by_default_a_fault_is_injected_after_the_bound_and_the_shortfall_is_recorded(tmp_path, caplog):
    deployment = GaugeDeployment([0])
    ctx = context_with(deployment, tmp_path)
    running_load(ctx)
    fault = freeze(timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="ftlib.events"):
        fault.run(ctx)
    assert deployment.signals and not fault.in_flight_wait.reached
    assert "fewer than 1 requests in flight" in caplog.text and "injecting anyway" in caplog.text


def test_a_count_the_scenario_asked_for_is_not_reached_so_nothing_is_injected(tmp_path):
    deployment = GaugeDeployment([2])
    ctx = context_with(deployment, tmp_path)
    running_load(ctx)
    fault = freeze(min_in_flight=4, timeout=0.2)
    with pytest.raises(InFlightShortfall, match="not injected: send SIGSTOP .* while at least 4 requests are in "
                                                "flight; fewer than 4 requests in flight after waiting"):
        fault.run(ctx)
    assert deployment.signals == [] and fault.started_ns is None


def test_the_count_asked_for_is_a_whole_number_of_at_least_one():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(SpecError, match="the number of requests in flight must be a whole number from 1"):
            DeletePod(["decode"], min_in_flight=bad)
    assert RollingUpgrade(["decode"], min_in_flight=3).description.endswith("while at least 3 requests are in flight")


# -- what a fault hit, from the records -----------------------------------------------------------

def recorded() -> list[RequestRecord]:
    records = [RequestRecord.from_aiperf(json.loads(line), 64, True) for line in RECORDS.read_text().splitlines()]
    return sorted(records, key=lambda r: r.start_ns)


def test_a_request_in_flight_started_before_the_fault_and_ended_after_it():
    records = recorded()
    fault = records[0].start_ns + 4_000_000_000  # 4.0 s into the real run: two cut streams in flight
    hit = in_flight_at(records, fault)
    assert describe_in_flight(hit) == "4 in flight (2 succeeded, 2 cut)"
    assert in_flight_at(records, records[0].start_ns) == []  # the first request starts, it is not in flight


def test_requests_end_as_succeeded_cut_rejected_or_failed_otherwise():
    kinds = [outcome(r) for r in recorded()]
    assert (kinds.count(SUCCEEDED), kinds.count(CUT), kinds.count(REJECTED)) == (42, 2, 1)
    assert outcome(RequestRecord(0, 1, False, "ClientConnectorError")) == FAILED_OTHERWISE
    assert outcome(RequestRecord(0, 1, False, "cancelled by the client")) == FAILED_OTHERWISE
    assert outcome(RequestRecord(0, 1, False, "500 Internal error", ttft_ms=20.0)) == CUT
    assert outcome(RequestRecord(0, 1, False, "stream error")) == CUT  # the built-in client: an error event mid-stream
    assert outcome(RequestRecord(0, 1, False, "ClientPayloadError")) == CUT  # aiperf: the frontend died mid-body
    assert outcome(RequestRecord(0, 1, False, "ServerDisconnectedError")) == FAILED_OTHERWISE


def checked(tmp_path, fault_at: float):
    records = recorded()
    ctx = context_with(FakeDeployment(), tmp_path)
    load = StartLoad(LoadConfig(concurrency=4, duration_seconds=8))
    load.results = LoadResults("default", records, was_cancelled=False)
    fault = DeletePod(["decode"], one_pod=True)
    fault.started_ns = records[0].start_ns + int(fault_at * 1e9)
    ctx.events += [load, fault]
    return ctx


def test_the_check_passes_when_the_last_fault_hit_enough_requests(tmp_path):
    verdict = FaultHitInFlight(4).judge(checked(tmp_path, 4.0))
    assert verdict.passed
    assert verdict.line.startswith("in flight at the last fault ≥ 4: 4 in flight (2 succeeded, 2 cut) at "
                                   "delete one pod")


def test_the_check_fails_a_fault_that_landed_between_requests_and_shows_the_gap(tmp_path):
    verdict = FaultHitInFlight(1).judge(checked(tmp_path, 1.8))  # the lull from 1.691 to 1.978 s
    assert not verdict.passed and verdict.observed.startswith("0 in flight at delete one pod")
    assert "ended 0.11 s before the fault" in verdict.details and "started 0.18 s after it" in verdict.details
