"""The Dynamo operator stand-in's pure parts (`ftlib.controlplane.operator`): the Deployments
and Services it makes from the DGDs the platform really generates (both API versions), and the
DGD status it derives from Deployment statuses shaped as the Deployment controller writes them.
The same code against a real API server: tests/test_controlplane_operator.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ftlib.controlplane import operator as op
from ftlib.platform.kubernetes import dgd
from ftlib.spec import DeploymentSpec, get_deployment_spec

DATA = Path(__file__).parent / "data"
IMAGE = "registry.example/dynamo:1.6.1"
NAMESPACE = "fault-tolerance-test"


def as_stored(body: dict, generation: int = 1) -> dict:
    """``body`` as the API server answers it: uid, generation, resourceVersion added."""
    stored = copy.deepcopy(body)
    stored["metadata"].update(uid="0b7e1c3e-0000-4000-8000-000000000001", generation=generation,
                              resourceVersion="4242", creationTimestamp="2026-12-04T18:00:00Z")
    return stored


def graph_of(spec: DeploymentSpec, log_tee: bool = True) -> op.Graph:
    return op.read_graph(as_stored(dgd.dgd_body(spec, "run-1", NAMESPACE, IMAGE, log_tee=log_tee)))


def component(graph: op.Graph, name: str) -> op.Component:
    return next(c for c in graph.components if c.name == name)


def main_of(deployment: dict) -> dict:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "main")


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


@pytest.fixture
def agg() -> op.Graph:
    return graph_of(get_deployment_spec("mocker", "agg"))


@pytest.fixture
def beta() -> op.Graph:
    return graph_of(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "vllm-disagg.v1beta1.yaml"))


# -- reading the DGD ----------------------------------------------------------------------------
def test_a_v1alpha1_dgd_is_read_from_its_services_map_and_a_v1beta1_dgd_from_its_components_list(agg, beta):
    assert (agg.version, [c.name for c in agg.components]) == ("v1alpha1", ["Frontend", "decode"])
    assert [(c.type, c.sub_type) for c in agg.components] == [("frontend", ""), ("worker", "decode")]
    assert (beta.version, [c.name for c in beta.components]) == (
        "v1beta1", ["Frontend", "VllmDecodeWorker", "VllmPrefillWorker"])
    assert [c.type for c in beta.components] == ["frontend", "decode", "prefill"]


def test_the_spec_decides_the_version_even_when_the_object_is_read_in_the_other_one(beta):
    stored = as_stored(dgd.dgd_body(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "vllm-disagg.v1beta1.yaml"),
                                    "run-1", NAMESPACE, IMAGE))
    stored["apiVersion"] = "nvidia.com/v1alpha1"  # conversion None: the v1alpha1 view of a v1beta1 object

    assert op.read_graph(stored).version == "v1beta1"
    assert op.spec_version({"spec": {}}) is None


# -- names --------------------------------------------------------------------------------------
def test_each_service_becomes_a_deployment_named_after_the_dgd_and_the_lowercased_service(agg):
    names = [op.deployment_body(agg, c)["metadata"]["name"] for c in agg.components]

    assert names == ["mocker-agg-frontend", "mocker-agg-decode"]


def test_names_are_made_dns_safe_and_cut_to_63_characters_with_a_hash():
    assert op.resource_name("vllm-agg", "Vllm_Decode.Worker") == "vllm-agg-vllm-decode-worker"
    long = op.resource_name("a" * 40, "B" * 40)
    assert len(long) == 63 and long.startswith("a" * 40 + "-bbbb") and long != op.resource_name("a" * 40, "B" * 41)


# -- the Deployment -------------------------------------------------------------------------------
def test_the_deployment_is_owned_by_the_dgd_as_its_controller(agg):
    body = op.deployment_body(agg, component(agg, "decode"))

    assert body["metadata"]["ownerReferences"] == [{
        "apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment", "name": "mocker-agg",
        "uid": agg.uid, "controller": True, "blockOwnerDeletion": True}]
    assert body["metadata"]["namespace"] == NAMESPACE


def test_the_pods_carry_the_labels_the_operator_stamps_and_the_deployment_selects_them_by_its_name(agg):
    body = op.deployment_body(agg, component(agg, "decode"))
    labels = body["spec"]["template"]["metadata"]["labels"]

    assert labels == {
        "nvidia.com/dynamo-graph-deployment-name": "mocker-agg",
        "nvidia.com/dynamo-component": "decode",
        "nvidia.com/dynamo-component-type": "worker",
        "nvidia.com/dynamo-sub-component-type": "decode",
        "nvidia.com/dynamo-namespace": "fault-tolerance-test-mocker-agg",
        "nvidia.com/selector": "mocker-agg-decode",
        "nvidia.com/metrics-enabled": "true",
        "nvidia.com/dynamo-discovery-backend": "kubernetes",
        "nvidia.com/dynamo-discovery-enabled": "true"}
    assert body["spec"]["selector"] == {"matchLabels": {"nvidia.com/selector": "mocker-agg-decode"}}
    assert body["metadata"]["labels"]["nvidia.com/dynamo-component"] == "decode"


def test_metrics_label_is_left_out_when_the_dgd_disables_metrics():
    body = dgd.dgd_body(get_deployment_spec("mocker", "agg"), "run-1", NAMESPACE, IMAGE)
    body["metadata"]["annotations"] = {"nvidia.com/enable-metrics": "false"}
    graph = op.read_graph(as_stored(body))

    labels = op.deployment_body(graph, graph.components[0])["spec"]["template"]["metadata"]["labels"]
    assert "nvidia.com/metrics-enabled" not in labels


def test_the_strategy_is_the_operators_rolling_update_and_replicas_follow_the_spec():
    spec = get_deployment_spec("mocker", "agg")
    spec.set_worker_replicas(3)
    graph = graph_of(spec)

    body = op.deployment_body(graph, component(graph, "decode"))
    assert body["spec"]["replicas"] == 3
    assert body["spec"]["strategy"] == {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


def test_the_frontend_runs_the_operators_default_command_on_port_8000(agg):
    main = main_of(op.deployment_body(agg, component(agg, "Frontend")))

    assert (main["command"], main["args"]) == (["python3"], ["-m", "dynamo.frontend"])
    assert main["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert main["image"] == IMAGE
    assert env_of(main)["DYNAMO_PORT"] == "8000"


def test_a_worker_runs_the_specs_command_and_args_with_the_system_port(agg):
    graph = graph_of(get_deployment_spec("mocker", "agg"), log_tee=False)
    main = main_of(op.deployment_body(graph, component(graph, "decode")))

    assert main["command"] == ["python3", "-m", "dynamo.mocker"]
    assert main["args"][:2] == ["--model-path", "Qwen/Qwen3-0.6B"]
    assert main["workingDir"] == "/workspace"
    assert [p["containerPort"] for p in main["ports"]] == [9090, 19090]


def test_the_environment_merges_operator_defaults_the_dgd_and_the_service_sorted_by_name():
    spec = get_deployment_spec("mocker", "agg")
    spec.set_env_var("DYN_LOG", "debug")  # the DGD's spec.envs
    spec.get_service("decode").set_env_var("TEST_ROLLING_UPDATE_TRIGGER", "abc123")
    graph = graph_of(spec)

    env = main_of(op.deployment_body(graph, component(graph, "decode")))["env"]
    names = [e["name"] for e in env]
    assert names == sorted(names) and len(names) == len(set(names))
    values = {e["name"]: e for e in env}
    assert values["TEST_ROLLING_UPDATE_TRIGGER"]["value"] == "abc123"
    assert values["DYN_LOG"]["value"] == "debug"
    assert values["DYN_NAMESPACE"]["value"] == "fault-tolerance-test-mocker-agg"
    assert values["POD_NAME"] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def test_v1alpha1_gpu_and_custom_resources_become_container_requests_and_limits():
    graph = graph_of(DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "vllm-disagg.yaml"))
    main = main_of(op.deployment_body(graph, component(graph, "VllmDecodeWorker")))

    assert main["resources"] == {"limits": {"nvidia.com/gpu": "1"}, "requests": {"ephemeral-storage": "2Gi"}}
    assert main["envFrom"] == [{"secretRef": {"name": "hf-token-secret"}}]


def test_a_gpu_type_names_the_gpu_resource():
    assert op.resource_requirements({"limits": {"gpu": "2", "gpuType": "gpu.intel.com/xe", "cpu": "4"}}) == {
        "limits": {"cpu": "4", "gpu.intel.com/xe": "2"}}


def test_volume_mounts_of_the_top_level_pvcs_become_claim_volumes_named_after_the_claim(agg):
    pod = op.deployment_body(agg, component(agg, "decode"))["spec"]["template"]["spec"]

    assert {"name": "ft-logs-run-1", "persistentVolumeClaim": {"claimName": "ft-logs-run-1"}} in pod["volumes"]
    assert {"name": "ft-logs-run-1", "mountPath": "/ft-logs"} in main_of({"spec": {"template": {"spec": pod}}})["volumeMounts"]


def test_the_pod_spec_has_the_operators_defaults_and_the_extra_pod_spec_as_written(agg):
    pod = op.deployment_body(agg, component(agg, "decode"))["spec"]["template"]["spec"]

    assert pod["shareProcessNamespace"] is True
    assert (pod["terminationGracePeriodSeconds"], pod["restartPolicy"]) == (60, "Always")
    assert pod["securityContext"] == {"fsGroup": 1000}
    assert pod["serviceAccountName"] == "default"
    assert {"name": "shared-memory", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]
    assert [c["name"] for c in pod["containers"]] == ["main"]


def test_a_securitycontext_or_grace_period_in_the_spec_replaces_the_defaults():
    spec = get_deployment_spec("mocker", "agg")
    extra = spec.get_service("decode").raw["extraPodSpec"]
    extra.update(securityContext={"runAsUser": 0}, terminationGracePeriodSeconds=5)
    graph = graph_of(spec)

    pod = op.deployment_body(graph, component(graph, "decode"))["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsUser": 0} and pod["terminationGracePeriodSeconds"] == 5


def test_a_v1beta1_component_keeps_its_pod_template_with_the_defaults_merged_under_main(beta):
    body = op.deployment_body(beta, component(beta, "VllmDecodeWorker"))
    pod = body["spec"]["template"]["spec"]
    main = main_of(body)

    assert body["metadata"]["name"] == "vllm-disagg-vllmdecodeworker"
    assert body["metadata"]["ownerReferences"][0]["apiVersion"] == "nvidia.com/v1beta1"
    assert body["spec"]["template"]["metadata"]["labels"]["nvidia.com/dynamo-component-type"] == "decode"
    assert main["command"][0] == "/bin/sh" and main["image"] == IMAGE  # log tee wrapper, then the engine
    assert main["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert {"name": "ft-logs", "mountPath": "/ft-logs"} in main["volumeMounts"]
    assert pod["shareProcessNamespace"] is True
    assert env_of(main)["DYN_SYSTEM_PORT"] == "9090"


def test_the_hash_annotation_changes_with_the_spec_and_only_with_it(agg):
    spec = get_deployment_spec("mocker", "agg")
    before = op.deployment_body(graph_of(spec), component(graph_of(spec), "decode"))
    again = op.deployment_body(graph_of(spec), component(graph_of(spec), "decode"))
    spec.get_service("decode").set_env_var("TEST_ROLLING_UPDATE_TRIGGER", "1f2e")
    after = op.deployment_body(graph_of(spec), component(graph_of(spec), "decode"))

    key = "nvidia.com/last-applied-hash"
    assert before["metadata"]["annotations"][key] == again["metadata"]["annotations"][key]
    assert before["metadata"]["annotations"][key] != after["metadata"]["annotations"][key]


def test_the_frontend_service_selects_the_frontend_pods_on_port_8000(agg):
    body = op.service_body(agg, component(agg, "Frontend"))

    assert body["metadata"]["name"] == "mocker-agg-frontend"
    assert body["spec"]["selector"] == {"nvidia.com/dynamo-component-type": "frontend",
                                        "nvidia.com/dynamo-namespace": "fault-tolerance-test-mocker-agg",
                                        "nvidia.com/dynamo-component": "Frontend"}
    assert body["spec"]["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": "http"}]
    assert body["metadata"]["ownerReferences"][0]["controller"] is True


# -- status -------------------------------------------------------------------------------------
def deployment(generation=1, observed=1, desired=1, replicas=1, updated=1, ready=1, available=1,
               available_condition="True") -> dict:
    """A Deployment as the Deployment controller leaves it (kube-controller-manager 1.37)."""
    status = {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated,
              "readyReplicas": ready, "availableReplicas": available,
              "conditions": [{"type": "Available", "status": available_condition,
                              "reason": "MinimumReplicasAvailable" if available_condition == "True"
                              else "MinimumReplicasUnavailable"},
                             {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    if not ready:
        status.pop("readyReplicas")  # the controller omits zero counts
    if not available:
        status.pop("availableReplicas")
    return {"metadata": {"name": "mocker-agg-decode", "generation": generation}, "spec": {"replicas": desired},
            "status": status}


@pytest.mark.parametrize("shape, ready", [
    ({}, True),
    ({"observed": 0, "updated": 0, "ready": 0, "available": 0, "replicas": 0, "available_condition": "False"}, False),
    ({"generation": 2, "observed": 1}, False),                           # spec not yet seen
    ({"generation": 2, "observed": 2, "replicas": 2, "updated": 1}, False),  # surge pod during a roll
    ({"generation": 2, "observed": 2, "replicas": 2, "ready": 2, "available": 2}, False),  # old pod not gone
    ({"ready": 0, "available": 0, "available_condition": "False"}, False),  # the pod died
    ({"available_condition": "False"}, False),
    ({"desired": 0, "replicas": 0, "updated": 0, "ready": 0, "available": 0}, True),
])
def test_a_deployment_is_ready_only_when_observed_updated_available_and_without_surge(shape, ready):
    assert op.deployment_state("mocker-agg-decode", deployment(**shape)).ready is ready


def test_a_missing_deployment_is_not_ready():
    state = op.deployment_state("mocker-agg-decode", None)
    assert (state.ready, state.why) == (False, "deployment not found")


def states(**ready: bool) -> dict[str, op.ComponentState]:
    return {name: op.deployment_state(f"mocker-agg-{name.lower()}",
                                      deployment() if ok else deployment(ready=0, available=0, available_condition="False"))
            for name, ok in ready.items()}


def test_the_status_is_successful_when_every_deployment_is_ready(agg):
    status = op.graph_status(agg, states(Frontend=True, decode=True))

    assert status["state"] == "successful" and status["observedGeneration"] == 1
    ready = status["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "all_resources_are_ready")
    assert status["services"]["decode"] == {
        "componentKind": "Deployment", "componentName": "mocker-agg-decode", "componentNames": ["mocker-agg-decode"],
        "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}


def test_the_status_is_pending_and_names_each_deployment_not_ready(agg):
    status = op.graph_status(agg, states(Frontend=True, decode=False))

    ready = status["conditions"][0]
    assert status["state"] == "pending"
    assert (ready["status"], ready["reason"]) == ("False", "some_resources_are_not_ready")
    assert ready["message"].startswith("Resources not ready: mocker-agg-decode: not available: ")
    assert "mocker-agg-frontend" not in ready["message"]
    assert status["services"]["decode"]["readyReplicas"] == 0


def test_a_v1beta1_status_lists_components_without_a_component_name(beta):
    status = op.graph_status(beta, {c.name: op.deployment_state(op.resource_name(beta.name, c.name), deployment())
                                    for c in beta.components})

    assert set(status["components"]) == {"Frontend", "VllmDecodeWorker", "VllmPrefillWorker"}
    assert "services" not in status
    assert "componentName" not in status["components"]["Frontend"]


def test_a_refused_object_fails_the_dgd_and_keeps_the_observed_generation(agg):
    graph = op.Graph(**{**agg.__dict__, "generation": 3, "status": {"observedGeneration": 2}})
    status = op.graph_status(graph, states(Frontend=True, decode=True), error="the API server refused: 422 bad")

    assert status["state"] == "failed" and status["observedGeneration"] == 2
    assert status["conditions"][0]["reason"] == "failed_to_reconcile_the_resources"


def test_the_ready_conditions_transition_time_moves_only_when_its_status_does(agg):
    first = op.graph_status(agg, states(Frontend=True, decode=False))
    first["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    still_pending = op.graph_status(op.Graph(**{**agg.__dict__, "status": first}), states(Frontend=False, decode=False))
    ready = op.graph_status(op.Graph(**{**agg.__dict__, "status": first}), states(Frontend=True, decode=True))

    assert still_pending["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert ready["conditions"][0]["lastTransitionTime"] != "2026-01-01T00:00:00Z"
    assert op.same_status(first, op.graph_status(op.Graph(**{**agg.__dict__, "status": first}),
                                                 states(Frontend=True, decode=False)))
    assert not op.same_status(first, still_pending)


# -- the work queue -------------------------------------------------------------------------------
def test_the_work_queue_holds_a_key_once_and_serves_delayed_keys_when_due():
    queue = op.WorkQueue()
    queue.add(("ns", "a"), delay=0.2)
    queue.add(("ns", "b"))
    queue.add(("ns", "b"))
    queue.add(("ns", "a"))  # sooner than its delayed entry: moves it forward, behind "b"

    assert [queue.get(0.05), queue.get(0.05), queue.get(0.05)] == [("ns", "b"), ("ns", "a"), None]
    queue.add(("ns", "c"), delay=0.1)
    assert queue.get(0.02) is None and queue.get(0.5) == ("ns", "c")
    queue.close()
    assert queue.get(1.0) is None
