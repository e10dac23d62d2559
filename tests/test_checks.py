"""ftlib.checks: verdicts on recorded load results; every verdict, pass or fail, says what was
expected and what was observed, with numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftlib.checks import MaxErrors, MinFailures, MinRequests, WasCancelled, ZeroErrors
from ftlib.verdicts import CheckFailed
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
    with pytest.raises(CheckFailed) as error:
        check.validate(ctx)
    return str(error.value)


def line_of(check, ctx) -> str:
    return check.judge(ctx).line


KINDS = "(stream cut (no output) ×2, 503 Service Unavailable ×1)"


# -- ZeroErrors -------------------------------------------------------------------------------------

def test_zero_errors_passes_on_a_clean_load_and_says_so_with_numbers(ctx):
    ZeroErrors(name="steady").validate(ctx)
    assert line_of(ZeroErrors(name="steady"), ctx) == "no errors (load 'steady'): 0 of 10 failed — ok"


def test_zero_errors_fails_on_cut_streams_and_says_what_it_saw(ctx):
    assert line_of(ZeroErrors(), ctx) == f"no errors: 3 of 45 failed {KINDS}, load cancelled — FAILED"


def test_a_failed_check_names_its_evidence_file(ctx, recorded_run):
    message = failure_of(ZeroErrors(), ctx)
    assert message.splitlines() == [f"no errors: 3 of 45 failed {KINDS}, load cancelled — FAILED",
                                    f"  evidence: {recorded_run / RECORDS_FILE}"]


# -- MaxErrors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [3, 4])
def test_max_errors_passes_at_or_above_the_failures_and_says_how_many_failed(ctx, limit):
    MaxErrors(limit).validate(ctx)
    assert line_of(MaxErrors(limit), ctx) == f"errors ≤ {limit}: 3 of 45 failed {KINDS}, load cancelled — ok"


def test_max_errors_fails_below_the_failures_and_names_the_limit(ctx):
    assert failure_of(MaxErrors(2), ctx).startswith(f"errors ≤ 2: 3 of 45 failed {KINDS}, load cancelled — FAILED")


def test_max_errors_counts_cut_streams_that_aiperf_calls_successes(ctx):
    # aiperf's own summary reports 1 error for this run; the two cut streams count too
    assert "3 of 45 failed" in failure_of(MaxErrors(1), ctx)


# -- MinRequests ----------------------------------------------------------------------------------

def test_min_requests_passes_with_enough_successes_and_counts_them(ctx):
    MinRequests(10, name="steady").validate(ctx)
    assert line_of(MinRequests(42), ctx) == "successes ≥ 42: 42 of 45 succeeded, load cancelled — ok"


def test_min_requests_fails_short_of_the_minimum_and_names_it(ctx):
    assert line_of(MinRequests(43), ctx) == "successes ≥ 43: 42 of 45 succeeded, load cancelled — FAILED"


def test_min_requests_does_not_count_cut_streams_as_successes(ctx):
    assert "42 of 45 succeeded" in failure_of(MinRequests(44), ctx)  # aiperf's summary says 44


# -- MinFailures ----------------------------------------------------------------------------------

def test_min_failures_passes_when_the_fault_was_visible(ctx):
    assert line_of(MinFailures(3), ctx) == f"failures ≥ 3: 3 of 45 failed {KINDS}, load cancelled — ok"


def test_min_failures_fails_on_a_clean_load_and_names_the_minimum(ctx):
    assert line_of(MinFailures(1, name="steady"), ctx) == "failures ≥ 1 (load 'steady'): 0 of 10 failed — FAILED"


# -- WasCancelled -------------------------------------------------------------------------------------

def test_was_cancelled_passes_on_a_stopped_load(ctx):
    WasCancelled().validate(ctx)
    WasCancelled(cancelled=False, name="steady").validate(ctx)
    assert line_of(WasCancelled(), ctx) == "load 'default' cancelled: it was cancelled (45 requests recorded) — ok"


def test_was_cancelled_fails_on_a_completed_load_saying_both_states(ctx):
    assert line_of(WasCancelled(name="steady"), ctx) == (
        "load 'steady' cancelled: it ran to completion (10 requests recorded) — FAILED")


def test_was_not_cancelled_fails_on_a_stopped_load_saying_both_states(ctx):
    assert line_of(WasCancelled(cancelled=False), ctx) == (
        "load 'default' ran to completion: it was cancelled (45 requests recorded) — FAILED")


# -- verdicts --------------------------------------------------------------------------------------

def test_every_verdict_holds_the_check_expected_observed_and_evidence(ctx, recorded_run):
    verdict = MaxErrors(35).judge(ctx)
    assert (verdict.check, verdict.expected, verdict.passed, verdict.status) == (
        "at most 35 failed requests in load 'default'", "errors ≤ 35", True, "passed")
    assert verdict.observed == f"3 of 45 failed {KINDS}, load cancelled"
    assert verdict.evidence == str(recorded_run / RECORDS_FILE)


def test_a_check_fails_by_raising_check_failed_even_under_python_O(recorded_run):
    """Verdicts never rely on assert statements: python -O must not turn a failure into a pass."""
    code = ("import sys; from ftlib.checks import ZeroErrors; from ftlib.load.results import LoadResults\n"
            "class Ctx:\n"
            f"    def load_results(self, name): return LoadResults.from_aiperf_dir(name, {str(recorded_run)!r}, 64, "
            "True, stopped_early=False)\n"
            "try:\n    ZeroErrors().validate(Ctx())\nexcept AssertionError as e:\n    print(type(e).__name__); sys.exit(0)\n"
            "sys.exit('passed under -O')")
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CheckFailed"


def test_no_assert_statement_decides_a_verdict_in_ftlib():
    sources = sorted((Path(__file__).resolve().parents[1] / "ftlib").rglob("*.py"))
    asserts = [f"{path.name}:{number}" for path in sources
               for number, line in enumerate(path.read_text().splitlines(), 1) if re.match(r"\s*assert\b", line)]
    assert asserts == []


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
    (WasCancelled(cancelled=False), "load 'default' was not cancelled"),
])
def test_each_check_describes_itself_in_one_line(check, text):
    assert check.description == text
