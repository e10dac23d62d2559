"""ftlib.plan: the plan knows no concrete event or check; each declares what the plan needs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ftlib
from ftlib.checks import Check, FaultHitInFlight, MaxErrors, RecoveredWithin, RequestsSucceedAgainWithin, ZeroErrors
from ftlib.errors import SpecError
from ftlib.events import DeletePod, FreezeProcess, StartLoad, StopLoad, TerminateProcess, Wait, WaitForLoadCompletion
from ftlib.events.base import Event, started_faults
from ftlib.events.time import WaitForRecovery
from ftlib.load.config import LoadConfig
from ftlib.plan import PlanValidator, validate_scenario
from ftlib.scenario import run_scenario
from ftlib.spec import get_deployment_spec


def _all_subclasses(base: type) -> list[type]:
    for module in pkgutil.walk_packages(ftlib.__path__, "ftlib."):
        if ".kubernetes" not in module.name:  # optional cluster client; its classes are not events
            importlib.import_module(module.name)
    found, todo = [], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("ftlib."):
                found.append(sub)
            todo.append(sub)
    return found


@pytest.mark.parametrize("base", [Event, Check])
def test_every_event_and_check_in_ftlib_declares_its_target_services(base):
    concrete = [cls for cls in _all_subclasses(base) if not inspect.isabstract(cls)]

    assert len(concrete) >= (9 if base is Event else 10)
    for cls in concrete:
        assert cls.target_services is not base.target_services, f"{cls.__name__} does not declare target_services"


def test_an_event_that_does_not_declare_its_target_services_cannot_be_made():
    class Silent(Event):
        def execute(self, ctx):
            pass

        @property
        def description(self):
            return "silent"

    with pytest.raises(TypeError, match="target_services"):
        Silent()


def load(name: str = "default") -> StartLoad:
    return StartLoad(LoadConfig(request_count=10, concurrency=2), name=name)


def running_load(concurrency: int = 2, seconds: float = 30) -> StartLoad:
    return StartLoad(LoadConfig(concurrency=concurrency, duration_seconds=seconds))


class ExplodingPlatform:
    """A platform that must never be asked to deploy."""

    name = "exploding"

    def deploy(self, spec, output_dir):
        raise AssertionError("deploy was called")


@pytest.mark.parametrize("events, checks, message", [
    ([load(), load()], [], "a load named 'default' was already started"),
    ([load(), WaitForLoadCompletion(), StopLoad()], [], "load 'default' has already completed"),
    ([Wait(1), WaitForRecovery(30)], [], "measures from a fault, but no fault step comes before it"),
    ([TerminateProcess(["decode"], "dynamo.frontend")], [], "no process of decode (decode) can match"),
    ([], [RecoveredWithin(30)], "measures from a fault"),
    ([load("a")], [ZeroErrors(name="b")], "no load named 'b' was started before this step; loads: a"),
    ([running_load(2), DeletePod(["decode"], min_in_flight=10)], [],
     "waits for at least 10 requests in flight, but the loads running at that point keep at most 2 in flight "
     "(load 'default': concurrency 2)"),
    ([running_load(4, 10), Wait(20), DeletePod(["decode"], min_in_flight=2)], [],
     "no load is running at that point (load 'default' sends for 10 s and the steps before this one take at least "
     "20 s)"),
    ([running_load(4, 10), FreezeProcess(["decode"], "dynamo.mocker", 12), DeletePod(["decode"], min_in_flight=1)], [],
     "the steps before this one take at least 12 s"),
    ([running_load(2), DeletePod(["decode"])], [FaultHitInFlight(3)], "keeps at most 2 requests in flight"),
    ([load(), WaitForLoadCompletion(), DeletePod(["decode"])], [RequestsSucceedAgainWithin(5)],
     "had stopped sending before the last fault"),
], ids=["load-twice", "stop-completed", "recovery-without-fault", "frontend-process-in-worker",
        "recovery-check-without-fault", "check-of-unknown-load", "more-in-flight-than-the-concurrency",
        "in-flight-after-the-load-is-over", "a-freeze-counts-as-time", "a-fault-hit-check-beyond-the-concurrency",
        "succeeding-again-with-no-load-after-the-fault"])
def test_run_scenario_rejects_a_bad_scenario_before_anything_is_deployed(tmp_path, events, checks, message):
    with pytest.raises(SpecError) as error:
        run_scenario(get_deployment_spec("mocker", "agg"), events, checks, platform=ExplodingPlatform(),
                     output_dir=tmp_path / "out")

    assert message in str(error.value)
    assert not (tmp_path / "out").exists()


def test_run_scenario_rejects_zero_worker_replicas_before_deploying(tmp_path):
    spec = get_deployment_spec("mocker", "agg", worker_replicas=0)

    with pytest.raises(SpecError, match=r"service decode \(decode\) has 0 replicas"):
        run_scenario(spec, [Wait(1)], [], platform=ExplodingPlatform(), output_dir=tmp_path / "out")


def test_a_then_step_ends_every_running_load():
    spec, plan = get_deployment_spec("mocker", "agg"), PlanValidator()
    plan.event(spec, load())
    plan.check(spec, MaxErrors(3))

    with pytest.raises(SpecError, match="completed at an earlier Then step"):
        plan.event(spec, StopLoad())


def test_a_load_that_was_stopped_can_still_be_checked():
    validate_scenario(get_deployment_spec("mocker", "agg"), [load(), StopLoad()], [ZeroErrors()])


def test_a_process_name_that_is_part_of_the_declared_command_line_is_accepted():
    spec = get_deployment_spec("vllm", "disagg")

    validate_scenario(spec, [TerminateProcess(["decode worker"], "dynamo.vllm"),
                             FreezeProcess(["frontend"], "python", 5), DeletePod(["prefill"])], [])


def test_a_service_that_declares_no_command_is_not_judged_by_process_name():
    spec = get_deployment_spec("mocker", "agg")
    container = spec.get_service("decode")._container()
    container.pop("command", None)
    container.pop("args", None)

    validate_scenario(spec, [TerminateProcess(["decode"], "anything")], [])


def test_started_faults_are_the_injected_faults_in_order():
    first, never, second = DeletePod(["decode"]), DeletePod(["decode"]), TerminateProcess(["decode"], "dynamo")
    first.started_ns, second.started_ns = 1, 2

    assert started_faults([first, Wait(1), never, second]) == [first, second]


def test_a_rolling_upgrade_trigger_must_be_an_environment_variable_name():
    from ftlib.events import RollingUpgrade

    with pytest.raises(SpecError, match="'1-x' is not a valid environment variable name"):
        RollingUpgrade(["worker"], env_name="1-x")


def test_two_loads_running_together_can_hold_their_concurrencies_together():
    spec, plan = get_deployment_spec("mocker", "agg"), PlanValidator()
    plan.event(spec, StartLoad(LoadConfig(concurrency=2, duration_seconds=30), name="a"))
    plan.event(spec, StartLoad(LoadConfig(concurrency=3, request_count=50), name="b"))

    plan.event(spec, DeletePod(["decode"], min_in_flight=5))
    with pytest.raises(SpecError, match=r"keep at most 5 in flight \(load 'a': concurrency 2, load 'b': concurrency 3\)"):
        plan.event(spec, DeletePod(["decode"], min_in_flight=6))


def test_a_fault_on_a_service_with_no_replicas_is_refused_naming_it():
    spec, plan = get_deployment_spec("mocker", "agg"), PlanValidator()
    plan.require_deployable(spec)
    spec.services["Frontend"].replicas = 0  # after the deployment check: as any service neither frontend nor worker

    with pytest.raises(SpecError) as error:
        plan.event(spec, DeletePod(["Frontend"]))

    assert str(error.value) == ("service Frontend (frontend) has 0 replicas, so this step (delete every pod of Frontend "
                                "(force)) has no pod to act on; give it 1 to 16 replicas")
