"""The log PVC against a real control plane: behave with -D platform=kubernetes (kube_log_tee on,
the default) as the least-privilege user. The node agent's log-tee wrapper appends every
container instance's output to the claim's PV folder, the reader Job's ``python3`` packs it
(jobs.PACK) and the suite reads it back in chunks (jobs.CHUNK) through the real API server's exec,
so a pod deleted before evidence time still has its logs in the evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from ftlib.platform.kubernetes.jobs import MANAGED_BY_LABEL, MANAGED_BY, PART_LABEL
from tests.test_platform_kubernetes_controlplane import run_behave, wait_for

KILL_AND_ROLL = """\
Feature: the services' logs on the log PVC of a real control plane

  Scenario: a killed then rolled decode worker leaves every container's output on the PVC
    Given a mocker agg deployment
    And the deployment is ready
    When the "dynamo.mocker" process of one decode worker pod is killed
    And the deployment recovers within 30 seconds
    And the decode worker service is rolling-upgraded
    Then the deployment recovered within 30 seconds
"""
STARTED = "simulated process started: python3 -m dynamo.mocker"


@pytest.fixture(scope="module")
def cluster(control_plane):
    control_plane.grant_suite_role()
    return control_plane


def decode_pods(scenario: Path) -> list[str]:
    """The decode pods the run's timeline saw, in order of creation."""
    seen = []
    for entry in json.loads((scenario / "timeline.json").read_text()):
        if entry.get("service") == "decode" and entry.get("pod") and entry["pod"] not in seen:
            seen.append(entry["pod"])
    return seen


def pvc_logs(scenario: Path, pod: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((scenario / "decode").glob(f"{pod}_*.pvc.log"))}


def run_objects(core, batch, namespace: str) -> list[str]:
    """The suite's log PVC, probe Job and reader Job (and their pods) still in the namespace."""
    parts = f"{MANAGED_BY_LABEL}={MANAGED_BY},{PART_LABEL} in (log-pvc,pvc-probe,log-reader)"
    return ([f"pvc/{p.metadata.name}" for p in core.list_namespaced_persistent_volume_claim(namespace, label_selector=parts).items]
            + [f"job/{j.metadata.name}" for j in batch.list_namespaced_job(namespace, label_selector=parts).items]
            + [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(namespace, label_selector=parts).items])


def test_a_killed_then_rolled_worker_has_every_container_instances_output_from_the_log_pvc_in_the_evidence(cluster, tmp_path):
    admin = cluster.api_client()
    core, batch = client.CoreV1Api(admin), client.BatchV1Api(admin)

    result = run_behave(tmp_path, KILL_AND_ROLL, cluster.tester_kubeconfig, cluster.namespace)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    assert "evidence problem" not in output, output[-6000:]
    scenario = next((tmp_path / "out").glob("*/dgd.yaml")).parent
    first, *later = decode_pods(scenario)
    assert later, "the roll made a new decode pod"
    assert not list((scenario / "decode").glob(f"{first}_*[0-9].log"))  # deleted by the roll: no kubelet log is left
    killed = pvc_logs(scenario, first)
    text = "".join(killed.values())
    assert text.count(STARTED) == 2, killed  # the engine before the kill and its restart
    assert 1 <= len(killed) <= 2  # one file per container instance (two starting in one second share one, as tee -a does)
    assert text.index("received SIGTERM: shutting down gracefully") > text.rindex(STARTED)  # the roll's stop, last
    for pod in later:
        assert STARTED in "".join(pvc_logs(scenario, pod).values()), pod
    kubelet_log = next((scenario / "decode").glob(f"{later[-1]}_*[0-9].log")).read_text()
    copied = "".join(pvc_logs(scenario, later[-1]).values())
    assert copied.splitlines() == kubelet_log.splitlines()[:len(copied.splitlines())]  # the lines the agent logged

    wait_for(lambda: not run_objects(core, batch, cluster.namespace), timeout=60)
