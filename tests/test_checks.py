"""ftlib.checks: verdicts on recorded load results; every failure says what was expected and seen."""

from __future__ import annotations

import pytest

from ftlib.checks import MaxErrors, MinFailures, MinRequests, WasCancelled, ZeroErrors
from ftlib.errors import SpecError
from ftlib.load.results import RECORDS_FILE, LoadResults

KILLED = ("load 'default': 45 requests, 42 succeeded, 3 failed "
          "(stream cut (no output) x2, 503 Service Unavailable x1), cancelled")
CLEAN = "load 'steady': 10 requests, 10 succeeded, 0 failed"


class LoadResultsContextDouble:
    """A test double of ScenarioContext offering only what load checks use: ``load_results(name)``."""

    def __init__(self, *results: LoadResults):
        self._results = {r.name: r for r in results}

    def load_results(self, name: str) -> LoadResults:
        if name not in self._results:
            raise SpecError(f"there is no load named {name!r}")
        return self._results[name]


@pytest.fixture
def ctx(recorded_run, recorded_lines, tmp_path) -> LoadResultsContextDouble:
    """Two loads: ``default``, the recorded worker kill (42 ok, 3 failed, cancelled), and
    ``steady``, ten of its successful records from a load that ran to completion."""
    killed = LoadResults.from_aiperf_dir("default", recorded_run, 64, True, stopped_early=False)
    steady_dir = tmp_path / "steady"
    steady_dir.mkdir()
    (steady_dir / RECORDS_FILE).write_text("\n".join(recorded_lines[:10]) + "\n")
    steady = LoadResults.from_aiperf_dir("steady", steady_dir, 64, True, stopped_early=False)
    assert (killed.describe(), steady.describe()) == (KILLED, CLEAN)
    return LoadResultsContextDouble(killed, steady)


def failure_of(check, ctx) -> str:
    with pytest.raises(AssertionError) as error:
        check.validate(ctx)
    return str(error.value)


# -- ZeroErrors -------------------------------------------------------------------------------------

def test_zero_errors_passes_on_a_clean_load(ctx):
    ZeroErrors(name="steady").validate(ctx)


def test_zero_errors_fails_on_cut_streams_and_says_what_it_saw(ctx):
    assert failure_of(ZeroErrors(), ctx) == f"expected no failed requests; {KILLED}"


# -- MaxErrors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [3, 4])
def test_max_errors_passes_at_or_above_the_failures(ctx, limit):
    MaxErrors(limit).validate(ctx)


def test_max_errors_fails_below_the_failures_and_names_the_limit(ctx):
    assert failure_of(MaxErrors(2), ctx) == f"expected at most 2 failed requests; {KILLED}"


def test_max_errors_counts_cut_streams_that_aiperf_calls_successes(ctx):
    # aiperf's own summary reports 1 error for this run; the two cut streams count too
    assert "3 failed" in failure_of(MaxErrors(1), ctx)


# -- MinRequests ----------------------------------------------------------------------------------

def test_min_requests_passes_with_enough_successes(ctx):
    MinRequests(42).validate(ctx)
    MinRequests(10, name="steady").validate(ctx)


def test_min_requests_fails_short_of_the_minimum_and_names_it(ctx):
    assert failure_of(MinRequests(43), ctx) == f"expected at least 43 successful requests; {KILLED}"


def test_min_requests_does_not_count_cut_streams_as_successes(ctx):
    assert "42 succeeded" in failure_of(MinRequests(44), ctx)  # aiperf's summary says 44


# -- MinFailures ----------------------------------------------------------------------------------

def test_min_failures_passes_when_the_fault_was_visible(ctx):
    MinFailures(3).validate(ctx)


def test_min_failures_fails_on_a_clean_load_and_names_the_minimum(ctx):
    assert failure_of(MinFailures(1, name="steady"), ctx) == f"expected at least 1 failed requests; {CLEAN}"


# -- WasCancelled -------------------------------------------------------------------------------------

def test_was_cancelled_passes_on_a_stopped_load(ctx):
    WasCancelled().validate(ctx)
    WasCancelled(expected=False, name="steady").validate(ctx)


def test_was_cancelled_fails_on_a_completed_load_saying_both_states(ctx):
    assert failure_of(WasCancelled(name="steady"), ctx) == (
        "expected load 'steady' to be cancelled; it ran to completion")


def test_was_not_cancelled_fails_on_a_stopped_load_saying_both_states(ctx):
    assert failure_of(WasCancelled(expected=False), ctx) == (
        "expected load 'default' to run to completion; it was cancelled")


# -- construction and descriptions ------------------------------------------------------------------

@pytest.mark.parametrize("check", [MaxErrors, MinRequests, MinFailures])
@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", 100_001])
def test_counts_must_be_whole_numbers_from_zero_to_the_request_bound(check, bad):
    with pytest.raises(SpecError, match=f"must be a whole number from 0 to 100000, got {bad!r}"):
        check(bad)


def test_a_check_on_an_unknown_load_is_an_error_not_a_failure(ctx):
    with pytest.raises(SpecError, match="no load named 'other'"):
        ZeroErrors(name="other").validate(ctx)


@pytest.mark.parametrize("check, text", [
    (ZeroErrors(), "no failed requests in load 'default'"),
    (MaxErrors(2, name="a"), "at most 2 failed requests in load 'a'"),
    (MinRequests(5), "at least 5 successful requests in load 'default'"),
    (MinFailures(1), "at least 1 failed requests in load 'default'"),
    (WasCancelled(), "load 'default' was cancelled"),
    (WasCancelled(expected=False), "load 'default' was not cancelled"),
])
def test_each_check_describes_itself_in_one_line(check, text):
    assert check.description == text
