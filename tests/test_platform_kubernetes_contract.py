"""The step language runs through the kubernetes platform: behave itself, with
-D platform=kubernetes and a kubeconfig written by the test, against a fake Kubernetes API at
the HTTP boundary (tests/kube_fake.py) with a scripted fake operator. Loads are not part of this
contract (they run as Jobs nothing executes here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import kmock
import pytest

from tests.kube_fake import NAMESPACE, PODS, FakeApi, FakeOperator, dgd_resource

REPO = Path(__file__).resolve().parent.parent
FEATURE = """\
Feature: the step language on a cluster

  Scenario: delete, kill and upgrade on kubernetes
    Given a mocker agg deployment
    And the deployment is ready
    When one decode worker pod is deleted
    And the deployment recovers within 20 seconds
    And the "dynamo.mocker" process of one decode worker pod is killed
    And the deployment recovers within 20 seconds
    And the decode worker service is rolling-upgraded
    Then the deployment recovered within 20 seconds
"""


def test_behave_runs_delete_kill_and_upgrade_steps_on_the_kubernetes_platform_faking_the_api_at_the_http_boundary(tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    (features / "cluster.feature").write_text(FEATURE)
    (features / "environment.py").write_text((REPO / "features" / "environment.py").read_text())
    (features / "steps").symlink_to(REPO / "steps")
    with FakeApi() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        client_ = api.api_client(tmp_path)
        from kubernetes import client as k8s

        k8s.CustomObjectsApi(client_).create_namespaced_custom_object(  # someone else's, in the same namespace
            "nvidia.com", "v1alpha1", NAMESPACE, "dynamographdeployments",
            {"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
             "metadata": {"name": "not-ours", "namespace": NAMESPACE}, "spec": {"services": {}}})
        with FakeOperator(api, client_, start_delay=0.2):
            result = subprocess.run(
                [sys.executable, "-m", "behave", str(features), "-f", "plain", "--no-capture",
                 "-D", "platform=kubernetes", "-D", f"namespace={NAMESPACE}", "-D", "image=registry.example/dynamo:1.6.1",
                 "-D", f"output_dir={tmp_path / 'out'}",
                 "-D", "kube_log_tee=false"],  # no Job controller runs the PVC log reader here (test_..._log_tee)
                cwd=REPO, env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        requests = api.requests()
        dgds = api.objects(dgd_resource("v1alpha1"))
        pods = api.objects(PODS)
        claims = api.objects(kmock.resource("", "v1", "persistentvolumeclaims"))
    created = [r for r in requests if r.method.value == "POST" and r.url.path.endswith("/dynamographdeployments")]
    ours = [r.data for r in created if r.data["metadata"]["name"] != "not-ours"]
    assert [d["metadata"]["labels"]["app.kubernetes.io/managed-by"] for d in ours] == ["dynamo-ft"]
    deleted_pods = [r for r in requests if r.method.value == "DELETE" and "/pods/" in r.url.path]
    assert deleted_pods and deleted_pods[0].params.get("gracePeriodSeconds") == "0"
    execs = [r for r in requests if r.url.path.endswith("/exec")]
    assert any(r.url.query.getall("command")[:3] == ["kill", "-s", "KILL"] for r in execs)
    patches = [r for r in requests if r.method.value == "PATCH" and r.headers.get("Content-Type") ==
               "application/merge-patch+json" and "spec" in (r.data or {})]
    assert patches and "TEST_ROLLING_UPDATE_TRIGGER" in json.dumps(patches[-1].data)
    assert [d["metadata"]["name"] for d in dgds] == ["not-ours"] and pods == []  # ours and its pods went
    assert not [r for r in requests if r.method.value == "DELETE" and r.url.path.endswith("/not-ours")]
    pvc_posts = [r for r in requests if r.method.value == "POST" and r.url.path.endswith("/persistentvolumeclaims")]
    assert [r.data["spec"]["accessModes"] for r in pvc_posts] == [["ReadWriteMany"]] and claims == []
    assert pvc_posts[0].data["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dynamo-ft"
    scenario = next((tmp_path / "out").iterdir())
    files = {p.relative_to(scenario).as_posix() for p in scenario.rglob("*") if p.is_file()}
    assert {"dgd.yaml", "dgd_status.yaml", "timeline.json"} <= files
    assert any(f.startswith("decode/") and f.endswith(".log") for f in files)
