"""The kubernetes platform's pure decisions on real-shaped API objects (tests/data/kubernetes):
the readiness verdict, timeline transitions, selectors, ps parsing, kill argv, exec statuses and
what is retried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from ftlib.errors import SpecError
from ftlib.platform.kubernetes import readiness, retry, selectors
from ftlib.platform.kubernetes.deployment import exit_status
from ftlib.platform.kubernetes.evidence import cpu_cores, memory_bytes
from ftlib.events.faults import SIGNAL_NAMES
from ftlib.platform.kubernetes.procs import kill_argv, parse_ps, pid1_note
from ftlib.platform.kubernetes.timeline import pod_state, transitions

DATA = Path(__file__).parent / "data" / "kubernetes"
DGD = json.loads((DATA / "dgd_status.json").read_text())
PODS = json.loads((DATA / "pods_ready.json").read_text())["items"]
STATES = json.loads((DATA / "pod_states.json").read_text())
STATUS = json.loads((DATA / "status_objects.json").read_text())
REPLICAS = {"Frontend": 1, "VllmDecodeWorker": 2}
VERSIONS = ("v1alpha1", "v1beta1")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_successful_dgd_with_every_pod_ready_is_ready(version):
    verdict = readiness.verdict(DGD[version]["ready"], PODS, REPLICAS)

    assert verdict.ready and verdict.reasons == [] and verdict.failure is None


@pytest.mark.parametrize("version", VERSIONS)
def test_a_dgd_pending_after_a_fault_is_not_ready_and_says_why(version):
    verdict = readiness.verdict(DGD[version]["fault"], PODS, REPLICAS)

    assert not verdict.ready and verdict.failure is None
    assert "DGD Ready condition is False (pods_not_ready)" in verdict.reasons
    assert "DGD state is pending" in verdict.reasons and "VllmDecodeWorker: 1 of 2 replicas ready" in verdict.reasons


@pytest.mark.parametrize("version", VERSIONS)
def test_premature_success_during_a_rollout_is_not_ready_until_every_replica_is_updated(version):
    verdict = readiness.verdict(DGD[version]["rollout_premature"], PODS, REPLICAS)

    assert not verdict.ready and verdict.reasons == ["VllmDecodeWorker: 1 of 2 replicas updated"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_dgd_the_operator_has_not_observed_at_its_latest_generation_is_not_ready(version):
    verdict = readiness.verdict(DGD[version]["rollout_unobserved"], PODS, REPLICAS)

    assert verdict.reasons == ["operator has seen generation 2, the spec is at 3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_failed_dgd_fails_the_wait_at_once_with_the_operators_reason(version):
    verdict = readiness.verdict(DGD[version]["failed"], PODS, REPLICAS)

    assert verdict.failure == ("the DGD reports state 'failed': insufficient_capacity: "
                               "0/3 nodes are available: 3 Insufficient nvidia.com/gpu")


def test_a_successful_dgd_whose_pods_are_not_all_there_is_not_ready():
    verdict = readiness.verdict(DGD["v1alpha1"]["ready"], PODS[:2], REPLICAS)

    assert verdict.reasons == ["VllmDecodeWorker: 1 of 2 pods"]


def test_a_terminating_pod_keeps_the_deployment_not_ready_and_is_named():
    pods = PODS[:2] + [STATES["terminating"], PODS[2]]

    verdict = readiness.verdict(DGD["v1beta1"]["ready"], pods, REPLICAS)

    assert verdict.reasons == ["VllmDecodeWorker: terminating: w-1"]


@pytest.mark.parametrize("state, expected", [
    ("imagepull", "pod w-2 container main: ImagePullBackOff: ImagePullBackOff: back-off pulling image"),
    ("crashloop", "pod w-1 container main: CrashLoopBackOff: back-off 10s restarting failed container=main"),
    ("unschedulable", "pod w-3 is unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu"),
])
def test_pods_that_cannot_become_ready_fail_the_wait_at_once(state, expected):
    verdict = readiness.verdict(DGD["v1alpha1"]["ready"], PODS + [STATES[state]], REPLICAS)

    assert verdict.failure.startswith(expected)


def test_the_selector_uses_the_graph_and_component_labels_never_pod_names():
    assert selectors.service_selector("vllm-disagg", "VllmDecodeWorker") == (
        "nvidia.com/dynamo-graph-deployment-name=vllm-disagg,nvidia.com/dynamo-component=VllmDecodeWorker")
    assert [selectors.service_of(p) for p in PODS] == ["Frontend", "VllmDecodeWorker", "VllmDecodeWorker"]


def kinds(old, new):
    return [kind for kind, _ in transitions(pod_state(STATES[old]) if old else None,
                                            pod_state(STATES[new]) if new else None)]


def test_a_killed_container_dies_then_restarts_on_the_timeline():
    assert kinds(None, "running") == ["pod_created", "pod_ready"]
    assert transitions(pod_state(STATES["running"]), pod_state(STATES["killed"])) == [
        ("container_died", "exit code 137 (Error)"), ("pod_unready", "")]
    assert kinds("killed", "restarted") == ["container_restarted", "pod_ready"]


def test_a_restart_seen_without_the_death_still_records_the_death_first():
    assert transitions(pod_state(STATES["running"]), pod_state(STATES["restarted"])) == [
        ("container_died", "exit code 137 (Error)"), ("container_restarted", "restart 1")]


def test_a_crash_loop_is_a_death_and_deletion_is_noted_once():
    assert kinds("running", "crashloop") == ["container_died", "pod_unready"]
    assert kinds("running", "terminating") == ["pod_deleted"]
    assert kinds("terminating", None) == []
    assert kinds("running", None) == ["pod_deleted"]


def test_ps_output_with_a_shared_pid_namespace_makes_the_engine_the_main_process_not_pause():
    processes = parse_ps((DATA / "ps_shared_namespace.txt").read_text())

    assert [(p.pid, p.is_main, p.state) for p in processes] == [(1, False, "S"), (7, True, "S"), (58, False, "S")]
    assert processes[1].command == "python3 -m dynamo.vllm --model Qwen/Qwen3-0.6B --disaggregation-mode decode"


def test_an_engine_that_is_pid_1_is_named_by_the_pid_1_rule():
    processes = parse_ps((DATA / "ps_engine_pid1.txt").read_text())

    assert processes[0].pid == 1 and processes[0].is_main
    assert "ignores SIGKILL" in pid1_note(1, "SIGKILL") and "shareProcessNamespace: true" in pid1_note(1, "SIGSTOP")
    assert pid1_note(42, "SIGKILL") == ""


def test_signals_are_sent_by_name_as_argv_and_bad_ones_are_refused():
    assert kill_argv(58, "SIGKILL") == ["kill", "-s", "KILL", "58"]
    assert kill_argv(58, "term") == ["kill", "-s", "TERM", "58"]
    with pytest.raises(SpecError, match="unknown signal 'SIGBOGUS'"):
        kill_argv(58, "SIGBOGUS")
    with pytest.raises(SpecError, match="positive whole number"):
        kill_argv(0, "SIGKILL")


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_every_signal_a_fault_step_accepts_in_the_plan_can_be_sent_in_a_pod(name):
    assert kill_argv(58, name) == ["kill", "-s", name.removeprefix("SIG"), "58"]


@pytest.mark.parametrize("status, expected", [
    ({"metadata": {}, "status": "Success"}, (0, "")),
    ({"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: 1",
      "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "1"}]}}, (1, "")),
    ({"metadata": {}, "status": "Failure", "reason": "InternalError",
      "message": 'exec: "ps": executable file not found in $PATH'}, (127, 'exec: "ps": executable file not found in $PATH')),
])
def test_exec_exit_codes_come_from_the_status_channel(status, expected):
    assert exit_status(json.dumps(status)) == expected


def test_an_exec_that_closed_without_a_status_has_no_exit_code():
    assert exit_status("") == (None, "the exec stream closed without a status")


@pytest.mark.parametrize("code, retried", [("404", False), ("409", False), ("410", False), ("422", False),
                                           ("403", False), ("429", True)])
def test_recorded_status_objects_are_retried_only_when_trying_again_can_help(code, retried):
    error = ApiException(status=int(code), reason=STATUS[code]["reason"])
    error.body = json.dumps(STATUS[code])

    assert retry.is_transient(error) is retried
    assert STATUS[code]["message"] in retry.short_reason(error)


def test_metrics_api_quantities_are_read_in_cores_and_bytes():
    assert cpu_cores("250000000n") == 0.25 and cpu_cores("500m") == 0.5 and cpu_cores("2") == 2.0
    assert memory_bytes("1048576Ki") == 2**30 and memory_bytes("512Mi") == 2**29 and memory_bytes("1000") == 1000
