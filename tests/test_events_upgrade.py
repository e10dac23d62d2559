"""Rolling upgrades: the controller's step (maxSurge 1, maxUnavailable 0) and the event that
triggers a rollout and verifies it on the pods."""

from __future__ import annotations

import pytest

from fake_deployment import FakeDeployment, context_with
from ftlib.errors import FaultNotEffective, SpecError, TargetError
from ftlib.events import RollingUpgrade
from ftlib.platform.local.deployment import rolling_update_step


def test_a_rollout_first_surges_one_new_pod_and_deletes_nothing():
    assert rolling_update_step(2, [], [("a", True), ("b", True)]) == (1, [])


def test_an_old_pod_is_deleted_only_once_a_new_pod_is_ready():
    assert rolling_update_step(2, [False], [("a", True), ("b", True)]) == (0, [])
    assert rolling_update_step(2, [True], [("a", True), ("b", True)]) == (0, ["a"])


def test_unready_old_pods_are_deleted_before_ready_ones():
    assert rolling_update_step(2, [True], [("a", True), ("b", False)]) == (0, ["b"])


def test_a_whole_rollout_never_drops_below_the_replica_count_of_ready_pods():
    replicas, new, old, steps = 3, [], [(f"old{i}", True) for i in range(3)], 0
    while old:
        create, delete = rolling_update_step(replicas, new, old)
        new = [True] * len(new) + [False] * create  # what existed gets ready by the next step
        old = [pod for pod in old if pod[0] not in delete]
        assert len(new) + len(old) <= replicas + 1
        assert sum(new) + len(old) >= replicas
        steps += 1
        assert steps < 20
    assert len(new) == replicas


def test_the_upgrade_replaces_every_pod_and_records_old_and_new_names(tmp_path):
    deployment = FakeDeployment()
    deployment.spec.get_service("decode").replicas = 2
    deployment.add_pod("decode")
    old = {p.name for p in deployment.pods("decode")}
    event = RollingUpgrade(["decode worker"], timeout=5)
    context_with(deployment, tmp_path).run_event(event)
    assert set(event.replaced["decode"]) == old
    assert len(event.new_pods["decode"]) == 2 and not old & set(event.new_pods["decode"])
    assert event.duration_seconds is not None and event.duration_seconds < 5


def test_the_upgrade_changes_a_trigger_variable_to_a_random_value(tmp_path):
    deployment = FakeDeployment()
    first, second = RollingUpgrade(["prefill"], timeout=5), RollingUpgrade(["prefill"], timeout=5)
    ctx = context_with(deployment, tmp_path)
    ctx.run_event(first)
    ctx.run_event(second)
    assert [u[0] for u in deployment.updates] == ["prefill", "prefill"]
    values = [u[1]["TEST_ROLLING_UPDATE_TRIGGER"] for u in deployment.updates]
    assert values[0] != values[1] and len(values[0]) == 16


def test_an_upgrade_that_starts_and_replaces_no_pod_did_not_take_effect(tmp_path):
    deployment = FakeDeployment(rolls=False)
    deployment.ready = False
    with pytest.raises(FaultNotEffective, match="started no new pod and replaced none"):
        context_with(deployment, tmp_path).run_event(RollingUpgrade(["decode"], timeout=0.3))


def test_an_upgrade_whose_first_new_pod_never_gets_ready_fails_and_keeps_the_old_pod(tmp_path):
    deployment = FakeDeployment(auto_ready=0)
    old = [p.name for p in deployment.pods("decode")]
    with pytest.raises(AssertionError, match="old pods still running"):
        context_with(deployment, tmp_path).run_event(RollingUpgrade(["decode"], timeout=0.3))
    live = {p.name for p in deployment.pods("decode")}
    assert set(old) < live and len(live) == 2  # the old pod stays beside the surged one


def test_an_upgrade_whose_new_pods_never_get_ready_fails(tmp_path):
    deployment = FakeDeployment(auto_ready=1)  # the second new pod never gets ready
    deployment.spec.get_service("decode").replicas = 2
    deployment.add_pod("decode")
    with pytest.raises(AssertionError, match="rolled out and ready within"):
        context_with(deployment, tmp_path).run_event(RollingUpgrade(["decode"], timeout=0.5))


def test_a_service_without_pods_cannot_be_upgraded(tmp_path):
    deployment = FakeDeployment()
    for pod in deployment.pods("prefill"):
        deployment.remove_pod(pod.name)
    with pytest.raises(TargetError, match="no pods"):
        context_with(deployment, tmp_path).run_event(RollingUpgrade(["prefill"], timeout=1))


def test_an_upgrade_needs_a_service_and_a_positive_timeout():
    with pytest.raises(SpecError):
        RollingUpgrade([])
    with pytest.raises(SpecError):
        RollingUpgrade(["decode"], timeout=0)
