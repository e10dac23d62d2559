"""The Dynamo operator stand-in with the node agent (`control_plane`: the full control plane with
its stand-ins, the operator wired as `ftlib.controlplane.cluster` wires it): pods become Ready,
the DGD reaches ``successful``, and the status moves as the operator moves it around a pod
deletion and a rolling update (never ``successful`` while an old pod serves or a surge pod is
left: ai-dynamo/dynamo #3567). Each test works in a namespace of its own."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kubernetes import client

from ftlib.controlplane import operator as op
from ftlib.platform.kubernetes import dgd, readiness
from ftlib.spec import DeploymentSpec, get_deployment_spec
from tests.test_controlplane_operator import DATA, IMAGE, eventually


class Plane:
    def __init__(self, api: client.ApiClient, namespace: str):
        self.api, self.namespace = api, namespace
        self.core, self.custom = client.CoreV1Api(api), client.CustomObjectsApi(api)

    def create(self, spec: DeploymentSpec, name: str) -> dict:
        spec = spec.copy()
        spec.name = name
        body = dgd.dgd_body(spec, "run-op", self.namespace, IMAGE, log_tee=False)
        return self.custom.create_namespaced_custom_object("nvidia.com", dgd.api_version(body), self.namespace,
                                                           dgd.PLURAL, body)

    def dgd(self, name: str, version: str = "v1alpha1") -> dict:
        return self.custom.get_namespaced_custom_object("nvidia.com", version, self.namespace, dgd.PLURAL, name)

    def pods(self, graph: str, service: str | None = None) -> list[dict]:
        selector = f"{op.GRAPH_LABEL}={graph}" + (f",{op.COMPONENT_LABEL}={service}" if service else "")
        listing = self.api.call_api(f"/api/v1/namespaces/{self.namespace}/pods", "GET",
                                    query_params=[("labelSelector", selector)], auth_settings=["BearerToken"],
                                    response_type="object", _return_http_data_only=True)
        return listing["items"]

    def state(self, name: str, version: str = "v1alpha1") -> str | None:
        return (self.dgd(name, version).get("status") or {}).get("state")

    def patch(self, name: str, patch: dgd.Patch, version: str) -> None:
        self.api.call_api(f"/apis/nvidia.com/{version}/namespaces/{self.namespace}/{dgd.PLURAL}/{name}", "PATCH",
                          body=patch.body, header_params={"Content-Type": patch.content_type, "Accept": "application/json"},
                          auth_settings=["BearerToken"], _preload_content=False)


@pytest.fixture(scope="module")
def plane(control_plane):
    found = Plane(control_plane.api_client(), f"opn-{uuid.uuid4().hex[:6]}")
    found.core.create_namespace({"metadata": {"name": found.namespace}})
    eventually(lambda: found.core.list_namespaced_service_account(found.namespace).items)
    yield found
    found.core.delete_namespace(found.namespace)


def verdict(plane: Plane, name: str, version: str = "v1alpha1") -> readiness.Readiness:
    """The platform's own readiness verdict on what the API shows."""
    body = plane.dgd(name, version)
    replicas = {c.name: c.replicas for c in op.read_graph(body).components}
    return readiness.verdict(body, plane.pods(name), replicas)


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_the_dgd_becomes_successful_once_every_pod_is_ready(plane, version):
    spec = get_deployment_spec("mocker", "agg") if version == "v1alpha1" else \
        DeploymentSpec.from_yaml(DATA / "dynamo_examples" / "mocker-agg.v1beta1.yaml")
    name = f"up-{version}"
    started = time.monotonic()
    plane.create(spec, name)

    eventually(lambda: verdict(plane, name, version).ready, timeout=30)
    took = time.monotonic() - started
    status = plane.dgd(name, version)["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (status["state"], ready["status"], ready["reason"]) == ("successful", "True", "all_resources_are_ready")
    entries = status["services" if version == "v1alpha1" else "components"]
    assert {n: (e["replicas"], e["readyReplicas"], e["availableReplicas"]) for n, e in entries.items()} == {
        "Frontend": (1, 1, 1), "decode": (1, 1, 1)}
    print(f"{version}: DGD created -> successful in {took:.1f} s")


def watch_states(plane: Plane, name: str, stop: threading.Event, seen: list) -> None:
    """Record (state, observedGeneration, pod template hashes) as often as the API answers."""
    while not stop.is_set():
        status = plane.dgd(name).get("status") or {}
        hashes = sorted({p["metadata"]["labels"].get("pod-template-hash") for p in plane.pods(name, "decode")
                         if not p["metadata"].get("deletionTimestamp")})
        seen.append((status.get("state"), status.get("observedGeneration"), tuple(hashes)))
        time.sleep(0.05)


def test_a_deleted_pod_makes_the_dgd_pending_until_its_replacement_is_ready(plane):
    plane.create(get_deployment_spec("mocker", "agg"), "delete")
    eventually(lambda: verdict(plane, "delete").ready, timeout=30)
    first = plane.pods("delete", "decode")[0]["metadata"]["name"]

    started = time.monotonic()
    plane.core.delete_namespaced_pod(first, plane.namespace, grace_period_seconds=0)
    eventually(lambda: plane.state("delete") == "pending", timeout=10)
    eventually(lambda: plane.state("delete") == "successful", timeout=30)
    took = time.monotonic() - started
    pods = plane.pods("delete", "decode")
    assert len(pods) == 1 and pods[0]["metadata"]["name"] != first
    assert verdict(plane, "delete").ready
    print(f"pod deleted -> DGD successful again in {took:.1f} s")


def test_a_rolling_update_is_never_successful_before_the_new_pod_alone_serves(plane):
    body = plane.create(get_deployment_spec("mocker", "agg"), "rolling")
    eventually(lambda: verdict(plane, "rolling").ready, timeout=30)
    old = {p["metadata"]["labels"]["pod-template-hash"] for p in plane.pods("rolling", "decode")}
    seen: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_states, args=(plane, "rolling", stop, seen), daemon=True)
    watcher.start()

    started = time.monotonic()
    plane.patch("rolling", dgd.env_patch(body, "decode", {"TEST_ROLLING_UPDATE_TRIGGER": "5ab1"}), "v1alpha1")
    eventually(lambda: plane.state("rolling") == "pending", timeout=10)
    eventually(lambda: plane.state("rolling") == "successful" and verdict(plane, "rolling").ready, timeout=40)
    took = time.monotonic() - started
    time.sleep(0.3)
    stop.set()
    watcher.join(timeout=5)

    after = [s for s in seen if s[1] == 2]
    assert after and after[-1][0] == "successful"
    successful = [hashes for state, generation, hashes in after if state == "successful"]
    assert all(len(h) == 1 and not set(h) & old for h in successful)  # only the new pod, never with the old
    assert ("pending", 2) in {(s, g) for s, g, _ in after}
    print(f"rolling update -> DGD successful in {took:.1f} s ({len(seen)} samples)")
