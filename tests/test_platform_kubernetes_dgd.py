"""DGD bodies and patches (pure): every DGD the project generates validates against the CRD's
OpenAPI schema (tests/data/crd, vendored from the Dynamo operator), in both API versions."""

from __future__ import annotations

from pathlib import Path

import jsonpatch
import jsonschema
import pytest
import yaml

from ftlib.errors import SpecError
from ftlib.platform.kubernetes import dgd, plan_manifests
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec

DATA = Path(__file__).parent / "data"
CRD = yaml.load((DATA / "crd" / "nvidia.com_dynamographdeployments.yaml").read_text(),
               Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # 0.8 MB: the C loader is 10x faster
VALIDATORS = {v["name"]: jsonschema.Draft7Validator(v["schema"]["openAPIV3Schema"]) for v in CRD["spec"]["versions"]}
EXAMPLES = sorted((DATA / "dynamo_examples").glob("*.yaml"))
IMAGE = "registry.example/dynamo:1.6.1"


def validate(body: dict) -> None:
    version = body["apiVersion"].split("/")[1]
    error = jsonschema.exceptions.best_match(VALIDATORS[version].iter_errors(body))
    if error is not None:
        raise error


def edited(spec: DeploymentSpec) -> DeploymentSpec:
    """The edits steps make: replicas, an environment variable, extra arguments."""
    spec.set_worker_replicas(2)
    spec.set_env_var("DYN_LOG", "debug")
    spec.frontend.set_arg("--migration-limit", "3")
    for worker in spec.workers:
        worker.set_env_var("FT_MARK", "1")
    return spec


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_every_shipped_spec_with_edits_makes_a_dgd_the_crd_schema_accepts(backend, topology):
    body = dgd.dgd_body(edited(get_deployment_spec(backend, topology)), "run-1", "ft", IMAGE)

    validate(body)
    worker = next(s for s in body["spec"]["services"].values() if s.get("componentType") == "worker")
    validate(dgd.apply_env(body, next(n for n, s in body["spec"]["services"].items() if s is worker),
                           {"TEST_ROLLING_UPDATE_TRIGGER": "abc"}))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_upstream_example_in_both_versions_makes_a_dgd_the_crd_schema_accepts(path):
    spec = DeploymentSpec.from_yaml(path)
    body = dgd.dgd_body(edited(spec), "run-1", "ft", IMAGE)

    validate(body)
    for service in spec.services:
        patch = dgd.env_patch(body, service, {"TEST_ROLLING_UPDATE_TRIGGER": "abc"})
        patched = jsonpatch.apply_patch(body, patch.body) if patch.content_type == dgd.JSON_PATCH else None
        if patched is not None:
            validate(patched)
            assert patched == dgd.apply_env(body, service, {"TEST_ROLLING_UPDATE_TRIGGER": "abc"})


def test_a_v1beta1_body_stays_v1beta1_with_the_image_labels_and_shared_process_namespace_in_every_component():
    body = dgd.dgd_body(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "vllm-disagg.v1beta1.yaml"), "r", "ft", IMAGE)

    assert body["apiVersion"] == "nvidia.com/v1beta1" and body["metadata"]["namespace"] == "ft"
    assert body["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "dynamo-ft", "dynamo-ft/run-id": "r",
                                          "dynamo-ft/part": "dgd"}
    for component in body["spec"]["components"]:
        pod = component["podTemplate"]["spec"]
        assert pod["shareProcessNamespace"] is True
        assert next(c for c in pod["containers"] if c["name"] == "main")["image"] == IMAGE


def test_a_v1alpha1_rolling_upgrade_is_a_merge_patch_resending_the_whole_envs_list():
    body = dgd.dgd_body(get_deployment_spec("vllm", "disagg"), "r", "ft", IMAGE)
    body["spec"]["services"]["VllmDecodeWorker"]["envs"] = [{"name": "KEEP", "value": "1"}]

    patch = dgd.env_patch(body, "VllmDecodeWorker", {"TRIGGER": "x"})

    assert patch.content_type == "application/merge-patch+json"
    assert patch.body == {"spec": {"services": {"VllmDecodeWorker": {"envs": [{"name": "KEEP", "value": "1"},
                                                                              {"name": "TRIGGER", "value": "x"}]}}}}


def test_a_v1beta1_rolling_upgrade_is_a_json_patch_that_first_tests_the_component_name():
    body = dgd.dgd_body(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "mocker-agg.v1beta1.yaml"), "r", "ft", IMAGE)

    patch = dgd.env_patch(body, "decode", {"TRIGGER": "x"})

    assert patch.content_type == "application/json-patch+json"
    assert patch.body[0] == {"op": "test", "path": "/spec/components/1/name", "value": "decode"}
    assert patch.body[1]["op"] in ("add", "replace")


def test_a_service_without_an_image_is_refused_before_anything_is_applied():
    spec = get_deployment_spec("mocker", "agg")
    spec.frontend._container(create=True).pop("image")

    with pytest.raises(SpecError, match="Frontend of 'mocker-agg' name no container image.*-D image="):
        dgd.dgd_body(spec, "r", "ft")


def test_unknown_services_are_named_with_the_ones_there_are():
    body = dgd.dgd_body(get_deployment_spec("mocker", "agg"), "r", "ft", IMAGE)

    with pytest.raises(SpecError, match="has no service 'nope'; services: Frontend, decode"):
        dgd.env_patch(body, "nope", {"A": "1"})


def test_the_dry_run_plan_lists_the_dgd_and_the_log_pvc_with_the_dry_run_id():
    manifests = plan_manifests(get_deployment_spec("mocker", "agg"), {"namespace": "ft", "image": IMAGE})

    assert [m["kind"] for m in manifests][0] == "DynamoGraphDeployment"
    assert all(m["metadata"]["labels"]["dynamo-ft/run-id"] == "dry-run" for m in manifests)
    validate(manifests[0])


def test_the_dry_run_of_every_feature_prints_manifests_the_crd_schema_and_the_suite_labels_accept():
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-m", "behave", "features", "-f", "null", "--no-capture",
                             "-D", "platform=kubernetes", "-D", "dry_run=true", "-D", "namespace=ft",
                             "-D", f"image={IMAGE}"], cwd=repo, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    scenarios = result.stdout.split("\nPLAN ")[1:]  # each: its plan, then its manifests
    blocks = [s.split("\nMANIFESTS ", 1)[1] for s in scenarios if "\nMANIFESTS " in s]

    assert len(scenarios) > 10 and len(blocks) == len(scenarios)
    for scenario, block in zip(scenarios, blocks):
        text = block.split("\n", 1)[1].split("\ndry run: ", 1)[0]
        manifests = [m for m in yaml.safe_load_all(text) if m]
        kinds = [m["kind"] for m in manifests]
        assert kinds[:2] == ["DynamoGraphDeployment", "PersistentVolumeClaim"], block[:200]
        validate(manifests[0])
        for manifest in manifests:
            assert manifest["metadata"]["namespace"] == "ft"
            assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dynamo-ft"
        plan = scenario.split("\nMANIFESTS ", 1)[0]
        assert ("start load" in plan) == ("Job" in kinds), scenario[:300]  # a load Job exactly when the plan starts a load
