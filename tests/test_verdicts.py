"""ftlib.verdicts: every check's verdict is kept with its numbers, failures are raised from one
helper, and a scenario's checks are all judged even after one failed or its steps never ran."""

from __future__ import annotations

import json

import pytest

from fake_deployment import FakeDeployment, context_with
from ftlib.checks import MaxErrors, MinFailures, MinRequests, ZeroErrors
from ftlib.errors import LoadError, SpecError
from ftlib.events import StartLoad
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord
from ftlib.verdicts import (VERDICTS_FILE, CheckFailed, Verdict, judge, judge_remaining, raise_if_failed,
                            read_verdicts)

T0 = 1_700_000_000 * 10**9


def recorded(tmp_path, ok: int = 147, failed: int = 5, name: str = "default"):
    """A deployed context whose load ``name`` made ``ok`` good requests and ``failed`` 503s."""
    ctx = context_with(FakeDeployment(), tmp_path)
    records = [RequestRecord(T0 + i, T0 + i + 1, i >= failed, "" if i >= failed else "503 Service Unavailable")
               for i in range(ok + failed)]
    load = StartLoad(LoadConfig(concurrency=2, duration_seconds=10), name=name)
    load.results = LoadResults(name, records, was_cancelled=False, directory=tmp_path / "load" / name)
    ctx.events.append(load)
    return ctx


def test_a_verdict_line_says_expected_observed_and_outcome():
    verdict = Verdict("at most 35 failed requests", "errors ≤ 35", "5 of 152 failed (503 ×5)", True)
    assert verdict.line == "errors ≤ 35: 5 of 152 failed (503 ×5) — ok"
    assert Verdict("c", "errors ≤ 3", "5 of 152 failed", False).line == "errors ≤ 3: 5 of 152 failed — FAILED"


def test_a_failure_message_holds_details_and_the_evidence_path():
    verdict = Verdict("c", "no errors", "2 of 9 failed", False, "/evidence/load/default/profile_export.jsonl",
                      details="the first ones:\nended at +1.00 s: 503")
    assert verdict.message() == ("no errors: 2 of 9 failed — FAILED\n  the first ones:\n  ended at +1.00 s: 503\n"
                                 "  evidence: /evidence/load/default/profile_export.jsonl")


def test_raise_if_failed_lists_every_failed_verdict_and_ignores_passed_ones():
    ok = Verdict("a", "errors ≤ 35", "5 of 152 failed", True)
    bad = [Verdict("b", "no errors", "5 of 152 failed", False), Verdict("c", "successes ≥ 200", "147 of 152", False)]
    raise_if_failed([ok])
    with pytest.raises(CheckFailed) as failure:
        raise_if_failed([ok, *bad])
    assert isinstance(failure.value, AssertionError)  # behave and Allure show it as failed, not broken
    assert failure.value.verdicts == bad
    assert str(failure.value).splitlines() == ["2 checks failed:", "no errors: 5 of 152 failed — FAILED",
                                               "successes ≥ 200: 147 of 152 — FAILED"]


def test_judging_keeps_each_verdict_pass_or_fail_in_verdicts_json(tmp_path):
    ctx = recorded(tmp_path)
    judge(MaxErrors(35), ctx)
    judge(ZeroErrors(), ctx)
    saved = json.loads((tmp_path / VERDICTS_FILE).read_text())
    assert saved["passed"] is False
    assert [(v["status"], v["line"]) for v in saved["verdicts"]] == [
        ("passed", "errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok"),
        ("failed", "no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED")]
    assert saved["verdicts"][0]["check"] == "at most 35 failed requests in load 'default'"
    assert saved["verdicts"][0]["evidence"] == str(tmp_path / "load" / "default" / "profile_export.jsonl")
    assert read_verdicts(tmp_path) == ctx.verdicts


def test_a_check_that_cannot_judge_keeps_a_could_not_judge_verdict_and_raises_its_error(tmp_path):
    ctx = recorded(tmp_path)
    with pytest.raises(SpecError, match="no load named 'other'"):
        judge(ZeroErrors(name="other"), ctx)
    (verdict,) = read_verdicts(tmp_path)
    assert verdict.status == "broken"
    assert verdict.line.startswith("no errors (load 'other'): SpecError: ") and verdict.line.endswith(
        " — could not judge")


def test_the_scenario_context_judges_records_and_raises_check_failed(tmp_path):
    ctx = recorded(tmp_path)
    assert ctx.check(MinRequests(100)).passed
    with pytest.raises(CheckFailed, match="successes ≥ 148: 147 of 152 succeeded — FAILED"):
        ctx.check(MinRequests(148))
    assert [v.passed for v in read_verdicts(tmp_path)] == [True, False]


def test_checks_whose_steps_never_ran_are_judged_after_the_scenario_stopped(tmp_path):
    ctx = recorded(tmp_path)
    planned = [MaxErrors(35), ZeroErrors(), MinFailures(1), MaxErrors(35)]
    judge(planned[0], ctx)  # the only Then step that ran
    added = judge_remaining(planned, ctx, "its step did not run")
    assert [v.line for v in added] == [
        "no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED",
        "failures ≥ 1: 5 of 152 failed (503 Service Unavailable ×5) — ok",
        "errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok"]  # the same check twice: judged twice
    assert {v.note for v in added} == {"its step did not run"}
    assert len(read_verdicts(tmp_path)) == 4


def test_judging_the_rest_never_raises_and_says_what_could_not_be_judged(tmp_path):
    ctx = recorded(tmp_path)
    ctx.events[0].results = None
    ctx.events[0].runner = None

    class NoResults(ZeroErrors):
        def judge(self, ctx):
            raise LoadError("load 'default' produced no request records")

    class Broken(ZeroErrors):
        def judge(self, ctx):
            raise KeyError("a bug")

    added = judge_remaining([NoResults(), Broken()], ctx, "its step did not run")
    assert [v.status for v in added] == ["broken", "broken"]
    assert added[0].observed == "LoadError: load 'default' produced no request records"
    assert added[1].observed == "KeyError: 'a bug'"
