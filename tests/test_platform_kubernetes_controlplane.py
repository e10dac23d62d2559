"""The kubernetes platform against a real control plane (`ftlib.controlplane`): behave with the
shipped steps and -D platform=kubernetes, as the least-privilege user of deploy/rbac.yaml,
against kube-apiserver 1.37, etcd, the real controllers and scheduler, with the node agent and
the Dynamo operator stand-in in place of kubelets and the operator. What the run did is then
read back from the API server: new pod names after a deletion, restart counts and exit codes
after kills, the rolled ReplicaSets, the garbage-collected pods, the foreign DGD left alone.
Loads are not part of this contract (tests/test_platform_kubernetes_controlplane_load.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.polling import eventually
from ftlib.controlplane.cluster import TESTER

REPO = Path(__file__).resolve().parent.parent
IMAGE = "registry.example/dynamo:1.6.1"
GRAPH = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT = "nvidia.com/dynamo-component"

FAULTS = (REPO / "features" / "kubernetes_contract.feature").read_text()  # the shipped contract feature

BETA_UPGRADE = """\
Feature: a v1beta1 DGD on a real control plane

  Scenario: a v1beta1 deployment is rolling-upgraded
    Given the deployment "{repo}/tests/data/dynamo_examples/mocker-agg.v1beta1.yaml"
    And the deployment is ready
    When the decode worker service is rolling-upgraded
    Then the deployment recovered within 30 seconds
"""


def run_behave(tmp_path: Path, feature: str, kubeconfig: Path, namespace: str, *extra: str) -> subprocess.CompletedProcess:
    features = tmp_path / "features"
    features.mkdir(exist_ok=True)
    (features / "cluster.feature").write_text(feature)
    (features / "environment.py").write_text((REPO / "features" / "environment.py").read_text())
    if not (features / "steps").exists():
        (features / "steps").symlink_to(REPO / "steps")
    return subprocess.run(
        [sys.executable, "-m", "behave", str(features), "-f", "plain", "--no-capture",
         "-D", "platform=kubernetes", "-D", f"namespace={namespace}", "-D", f"image={IMAGE}",
         "-D", f"output_dir={tmp_path / 'out'}", *extra],
        cwd=REPO, env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=300)


def foreign_dgd(custom: client.CustomObjectsApi, namespace: str) -> None:
    """Somebody else's DGD in the same namespace: the run must leave it and its pods alone."""
    custom.create_namespaced_custom_object("nvidia.com", "v1alpha1", namespace, "dynamographdeployments", {
        "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
        "metadata": {"name": "not-ours", "namespace": namespace},
        "spec": {"services": {"Frontend": {"componentType": "frontend", "replicas": 1, "extraPodSpec": {
            "mainContainer": {"image": IMAGE, "command": ["python3", "-m", "dynamo.frontend"]}}}}}})


def wait_for(condition, timeout: float = 60.0):
    return eventually(condition, timeout, 0.3)


@pytest.fixture(scope="module")
def cluster(control_plane):
    """The control plane with deploy/rbac.yaml bound to the tester user in its namespace."""
    control_plane.grant_suite_role()
    return control_plane


def test_delete_kill_sigterm_freeze_and_upgrade_steps_run_against_a_real_api_server_as_the_least_privileged_user(cluster, tmp_path):
    admin = cluster.api_client()
    core, custom, apps = client.CoreV1Api(admin), client.CustomObjectsApi(admin), client.AppsV1Api(admin)
    namespace = cluster.namespace
    foreign_dgd(custom, namespace)
    foreign_pods = wait_for(lambda: core.list_namespaced_pod(namespace, label_selector=f"{GRAPH}=not-ours").items)
    try:
        result = run_behave(tmp_path, FAULTS, cluster.tester_kubeconfig, namespace)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "1 scenario passed" in output

        scenario = next((tmp_path / "out").glob("*/dgd.yaml")).parent
        files = {p.relative_to(scenario).as_posix() for p in scenario.rglob("*") if p.is_file()}
        assert {"dgd.yaml", "dgd_status.yaml", "timeline.json", "events.txt", "verdicts.json"} <= files
        seen = [(e["kind"], e["detail"]) for e in json.loads((scenario / "timeline.json").read_text())]
        assert ("pod_deleted", "force") in seen  # the pod watch saw each fault land, as the kubelet reported it
        assert ("container_died", "exit code 137 (Error)") in seen and ("container_restarted", "restart 1") in seen
        assert ("container_died", "exit code 0 (Completed)") in seen and ("container_restarted", "restart 2") in seen
        assert [k for k, _ in seen].count("rollout_complete") == 1
        assert any(f.startswith("decode/") and f.endswith(".before_delete.yaml") for f in files), sorted(files)
        events = (scenario / "events.txt").read_text()
        assert "send SIGTERM" in events and "FreezeProcess" in events

        dgds = custom.list_namespaced_custom_object("nvidia.com", "v1alpha1", namespace, "dynamographdeployments")["items"]
        assert [d["metadata"]["name"] for d in dgds] == ["not-ours"]
        ours_left = core.list_namespaced_pod(namespace, label_selector=f"{GRAPH}=mocker-agg").items
        assert [p.metadata.name for p in ours_left if not p.metadata.deletion_timestamp] == []  # collected by the real GC
        still = {p.metadata.name for p in core.list_namespaced_pod(namespace, label_selector=f"{GRAPH}=not-ours").items}
        assert still == {p.metadata.name for p in foreign_pods}
        assert [d.metadata.name for d in apps.list_namespaced_deployment(namespace).items] == ["not-ours-frontend"]
    finally:
        custom.delete_namespaced_custom_object("nvidia.com", "v1alpha1", namespace, "dynamographdeployments", "not-ours")


def test_a_v1beta1_dgd_is_applied_and_rolling_upgraded_with_a_json_patch_the_real_api_server_accepts(cluster, tmp_path):
    result = run_behave(tmp_path, BETA_UPGRADE.format(repo=REPO), cluster.tester_kubeconfig, cluster.namespace)
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    scenario = next((tmp_path / "out").glob("*/dgd.yaml")).parent
    stored = yaml.safe_load((scenario / "dgd.yaml").read_text())  # the DGD as the API server held it at the end
    assert stored["apiVersion"] == "nvidia.com/v1beta1"
    decode = next(c for c in stored["spec"]["components"] if c["name"] == "decode")
    env = {e["name"] for c in decode["podTemplate"]["spec"]["containers"] for e in c.get("env") or []}
    assert "TEST_ROLLING_UPDATE_TRIGGER" in env
    seen = [e["kind"] for e in json.loads((scenario / "timeline.json").read_text())]
    assert "rollout_complete" in seen and seen.count("pod_created") >= 3  # the decode pod was replaced by a new one


def test_without_one_verb_of_deploy_rbac_the_run_stops_before_creating_anything_naming_the_verb_and_resource(cluster, tmp_path):
    admin = cluster.api_client()
    core, custom = client.CoreV1Api(admin), client.CustomObjectsApi(admin)
    namespace = "ft-rbac-missing"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        cluster.grant_suite_role(namespace=namespace, leave_out=("create", "pods/exec"))
        result = run_behave(tmp_path, FAULTS, cluster.tester_kubeconfig, namespace)
        output = result.stdout + result.stderr

        assert result.returncode == 2, output[-3000:]
        assert f"dynamo-ft: not allowed in namespace '{namespace}' to: create pods/exec." in output
        assert "Traceback" not in output
        assert custom.list_namespaced_custom_object("nvidia.com", "v1alpha1", namespace, "dynamographdeployments")["items"] == []
        assert core.list_namespaced_persistent_volume_claim(namespace).items == []
        assert core.list_namespaced_pod(namespace).items == []
    finally:
        core.delete_namespace(namespace)


def test_preflight_shows_every_row_from_real_self_subject_access_reviews(cluster, tmp_path):
    env = {**os.environ, "KUBECONFIG": str(cluster.tester_kubeconfig)}
    ok = subprocess.run([sys.executable, "-m", "ftlib.platform.kubernetes.preflight", "-D", "platform=kubernetes",
                         "-D", f"namespace={cluster.namespace}", "-D", "probe_pvc=true"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    rows = [line.split() for line in ok.stdout.splitlines() if line.startswith("rbac: ")]
    assert len(rows) >= 25 and all(row[3] == "ok" for row in rows), ok.stdout
    assert "Kubernetes v1.37.2" in ok.stdout and "bound ReadWriteMany and a pod mounted it" in ok.stdout
    assert "everything the suite needs is there" in ok.stdout

    denied = subprocess.run([sys.executable, "-m", "ftlib.platform.kubernetes.preflight", "-D", "platform=kubernetes",
                             "-D", "namespace=default", "-D", "allow_namespace=default"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert denied.returncode != 0, denied.stdout + denied.stderr
    missing = [line for line in denied.stdout.splitlines() if line.startswith("rbac: ") and " ok " not in line]
    assert any("create pods/exec" in line for line in missing), denied.stdout
