"""ftlib.plan: the plan knows no concrete event or check; each declares what the plan needs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ftlib
from ftlib.checks import Check, MaxErrors, RecoveredWithin, ZeroErrors
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
], ids=["load-twice", "stop-completed", "recovery-without-fault", "frontend-process-in-worker",
        "recovery-check-without-fault", "check-of-unknown-load"])
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
