"""Freezing processes: SIGSTOP, verified stopped, SIGCONT after the duration and whatever
happens, verified running again. The shared process matching is TerminateProcess's too."""

from __future__ import annotations

import pytest

import ftlib.events.faults as faults
from fake_deployment import FakeDeployment, context_with
from ftlib.errors import FaultNotEffective, SpecError, TargetError
from ftlib.events import FreezeProcess, TerminateProcess


def _signals(deployment):
    return [name for _, _, name in deployment.signals]


def test_a_freeze_stops_every_matching_process_then_resumes_it(tmp_path):
    deployment = FakeDeployment()
    deployment.spec.get_service("decode").replicas = 2
    deployment.add_pod("decode")
    event = FreezeProcess(["decode"], "dynamo.mocker", 0.2)
    context_with(deployment, tmp_path).run_event(event)
    assert _signals(deployment) == ["SIGSTOP", "SIGSTOP", "SIGCONT", "SIGCONT"]
    assert len(event.targets) == 2 and not event.active
    assert event.frozen_seconds >= 0.2
    assert all(state == "S" for state in deployment.state.values())


def test_a_freeze_of_one_pod_leaves_the_others_alone(tmp_path):
    deployment = FakeDeployment()
    deployment.spec.get_service("decode").replicas = 2
    deployment.add_pod("decode")
    context_with(deployment, tmp_path).run_event(FreezeProcess(["decode"], "dynamo.mocker", 0.1, one_pod=True))
    assert {pod for pod, _, _ in deployment.signals} == {deployment.pods("decode")[0].name}


def test_an_interrupted_freeze_still_resumes_the_processes(tmp_path, monkeypatch):
    deployment = FakeDeployment()

    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(faults.time, "sleep", interrupted)
    event = FreezeProcess(["decode"], "dynamo.mocker", 5)
    with pytest.raises(KeyboardInterrupt):
        context_with(deployment, tmp_path).run_event(event)
    assert _signals(deployment) == ["SIGSTOP", "SIGCONT"] and not event.active


def test_a_process_that_does_not_stop_fails_the_freeze_and_is_resumed(tmp_path):
    deployment = FakeDeployment()
    deployment.stuck_state = "S"
    event = FreezeProcess(["decode"], "dynamo.mocker", 5, verify_timeout=0.2)
    with pytest.raises(FaultNotEffective, match=r"stopped \(T\) after SIGSTOP"):
        context_with(deployment, tmp_path).run_event(event)
    assert _signals(deployment)[-1] == "SIGCONT" and not event.active


def test_a_process_that_stays_stopped_after_sigcont_fails_the_freeze(tmp_path):
    deployment = FakeDeployment()
    event = FreezeProcess(["decode"], "dynamo.mocker", 0.1, verify_timeout=0.2)
    original = deployment.signal_process

    def sigcont_ignored(pod, pid, name):
        original(pod, pid, name)
        if name == "SIGCONT":
            deployment.state[pid] = "T"

    deployment.signal_process = sigcont_ignored
    with pytest.raises(FaultNotEffective, match="running again after SIGCONT"):
        context_with(deployment, tmp_path).run_event(event)


def test_teardown_resumes_processes_a_freeze_left_stopped(tmp_path):
    deployment = FakeDeployment()
    ctx = context_with(deployment, tmp_path)
    event = FreezeProcess(["decode"], "dynamo.mocker", 5)
    pod = deployment.pods("decode")[0]
    process = deployment.processes(pod.name)[0]
    deployment.signal_process(pod.name, process.pid, "SIGSTOP")
    event._frozen.append((pod, process))  # as if the scenario was killed mid-freeze
    ctx.events.append(event)
    assert event.active
    ctx.finish(aborted=True)
    assert _signals(deployment) == ["SIGSTOP", "SIGCONT"] and not event.active


def test_a_pod_gone_during_the_freeze_is_not_an_error_to_resume(tmp_path):
    deployment = FakeDeployment()
    event = FreezeProcess(["decode"], "dynamo.mocker", 5)
    pod = deployment.pods("decode")[0]
    event._frozen.append((pod, deployment.processes(pod.name)[0]))
    deployment.remove_pod(pod.name)
    event.stop(context_with(deployment, tmp_path))
    assert not event.active


def test_freeze_and_terminate_list_what_runs_when_nothing_matches(tmp_path):
    ctx = context_with(FakeDeployment(), tmp_path)
    for event in (FreezeProcess(["decode"], "dynamo.vllm", 1), TerminateProcess(["decode"], "dynamo.vllm")):
        with pytest.raises(TargetError, match=r"no process matching 'dynamo.vllm'.*\n.*dynamo.mocker"):
            ctx.run_event(event)


def test_a_freeze_needs_a_process_name_and_a_positive_duration():
    with pytest.raises(SpecError):
        FreezeProcess(["decode"], "", 1)
    with pytest.raises(SpecError):
        FreezeProcess(["decode"], "python", 0)
