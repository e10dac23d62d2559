"""``-D dry_run=server`` (`ftlib.platform.kubernetes.server_dry_run`): every DGD the project
generates — each shipped spec with the steps' edits and its rolling-upgrade patch applied, each
upstream example in both API versions, and the DGD, PVC and Jobs of every feature's plan — is
created with ``dryRun=All`` on a real kube-apiserver with the vendored CRD: none is rejected and
no field is pruned. The pure comparison is tested on its own first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonpatch
import pytest
import yaml
from kubernetes import client

from ftlib.platform.kubernetes import dgd
from ftlib.platform.kubernetes.server_dry_run import ManifestVerdict, judge_manifest, judge_manifests, pruned_fields
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec
from tests.test_platform_kubernetes_dgd import EXAMPLES, IMAGE, edited

REPO = Path(__file__).resolve().parent.parent


def test_a_field_the_answer_lacks_is_pruned_and_fields_the_server_added_are_not():
    sent = {"spec": {"a": 1, "b": {"c": [1, {"d": 2}]}, "empty": {}}}
    answer = {"spec": {"a": 1, "b": {"c": [1, {}]}, "added": True}, "status": {}}

    assert pruned_fields(sent, answer) == ["spec.b.c[1].d"]
    assert pruned_fields(sent, {"spec": {"a": 1, "b": {"c": [1, {"d": 2}]}, "x": 0}}) == []


def generated_dgds(namespace: str) -> list[dict]:
    bodies = []
    for backend in BACKENDS:
        for topology in TOPOLOGIES:
            body = dgd.dgd_body(edited(get_deployment_spec(backend, topology)), "run-1", namespace, IMAGE)
            worker = next(n for n, s in body["spec"]["services"].items() if s.get("componentType") == "worker")
            bodies += [body, dgd.apply_env(body, worker, {"TEST_ROLLING_UPDATE_TRIGGER": "abc"})]
    for path in EXAMPLES:
        spec = DeploymentSpec.from_yaml(path)
        body = dgd.dgd_body(edited(spec), "run-1", namespace, IMAGE)
        bodies.append(body)
        for service in spec.services:
            patch = dgd.env_patch(body, service, {"TEST_ROLLING_UPDATE_TRIGGER": "abc"})
            bodies.append(jsonpatch.apply_patch(body, patch.body) if patch.content_type == dgd.JSON_PATCH
                          else dgd.apply_env(body, service, {"TEST_ROLLING_UPDATE_TRIGGER": "abc"}))
    return bodies


def test_every_generated_dgd_in_both_versions_is_accepted_by_a_real_api_server_with_no_field_pruned(bare_control_plane):
    api = bare_control_plane.api_client()
    bodies = generated_dgds(bare_control_plane.namespace)
    versions = {b["apiVersion"] for b in bodies}

    verdicts = judge_manifests(api, bodies)

    assert versions == {"nvidia.com/v1alpha1", "nvidia.com/v1beta1"} and len(bodies) > 40
    assert [v.describe() for v in verdicts if not v.ok] == []
    stored = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "nvidia.com", "v1alpha1", bare_control_plane.namespace, "dynamographdeployments")["items"]
    assert stored == []  # a dry run creates nothing


def test_a_field_the_schema_does_not_know_is_reported_pruned_and_a_bad_value_refused(bare_control_plane):
    api = bare_control_plane.api_client()
    body = dgd.dgd_body(get_deployment_spec("mocker", "agg"), "run-1", bare_control_plane.namespace, IMAGE)
    unknown = {**body, "spec": {**body["spec"], "notAField": {"x": 1}}}
    bad = {**body, "spec": {**body["spec"], "services": {"Frontend": {"replicas": "two"}}}}

    assert judge_manifest(api, unknown).pruned == ("spec.notAField",)
    refused = judge_manifest(api, bad)
    assert not refused.ok and "replicas" in refused.error


def test_the_dgd_pvc_and_jobs_of_every_feature_plan_pass_a_server_dry_run(bare_control_plane):
    result = subprocess.run([sys.executable, "-m", "behave", "features", "-f", "null", "--no-capture",
                             "-D", "platform=kubernetes", "-D", "dry_run=true", "-D", "namespace=ft",
                             "-D", f"image={IMAGE}"], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    manifests = []
    for block in result.stdout.split("\nMANIFESTS ")[1:]:
        text = block.split("\n", 1)[1].split("\nPLAN ", 1)[0].split("\ndry run: ", 1)[0]
        for manifest in (m for m in yaml.safe_load_all(text) if m):
            manifest["metadata"]["namespace"] = bare_control_plane.namespace
            manifests.append(manifest)

    verdicts = judge_manifests(bare_control_plane.api_client(), manifests)

    assert {m["kind"] for m in manifests} >= {"DynamoGraphDeployment", "PersistentVolumeClaim", "Job"}
    assert [v.describe() for v in verdicts if not v.ok] == []


def test_behave_with_dry_run_server_has_the_cluster_judge_every_manifest_and_creates_nothing(bare_control_plane, tmp_path):
    import os

    namespace = bare_control_plane.namespace
    result = subprocess.run([sys.executable, "-m", "behave", "features/smoke.feature", "features/worker_failure.feature",
                             "-f", "null", "--no-capture", "-D", "platform=kubernetes", "-D", "dry_run=server",
                             "-D", f"namespace={namespace}", "-D", f"image={IMAGE}",
                             "-D", f"output_dir={tmp_path / 'out'}"], cwd=REPO, capture_output=True, text=True,
                            timeout=180, env={**os.environ, "KUBECONFIG": str(bare_control_plane.admin_kubeconfig)})
    output = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("SERVER DRY RUN ")]

    assert result.returncode == 0, output[-3000:]
    assert len(lines) > 10 and all(line.endswith(": accepted, nothing pruned") for line in lines), lines
    assert f"server dry run: {len(lines)} manifests sent, {len(lines)} accepted whole, 0 refused or pruned" in result.stdout
    api = bare_control_plane.api_client()
    assert client.CustomObjectsApi(api).list_namespaced_custom_object(
        "nvidia.com", "v1alpha1", namespace, "dynamographdeployments")["items"] == []
    assert client.CoreV1Api(api).list_namespaced_persistent_volume_claim(namespace).items == []
    assert client.BatchV1Api(api).list_namespaced_job(namespace).items == []
    assert not (tmp_path / "out").exists()


def test_dry_run_server_without_a_cluster_stops_once_in_one_line(tmp_path):
    import os

    result = subprocess.run([sys.executable, "-m", "behave", "features/smoke.feature", "-f", "null",
                             "-D", "platform=kubernetes", "-D", "dry_run=server", "-D", f"image={IMAGE}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "KUBECONFIG": str(tmp_path / "missing")})

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "kubeconfig" in result.stderr, result.stderr
