"""ftlib.events.load: a load whose client fails to start is not left running, so the teardown does
not report its failure a second time, and a check on it says why it has no results."""

from __future__ import annotations

import pytest

from fake_deployment import FakeDeployment, context_with
from ftlib.errors import LoadError
from ftlib.events import StartLoad
from ftlib.load.config import LoadConfig

START_FAILED = "aiperf for load 'default' exited with code 1 before sending requests; last output:\nno tokenizer"


class FailingClient:
    """A load client that cannot start, and whose stop finds no records either."""

    def __init__(self) -> None:
        self.stopped = 0

    def start(self) -> None:
        raise LoadError(START_FAILED)

    def stop(self):
        self.stopped += 1
        raise LoadError("load 'default' produced no request records (aiperf exit code 1)")


@pytest.fixture
def failed_start(tmp_path, monkeypatch):
    ctx = context_with(FakeDeployment(), tmp_path)
    ctx.monitors = []
    client = FailingClient()
    monkeypatch.setattr(ctx, "new_load_runner", lambda name, config: client)
    load = StartLoad(LoadConfig(concurrency=2, request_count=10))
    with pytest.raises(LoadError, match="exited with code 1 before sending requests"):
        ctx.run_event(load)
    return ctx, load, client


def test_a_client_that_fails_to_start_is_stopped_once_and_the_load_is_not_left_running(failed_start):
    ctx, load, client = failed_start

    assert client.stopped == 1
    assert not load.active
    assert load.failure == f"LoadError: {START_FAILED}"


def test_the_teardown_of_a_load_that_failed_to_start_reports_no_second_problem(failed_start):
    ctx, _, client = failed_start

    assert ctx.finish(aborted=True) == []
    assert client.stopped == 1


def test_a_check_on_a_load_that_failed_to_start_says_why_it_has_no_results(failed_start):
    ctx, _, _ = failed_start

    with pytest.raises(LoadError) as error:
        ctx.load_results("default")

    assert str(error.value) == f"load 'default' has no results: LoadError: {START_FAILED}"


def test_a_teardown_problem_that_repeats_the_error_that_stopped_the_scenario_is_not_returned(tmp_path):
    ctx = context_with(FakeDeployment(), tmp_path)
    ctx.monitors = []
    ctx.deployment.teardown = lambda: (_ for _ in ()).throw(LoadError(START_FAILED))
    stopped_by = LoadError(START_FAILED)

    assert ctx.finish(aborted=True, stopped_by=stopped_by) == []
    assert ctx.finish(aborted=True, stopped_by=LoadError("something else")) == [f"tearing down: {START_FAILED}"]
