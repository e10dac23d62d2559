"""The Dynamo operator stand-in (`ftlib.controlplane.operator`) against a real control plane:
kube-apiserver 1.37 with the vendored CRD and its conversion webhook, etcd, and the real
Deployment, ReplicaSet and garbage-collector controllers (`bare_control_plane`: no node agent, so
pods stay Pending; what is checked is what the API alone shows). The stand-in under test keeps to
a namespace of its own, so other tests sharing the control plane are left alone. With the node
agent (pods Ready, the DGD successful, rolls that end): tests/test_controlplane_operator_node.py."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.polling import eventually as poll
from ftlib.controlplane import conversion
from ftlib.controlplane import operator as op
from ftlib.platform.kubernetes import dgd
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec

DATA = Path(__file__).parent / "data"
IMAGE = "registry.example/dynamo:1.6.1"
EXAMPLES = sorted((DATA / "dynamo_examples").glob("*.yaml"))


def eventually(check, timeout: float = 20.0, every: float = 0.1):
    return poll(check, timeout, every)


class Cluster:
    """The API of the control plane, a namespace of this module's own and the stand-in in it."""

    def __init__(self, api: client.ApiClient, namespace: str):
        self.api, self.namespace = api, namespace
        self.core, self.apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def create(self, spec: DeploymentSpec, name: str) -> dict:
        spec = spec.copy()
        spec.name = name
        body = dgd.dgd_body(spec, "run-op", self.namespace, IMAGE)
        version = dgd.api_version(body)
        return self.custom.create_namespaced_custom_object("nvidia.com", version, self.namespace, dgd.PLURAL, body)

    def dgd(self, name: str, version: str = "v1alpha1") -> dict:
        return self.custom.get_namespaced_custom_object("nvidia.com", version, self.namespace, dgd.PLURAL, name)

    def deployments(self, graph: str) -> dict[str, client.V1Deployment]:
        found = self.apps.list_namespaced_deployment(self.namespace, label_selector=f"{op.GRAPH_LABEL}={graph}").items
        return {d.metadata.name: d for d in found}

    def pods(self, graph: str, service: str | None = None) -> list[client.V1Pod]:
        selector = f"{op.GRAPH_LABEL}={graph}" + (f",{op.COMPONENT_LABEL}={service}" if service else "")
        return self.core.list_namespaced_pod(self.namespace, label_selector=selector).items

    def replica_sets(self, deployment: str) -> list[client.V1ReplicaSet]:
        return [rs for rs in self.apps.list_namespaced_replica_set(self.namespace).items
                if any(o.name == deployment for o in rs.metadata.owner_references or [])]

    def patch(self, name: str, patch: dgd.Patch, version: str) -> None:
        self.api.call_api(f"/apis/nvidia.com/{version}/namespaces/{self.namespace}/{dgd.PLURAL}/{name}", "PATCH",
                          body=patch.body, header_params={"Content-Type": patch.content_type, "Accept": "application/json"},
                          auth_settings=["BearerToken"], _preload_content=False)

    def delete(self, name: str, version: str = "v1alpha1") -> None:
        self.custom.delete_namespaced_custom_object("nvidia.com", version, self.namespace, dgd.PLURAL, name)


@pytest.fixture(scope="module")
def cluster(bare_control_plane):
    api = bare_control_plane.api_client()
    plane = Cluster(api, f"op-{uuid.uuid4().hex[:6]}")
    plane.core.create_namespace({"metadata": {"name": plane.namespace}})
    eventually(lambda: plane.core.list_namespaced_service_account(plane.namespace).items)  # pods need "default"
    stand_in = op.OperatorStandIn(bare_control_plane.api_client(), namespace=plane.namespace).start()
    plane.operator = stand_in
    yield plane
    stand_in.stop()
    plane.core.delete_namespace(plane.namespace)


def alpha() -> DeploymentSpec:
    return get_deployment_spec("mocker", "agg")


def beta() -> DeploymentSpec:
    return DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "mocker-agg.v1beta1.yaml")


# -- what the stand-in creates ----------------------------------------------------------------------
def test_each_service_of_a_v1alpha1_dgd_gets_a_deployment_owned_by_the_dgd(cluster):
    created = cluster.create(alpha(), "own")

    deployments = eventually(lambda: len(cluster.deployments("own")) == 2 and cluster.deployments("own"))
    assert sorted(deployments) == ["own-decode", "own-frontend"]
    owner = deployments["own-decode"].metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller, owner.block_owner_deletion) == (
        "DynamoGraphDeployment", "own", created["metadata"]["uid"], True, True)
    strategy = deployments["own-decode"].spec.strategy
    assert (strategy.type, strategy.rolling_update.max_surge, strategy.rolling_update.max_unavailable) == (
        "RollingUpdate", "25%", "25%")


def test_the_replicaset_controller_creates_pods_carrying_the_labels_the_suite_selects_by(cluster):
    cluster.create(alpha(), "labels")

    pods = eventually(lambda: cluster.pods("labels", "decode"))
    labels = pods[0].metadata.labels
    assert labels[op.COMPONENT_TYPE_LABEL] == "worker" and labels[op.SUB_COMPONENT_TYPE_LABEL] == "decode"
    assert labels[op.SELECTOR_LABEL] == "labels-decode" and labels[op.METRICS_LABEL] == "true"
    assert labels[op.NAMESPACE_LABEL] == f"{cluster.namespace}-labels"
    assert pods[0].metadata.owner_references[0].kind == "ReplicaSet"
    assert pods[0].metadata.name.startswith("labels-decode-")
    main = next(c for c in pods[0].spec.containers if c.name == "main")
    assert pods[0].spec.share_process_namespace is True and main.image == IMAGE
    assert [p.container_port for p in main.ports] == [9090, 19090]


def test_the_frontend_gets_a_service_on_port_8000(cluster):
    cluster.create(alpha(), "svc")

    service = eventually(lambda: next(iter(cluster.core.list_namespaced_service(
        cluster.namespace, label_selector=f"{op.GRAPH_LABEL}=svc").items), None))
    assert service.metadata.name == "svc-frontend"
    assert [(p.name, p.port, p.target_port) for p in service.spec.ports] == [("http", 8000, "http")]
    assert service.spec.selector[op.COMPONENT_LABEL] == "Frontend"
    assert service.metadata.owner_references[0].name == "svc"


def test_while_no_pod_runs_the_dgd_is_pending_with_its_generation_observed_and_per_service_replicas(cluster):
    cluster.create(alpha(), "pending")

    status = eventually(lambda: (cluster.dgd("pending").get("status") or {}).get("services", {}).get(
        "decode", {}).get("replicas") == 1 and cluster.dgd("pending")["status"])
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert status["state"] == "pending" and status["observedGeneration"] == 1
    assert (ready["status"], ready["reason"]) == ("False", "some_resources_are_not_ready")
    assert "pending-decode: not available" in ready["message"]
    assert status["services"]["decode"] == {"componentKind": "Deployment", "componentName": "pending-decode",
                                            "componentNames": ["pending-decode"], "replicas": 1,
                                            "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0}


def test_the_status_is_written_only_when_it_changes(cluster):
    cluster.create(alpha(), "quiet")
    eventually(lambda: (cluster.dgd("quiet").get("status") or {}).get("services", {}).get("decode", {}).get("replicas") == 1)
    time.sleep(1.0)  # the Deployment controller settles

    version = cluster.dgd("quiet")["metadata"]["resourceVersion"]
    time.sleep(2.0)
    assert cluster.dgd("quiet")["metadata"]["resourceVersion"] == version


def test_a_v1beta1_dgd_is_stored_whole_and_gets_deployments_and_a_components_status(cluster):
    created = cluster.create(beta(), "beta")
    assert [c["name"] for c in created["spec"]["components"]] == ["Frontend", "decode"]

    status = eventually(lambda: (cluster.dgd("beta", "v1beta1").get("status") or {}).get("components"))
    assert sorted(cluster.deployments("beta")) == ["beta-decode", "beta-frontend"]
    assert "componentName" not in status["decode"] and status["decode"]["componentNames"] == ["beta-decode"]
    labels = cluster.deployments("beta")["beta-decode"].spec.template.metadata.labels
    assert labels[op.COMPONENT_TYPE_LABEL] == "decode" and labels[op.COMPONENT_LABEL] == "decode"
    assert cluster.deployments("beta")["beta-decode"].metadata.owner_references[0].api_version == "nvidia.com/v1beta1"


# -- spec changes --------------------------------------------------------------------------------------
def env_of(deployment: client.V1Deployment) -> dict[str, str]:
    main = next(c for c in deployment.spec.template.spec.containers if c.name == "main")
    return {e.name: e.value for e in main.env or []}


def test_an_env_var_set_by_merge_patch_rolls_the_deployment_to_a_new_replicaset(cluster):
    body = cluster.create(alpha(), "roll")
    eventually(lambda: len(cluster.replica_sets("roll-decode")) == 1)

    cluster.patch("roll", dgd.env_patch(body, "decode", {"TEST_ROLLING_UPDATE_TRIGGER": "9f3a"}), "v1alpha1")
    deployment = eventually(lambda: env_of(cluster.deployments("roll")["roll-decode"]).get(
        "TEST_ROLLING_UPDATE_TRIGGER") == "9f3a" and cluster.deployments("roll")["roll-decode"])
    assert deployment.metadata.generation == 2
    replica_sets = eventually(lambda: len(cluster.replica_sets("roll-decode")) == 2 and cluster.replica_sets("roll-decode"))
    assert {rs.metadata.labels["pod-template-hash"] for rs in replica_sets} == {
        p.metadata.labels["pod-template-hash"] for p in eventually(lambda: len(cluster.pods("roll", "decode")) == 2
                                                                   and cluster.pods("roll", "decode"))}
    assert env_of(cluster.deployments("roll")["roll-frontend"]).get("TEST_ROLLING_UPDATE_TRIGGER") is None
    status = eventually(lambda: cluster.dgd("roll")["status"].get("observedGeneration") == 2 and cluster.dgd("roll")["status"])
    assert status["state"] == "pending"


def test_an_env_var_set_by_json_patch_on_a_v1beta1_dgd_rolls_its_deployment(cluster):
    body = cluster.create(beta(), "betaroll")
    eventually(lambda: "betaroll-decode" in cluster.deployments("betaroll"))

    cluster.patch("betaroll", dgd.env_patch(body, "decode", {"TEST_ROLLING_UPDATE_TRIGGER": "77aa"}), "v1beta1")
    eventually(lambda: env_of(cluster.deployments("betaroll")["betaroll-decode"]).get("TEST_ROLLING_UPDATE_TRIGGER") == "77aa")
    assert cluster.dgd("betaroll", "v1beta1")["metadata"]["generation"] == 2
    eventually(lambda: len(cluster.replica_sets("betaroll-decode")) == 2)


def test_a_replica_change_scales_the_deployment(cluster):
    cluster.create(alpha(), "scale")
    eventually(lambda: len(cluster.pods("scale", "decode")) == 1)

    cluster.patch("scale", dgd.Patch(dgd.MERGE_PATCH, {"spec": {"services": {"decode": {"replicas": 3}}}}), "v1alpha1")
    eventually(lambda: len(cluster.pods("scale", "decode")) == 3)
    assert cluster.deployments("scale")["scale-decode"].spec.replicas == 3
    eventually(lambda: cluster.dgd("scale")["status"]["services"]["decode"]["replicas"] == 3)


def test_a_service_removed_from_the_spec_loses_its_deployment(cluster):
    cluster.create(get_deployment_spec("mocker", "disagg"), "shrink")
    eventually(lambda: len(cluster.deployments("shrink")) == 3)

    cluster.patch("shrink", dgd.Patch(dgd.MERGE_PATCH, {"spec": {"services": {"prefill": None}}}), "v1alpha1")
    eventually(lambda: sorted(cluster.deployments("shrink")) == ["shrink-decode", "shrink-frontend"])
    eventually(lambda: set(cluster.dgd("shrink")["status"]["services"]) == {"Frontend", "decode"})


# -- what the real controllers do with it -----------------------------------------------------------
def test_a_deleted_pod_is_replaced_by_a_pod_with_a_new_name(cluster):
    cluster.create(alpha(), "replace")
    first = eventually(lambda: cluster.pods("replace", "decode"))[0].metadata.name

    cluster.core.delete_namespaced_pod(first, cluster.namespace, grace_period_seconds=0)
    pods = eventually(lambda: [p for p in cluster.pods("replace", "decode") if p.metadata.name != first])
    assert len(pods) == 1 and pods[0].metadata.name.startswith("replace-decode-")


def test_deleting_the_dgd_lets_the_garbage_collector_remove_deployments_replicasets_pods_and_the_service(cluster):
    cluster.create(alpha(), "gone")
    eventually(lambda: len(cluster.pods("gone")) == 2)

    cluster.delete("gone")
    eventually(lambda: not cluster.deployments("gone") and not cluster.pods("gone"), timeout=30)
    assert not [rs for rs in cluster.apps.list_namespaced_replica_set(cluster.namespace).items
                if rs.metadata.name.startswith("gone-")]
    assert not cluster.core.list_namespaced_service(cluster.namespace, label_selector=f"{op.GRAPH_LABEL}=gone").items


def test_deleting_a_v1beta1_dgd_lets_the_garbage_collector_remove_its_pods(cluster):
    cluster.create(beta(), "betagone")
    eventually(lambda: len(cluster.pods("betagone")) == 2)

    cluster.delete("betagone", "v1beta1")
    eventually(lambda: not cluster.deployments("betagone") and not cluster.pods("betagone"), timeout=30)


# -- the API server's word on what the stand-in generates ---------------------------------------------
def generated() -> list[tuple[str, DeploymentSpec]]:
    found = [(f"{b}-{t}", get_deployment_spec(b, t)) for b in BACKENDS for t in TOPOLOGIES]
    return found + [(p.stem.replace(".", "-"), DeploymentSpec.from_yaml(p)) for p in EXAMPLES]


def test_every_generated_deployment_and_service_passes_a_strict_server_side_dry_run(cluster):
    refused, checked, expected = [], 0, 0
    for name, spec in generated():
        body = dgd.dgd_body(spec, "run-op", cluster.namespace, IMAGE)
        body["metadata"].update(name=f"dry-{name}", uid="0b7e1c3e-0000-4000-8000-000000000001", generation=1)
        graph = op.read_graph(body)
        objects = [("deployments", op.deployment_body(graph, c)) for c in graph.components]
        objects += [("services", op.service_body(graph, c)) for c in graph.components if c.is_frontend]
        expected += len(objects)
        for kind, obj in objects:
            obj["metadata"].pop("ownerReferences")  # the owner does not exist: the API server would refuse it
            try:
                cluster.operator.rest.call("POST", op.kind_path(kind, cluster.namespace), obj,
                                           query={"dryRun": "All", "fieldValidation": "Strict"})
                checked += 1
            except client.ApiException as error:
                refused.append((obj["metadata"]["name"], op._describe(error)))
    assert refused == [] and checked == expected > 50


# -- watches and life cycle ---------------------------------------------------------------------------
def test_a_watch_from_a_compacted_resource_version_gets_410_and_lists_again(cluster, caplog):
    seen = []
    stand_in = op.OperatorStandIn(cluster.api, namespace=cluster.namespace)
    cluster.create(alpha(), "relist")
    thread = threading.Thread(target=stand_in._watch, args=(op.dgd_path("v1alpha1", cluster.namespace), {},
                                                            seen.append, "1"), daemon=True)
    with caplog.at_level("INFO", logger="ftlib.controlplane.operator"):
        thread.start()
        eventually(lambda: any(o["metadata"]["name"] == "relist" for o in seen))
        stand_in.stop()
        thread.join(timeout=5)
    assert "410 Gone" in caplog.text and not thread.is_alive()


def test_stop_ends_every_thread_within_a_second(cluster):
    stand_in = op.OperatorStandIn(cluster.api, namespace=cluster.namespace).start()
    threads = list(stand_in._threads)
    time.sleep(1.0)  # the watches are open

    started = time.monotonic()
    stand_in.stop()
    assert time.monotonic() - started < 1.0
    assert len(threads) == 5 and not [t.name for t in threads if t.is_alive()]


# -- the conversion webhook on the real API server ------------------------------------------------------
def dry_run_create(cluster: Cluster, body: dict) -> dict:
    version = conversion.version_of(body)
    return cluster.custom.create_namespaced_custom_object("nvidia.com", version, cluster.namespace, dgd.PLURAL,
                                                         body, dry_run="All")


def test_every_generated_dgd_and_its_conversion_come_back_from_a_dry_run_create_as_sent(cluster):
    """Each DGD the project generates, created (dry run) in its own version and, converted by
    `ftlib.controlplane.conversion`, in the other one: the API server stores it through the
    webhook and answers the spec field for field (nothing pruned, nothing refused)."""
    crd = client.ApiextensionsV1Api(cluster.api).read_custom_resource_definition(
        conversion.CRD_NAME, _preload_content=False)
    schemas = conversion.spec_schemas(json.loads(crd.data))
    differing, checked = [], 0
    for name, spec in generated():
        body = dgd.dgd_body(spec, "run-op", cluster.namespace, IMAGE)
        body["metadata"]["name"] = f"conv-{name}"
        other = conversion.convert(body, "v1beta1" if dgd.api_version(body) == "v1alpha1" else "v1alpha1", schemas)
        for sent in (body, other):
            answer = dry_run_create(cluster, sent)
            checked += 1
            lost = missing(sent["spec"], answer["spec"]) + missing(kept(sent), kept(answer))
            if lost:
                differing.append((name, conversion.version_of(sent), lost[:3]))
    assert differing == [] and checked == 2 * len(generated())


def kept(obj: dict) -> dict:
    """The version and spec kept in the conversion annotation (its digest may move with defaults)."""
    found = conversion.origin(obj) or {}
    return {k: found[k] for k in ("version", "spec") if k in found}


def missing(sent, answer, path: str = "") -> list[str]:
    """Where ``answer`` lacks or changed what was ``sent`` (fields it adds, the schema's defaults, are fine)."""
    if isinstance(sent, dict) and isinstance(answer, dict):
        return [p for key in sent for p in missing(sent[key], answer.get(key, KeyError), f"{path}.{key}")]
    if isinstance(sent, list) and isinstance(answer, list) and len(sent) == len(answer):
        return [p for i, (a, b) in enumerate(zip(sent, answer)) for p in missing(a, b, f"{path}[{i}]")]
    return [] if sent == answer else [path or "."]
