"""ftlib.bdd: the plan pass. Every step is resolved and validated with ``execute=False``, and
nothing is deployed: no context, no platform, no output directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftlib.bdd import GherkinScenario, seconds
from ftlib.checks import MaxErrors, WasCancelled, ZeroErrors
from ftlib.errors import SpecError
from ftlib.events import DeletePod, StartLoad, StopLoad, TerminateProcess, Wait, WaitForLoadCompletion
from ftlib.load.config import LoadConfig
from ftlib.options import RunOptions

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def plan(tmp_path) -> GherkinScenario:
    """A scenario in plan mode whose output directory would be under tmp_path (it must stay absent)."""
    return GherkinScenario("worker dies under load", RunOptions(output_dir=str(tmp_path / "out")), REPO_ROOT,
                           execute=False)


@pytest.fixture
def vllm_disagg(plan) -> GherkinScenario:
    plan.use_backend("vllm", "disagg")
    return plan


def a_load(name: str = "default") -> StartLoad:
    return StartLoad(LoadConfig(request_count=20, concurrency=2), name=name)


# -- seconds ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, unit, expected", [(30, "seconds", 30), (1, "second", 1), (2, "minutes", 120),
                                                   (0.5, "minute", 30)])
def test_seconds_converts_seconds_and_minutes(value, unit, expected):
    assert seconds(value, unit) == expected


def test_seconds_rejects_other_units_naming_the_allowed_ones():
    with pytest.raises(SpecError, match="unknown time unit 'hours'; allowed: seconds, minutes"):
        seconds(1, "hours")


# -- Given --------------------------------------------------------------------------------------------

def test_an_unknown_backend_names_the_allowed_backends(plan):
    with pytest.raises(SpecError, match="unknown backend 'vlm'; allowed: vllm, trtllm, sglang, mocker"):
        plan.use_backend("vlm", "agg")


def test_an_unknown_topology_names_the_allowed_topologies(plan):
    with pytest.raises(SpecError, match="unknown topology 'aggregated'; allowed: agg, disagg"):
        plan.use_backend("vllm", "aggregated")


def test_a_backend_with_replicas_sets_every_worker(plan):
    plan.use_backend("sglang", "disagg", 2)

    assert {s.name: s.replicas for s in plan.spec.workers} == {"SglangDecodeWorker": 2, "SglangPrefillWorker": 2}
    assert plan.plan == ["deployment sglang-disagg [sglang disagg]: Frontend(frontend) x1, "
                         "SglangDecodeWorker(decode) x2, SglangPrefillWorker(prefill) x2 "
                         "from ftlib/specs/sglang-disagg.yaml"]


def test_a_deployment_file_is_read_relative_to_the_repository(plan):
    plan.use_file("ftlib/specs/trtllm-agg.yaml")

    assert set(plan.spec.services) == {"Frontend", "TRTLLMWorker"}
    assert plan.spec.source == str(REPO_ROOT / "ftlib" / "specs" / "trtllm-agg.yaml")


def test_an_upstream_example_can_be_given_by_absolute_path(plan, reference_dir):
    plan.use_file(str(reference_dir / "sglang-disagg.v1beta1.yaml"))

    plan.set_replicas("decode worker", 2)

    assert plan.plan[-1] == "decode: 2 replicas"


def test_a_missing_deployment_file_is_an_error_naming_it(plan):
    with pytest.raises(SpecError, match=f"deployment file '{REPO_ROOT}/nope.yaml' does not exist"):
        plan.use_file("nope.yaml")


def test_a_second_deployment_is_an_error(vllm_disagg):
    with pytest.raises(SpecError, match=r"already has a deployment \(vllm-disagg\); give only one"):
        vllm_disagg.use_backend("mocker", "agg")


def test_the_image_option_is_applied_to_every_service(tmp_path):
    scenario = GherkinScenario("s", RunOptions(image="registry/dynamo:1.6.1"), REPO_ROOT, execute=False)
    scenario.use_backend("mocker", "disagg")

    assert {s.image for s in scenario.spec.services.values()} == {"registry/dynamo:1.6.1"}


def test_given_steps_edit_the_service_a_role_word_names(vllm_disagg):
    vllm_disagg.set_replicas("prefill worker", 3)
    vllm_disagg.set_env("decode", "DYN_LOG", "debug")
    vllm_disagg.add_args("VllmDecodeWorker", "--max-num-seqs 4 --kv-transfer-config '{\"a\": 1}'")
    vllm_disagg.set_migration_limit(2)

    spec = vllm_disagg.spec
    assert spec.get_service("VllmPrefillWorker").replicas == 3
    assert spec.get_service("VllmDecodeWorker").envs == {"DYN_LOG": "debug"}
    assert spec.get_service("VllmDecodeWorker").args[-4:] == ["--max-num-seqs", "4", "--kv-transfer-config", '{"a": 1}']
    assert spec.frontend.arg_value("--migration-limit") == "2"
    assert vllm_disagg.plan[1:] == [
        "VllmPrefillWorker: 3 replicas", "VllmDecodeWorker: env DYN_LOG=debug",
        "VllmDecodeWorker: extra arguments ['--max-num-seqs', '4', '--kv-transfer-config', '{\"a\": 1}']",
        "frontend: --migration-limit 2"]


@pytest.mark.parametrize("step", [
    lambda s: s.set_replicas("router", 2),
    lambda s: s.set_env("router", "A", "1"),
    lambda s: s.add_args("router", "--x"),
])
def test_a_given_step_on_an_unknown_service_names_the_services(vllm_disagg, step):
    with pytest.raises(SpecError) as error:
        step(vllm_disagg)
    assert "has no service 'router'; services: Frontend (frontend), VllmDecodeWorker (decode), " \
           "VllmPrefillWorker (prefill)" in str(error.value)


def test_extra_arguments_that_cannot_be_split_are_an_error(vllm_disagg):
    with pytest.raises(SpecError, match="cannot split the extra arguments"):
        vllm_disagg.add_args("decode", "--name 'unclosed")


def test_a_negative_migration_limit_is_an_error(vllm_disagg):
    with pytest.raises(SpecError, match="the migration limit must be a whole number from 0 to 100, got -1"):
        vllm_disagg.set_migration_limit(-1)


def test_a_given_step_before_any_deployment_says_how_to_start(plan):
    with pytest.raises(SpecError, match="no deployment yet: start the scenario with 'Given a {backend} {topology}"):
        plan.set_replicas("worker", 2)


# -- When -----------------------------------------------------------------------------------------------

def test_an_event_before_any_deployment_is_an_error(plan):
    with pytest.raises(SpecError, match="no deployment yet"):
        plan.event(a_load())


def test_delete_pod_on_an_unknown_service_errors_while_planning(vllm_disagg):
    with pytest.raises(SpecError) as error:
        vllm_disagg.event(DeletePod(["router"]))
    assert "has no service 'router'" in str(error.value)
    assert "role words: frontend, worker, decode worker, prefill worker, decode, prefill" in str(error.value)


def test_killing_the_worker_of_a_disagg_deployment_is_ambiguous_and_lists_the_services(vllm_disagg):
    with pytest.raises(SpecError, match=r"'worker' matches several services \(VllmDecodeWorker, VllmPrefillWorker\)"):
        vllm_disagg.event(TerminateProcess(["worker"], "dynamo.vllm"))


@pytest.mark.parametrize("event", [StopLoad(), WaitForLoadCompletion(name="steady")],
                         ids=["stop", "wait-for-completion"])
def test_stopping_or_waiting_for_a_load_never_started_is_an_error(vllm_disagg, event):
    with pytest.raises(SpecError, match=f"no load named '{event.name}' was started before this step; "
                                        "loads: none started"):
        vllm_disagg.event(event)


# -- Then -------------------------------------------------------------------------------------------------

def test_a_check_naming_an_unknown_load_is_an_error_listing_the_loads(vllm_disagg):
    vllm_disagg.event(a_load("steady"))
    vllm_disagg.event(a_load("burst"))

    with pytest.raises(SpecError, match="no load named 'default' was started before this step; loads: steady, burst"):
        vllm_disagg.check(ZeroErrors())


def test_a_check_before_any_load_says_none_was_started(vllm_disagg):
    with pytest.raises(SpecError, match="loads: none started"):
        vllm_disagg.check(MaxErrors(3, name="default"))


# -- the whole plan -----------------------------------------------------------------------------------

def test_a_whole_scenario_is_planned_and_nothing_is_deployed(vllm_disagg, tmp_path):
    vllm_disagg.set_migration_limit(3)
    vllm_disagg.make_ready()
    vllm_disagg.event(a_load())
    vllm_disagg.event(Wait(5))
    vllm_disagg.event(TerminateProcess(["decode worker"], "dynamo.vllm", "kill", one_pod=True))
    vllm_disagg.event(DeletePod(["prefill"]))
    vllm_disagg.event(WaitForLoadCompletion())
    vllm_disagg.check(ZeroErrors())
    vllm_disagg.check(WasCancelled(cancelled=False))

    assert vllm_disagg.ctx is None
    assert vllm_disagg.finish(aborted=False) == []
    assert not (tmp_path / "out").exists()
    assert vllm_disagg.describe_plan().splitlines()[1:] == [
        "  frontend: --migration-limit 3",
        "  deploy and wait until ready",
        "  when: start load 'default': 20 requests at concurrency 2",
        "  when: wait 5 s",
        "  when: send SIGKILL to 'dynamo.vllm' in one pod of decode worker [decode worker -> VllmDecodeWorker]",
        "  when: delete every pod of prefill (force) [prefill -> VllmPrefillWorker]",
        "  when: wait for load 'default' to complete",
        "  then: no failed requests in load 'default'",
        "  then: load 'default' was not cancelled",
    ]


def test_the_output_directory_is_named_after_the_scenario(plan, tmp_path):
    assert plan.output_dir == tmp_path / "out" / "worker_dies_under_load"


def test_a_relative_output_directory_is_under_the_repository():
    scenario = GherkinScenario("a/b c", RunOptions(output_dir="test_outputs"), REPO_ROOT, execute=False)

    assert scenario.output_dir == REPO_ROOT / "test_outputs" / "a_b_c"


def test_a_check_that_measures_from_a_fault_needs_a_fault_step_before_it():
    from ftlib.checks import RecoveredWithin

    planner = GherkinScenario("no fault", RunOptions(), REPO_ROOT, execute=False)
    planner.use_backend("mocker", "agg")
    with pytest.raises(SpecError, match="measures from a fault, but no fault step comes before it"):
        planner.check(RecoveredWithin(30))
