"""run_scenario from plain Python: a real local scenario, without behave."""

import pytest

from ftlib import (LoadConfig, MinRequests, StartLoad, WaitForLoadCompletion, WasCancelled, ZeroErrors,
                   get_deployment_spec, run_scenario)
from ftlib.checks import MinFailures
from ftlib.errors import SpecError
from ftlib.verdicts import read_verdicts


@pytest.mark.e2e
def test_run_scenario_deploys_loads_judges_and_leaves_evidence(tmp_path):
    ctx = run_scenario(
        deployment_spec=get_deployment_spec("mocker", "agg", 1),
        events=[StartLoad(LoadConfig(concurrency=4, request_count=20, output_tokens_mean=16)),
                WaitForLoadCompletion()],
        checks=[ZeroErrors(), MinRequests(20), WasCancelled(cancelled=False)],
        output_dir=tmp_path, test_name="python api smoke")
    scenario_dir = tmp_path / "python_api_smoke"
    assert ctx.load_results("default").succeeded == 20
    assert ctx.startup_seconds is not None and ctx.startup_seconds < 60
    assert (scenario_dir / "load" / "default" / "profile_export.jsonl").exists()
    assert list((scenario_dir / "decode").glob("*.log")), "the worker pod's log is kept"
    assert (scenario_dir / "timeline.json").exists()


@pytest.mark.e2e
def test_run_scenario_judges_every_check_lists_each_failure_and_keeps_the_evidence(tmp_path):
    with pytest.raises(AssertionError) as failure:
        run_scenario(
            deployment_spec=get_deployment_spec("mocker", "agg", 1),
            events=[StartLoad(LoadConfig(concurrency=4, request_count=20, output_tokens_mean=16)),
                    WaitForLoadCompletion()],
            checks=[WasCancelled(), ZeroErrors(), MinFailures(1)],
            output_dir=tmp_path, test_name="too demanding")
    records = tmp_path / "too_demanding" / "load" / "default" / "profile_export.jsonl"
    assert str(failure.value).splitlines()[0] == "2 checks failed:"
    assert "load 'default' cancelled: it ran to completion (20 requests recorded) — FAILED" in str(failure.value)
    assert "failures ≥ 1: 0 of 20 failed — FAILED" in str(failure.value)
    assert f"evidence: {records}" in str(failure.value)
    assert [v.line for v in read_verdicts(tmp_path / "too_demanding")] == [
        "load 'default' cancelled: it ran to completion (20 requests recorded) — FAILED", "no errors: 0 of 20 failed — ok",
        "failures ≥ 1: 0 of 20 failed — FAILED"]


def test_run_scenario_rejects_an_unknown_load_name_before_judging(tmp_path):
    with pytest.raises(SpecError, match="no load named 'missing'"):
        run_scenario(deployment_spec=get_deployment_spec("mocker", "agg", 1), events=[],
                     checks=[ZeroErrors(name="missing")], output_dir=tmp_path, test_name="no load")


def test_a_rerun_starts_from_an_empty_evidence_folder(tmp_path):
    from ftlib.evidence import STAMP_FILE
    from ftlib.scenario import claim_evidence_folder

    first = claim_evidence_folder(tmp_path / "scenario", "scenario")
    (first.path / "load" / "default").mkdir(parents=True)
    (first.path / "load" / "default" / "profile_export.jsonl").write_text("{}\n")
    first.release()

    again = claim_evidence_folder(tmp_path / "scenario", "scenario")
    assert [p.name for p in again.path.iterdir()] == [STAMP_FILE]
    again.release()


def test_a_folder_that_is_not_evidence_is_never_deleted(tmp_path):
    from ftlib.scenario import claim_evidence_folder

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SpecError, match="has no dynamo-ft-evidence.json .*refusing to delete it"):
        claim_evidence_folder(tmp_path, "scenario")
    assert (tmp_path / "precious.txt").exists()


def test_run_scenario_rejects_an_unknown_fault_target_before_deploying(tmp_path):
    from ftlib import DeletePod

    with pytest.raises(SpecError, match="has no service 'ghost'"):
        run_scenario(deployment_spec=get_deployment_spec("mocker", "agg", 1),
                     events=[StartLoad(LoadConfig(concurrency=1, request_count=5)), DeletePod(["ghost"])],
                     checks=[], output_dir=tmp_path, test_name="ghost")
    assert not (tmp_path / "ghost").exists(), "nothing was deployed, no evidence folder was made"
