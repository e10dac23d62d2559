"""A stand-in for the Dynamo operator, talking to a real API server only through its API.

No Dynamo operator can run here (it wants an in-cluster service account, webhook certificates
and Grove or LWS), so `OperatorStandIn` does the part of its work that the suite depends on,
the way the operator does it on its *component path* (no Grove, no LWS: what the operator
picks when the ``grove.io`` API group is absent or the DGD says
``nvidia.com/enable-grove: "false"``)::

    operator = OperatorStandIn(api_client)   # a kubernetes.client.ApiClient with broad rights
    operator.start()                         # watch and reconcile in background threads
    # OperatorStandIn(api_client, namespace="ft") keeps to one namespace (the operator's
    # namespace-restricted mode)
    ...
    operator.stop()                          # every thread ends (its watch sockets are shut down)

What it does, for every DynamoGraphDeployment (DGD) in every namespace:

- **Deployments.** One ``apps/v1`` Deployment per service, named ``<dgd>-<service-lowercase>``
  (made DNS-safe: other characters become ``-``; names past 63 characters are cut and end in a
  hash), owned by the DGD (``ownerReferences`` with ``controller: true`` and
  ``blockOwnerDeletion: true``, in the API version the DGD was written in). The real Deployment and ReplicaSet controllers then create the
  pods, replace a deleted pod with a new one (a new name) and roll the pods when the template
  changes; deleting the DGD lets the real garbage collector remove the Deployments, their
  ReplicaSets and pods: the stand-in does nothing for that. A Deployment whose service left the
  spec is deleted.
- **Strategy.** ``RollingUpdate`` with ``maxSurge: 25%`` and ``maxUnavailable: 25%``, the
  operator's defaults; for one replica the Deployment controller rounds them to a surge of one
  pod and no unavailable pod (the new pod is Ready before the old one goes).
- **The pod template**, built as the operator's ``GenerateBasePodSpec`` builds it: a container
  named ``main`` with the component type's defaults (frontend: ``python3 -m dynamo.frontend``,
  port ``http`` 8000; workers, prefill and decode: port ``system`` 9090 and ``nixl`` 19090;
  the ``DYN_*`` and ``POD_*`` environment of the operator), then the spec's main container
  merged over it (non-empty fields win; ``env`` merged by name and sorted, as ``MergeEnvs``
  does), the DGD's and the service's environment, ``envFromSecret``, resources (v1alpha1
  ``resources.requests/limits`` with ``cpu``, ``memory``, ``gpu`` → ``nvidia.com/gpu`` or
  ``gpuType``, ``custom``), the service's ``volumeMounts`` of top-level ``pvcs`` as
  persistentVolumeClaim volumes named after the claim, a ``/dev/shm`` tmpfs (8Gi unless the spec
  sizes or disables it), ``fsGroup: 1000`` unless the spec sets a securityContext,
  ``terminationGracePeriodSeconds: 60`` and ``restartPolicy: Always`` unless the spec sets
  them, then the rest of the pod spec as written (v1alpha1 ``extraPodSpec``, e.g.
  ``shareProcessNamespace``; v1beta1 ``podTemplate.spec``, whose container ``main`` gets the
  defaults merged under it). Pod labels: ``nvidia.com/dynamo-graph-deployment-name``,
  ``nvidia.com/dynamo-component`` (the service name as written), ``-component-type``,
  ``-sub-component-type`` (v1alpha1, when set), ``nvidia.com/dynamo-namespace``
  (``<namespace>-<dgd>``, or ``dynamo`` for a global service), ``nvidia.com/selector`` (the
  Deployment's name, also its selector), ``nvidia.com/metrics-enabled: "true"`` (unless the DGD
  is annotated ``nvidia.com/enable-metrics: "false"``), ``nvidia.com/dynamo-discovery-backend:
  kubernetes`` and ``-discovery-enabled: "true"``, over ``extraPodMetadata`` /
  ``podTemplate.metadata`` labels.
- **Spec changes.** Each generated object carries ``nvidia.com/last-applied-hash`` (a hash of
  what the stand-in generated), as the operator's ``SyncResource`` does; when the DGD's spec
  makes a different object (replicas, an environment variable such as the suite's
  ``TEST_ROLLING_UPDATE_TRIGGER``, an image), the object is replaced and the Deployment
  controller rolls the pods.
- **A Service for the frontend**, ``<dgd>-<frontend-lowercase>``, port ``http`` 8000 → the
  container port ``http``, selecting the frontend pods by component type, Dynamo namespace and
  component, owned by the DGD.
- **The DGD status**, through the ``status`` subresource, written (a full update, as the
  operator's ``Status().Update``) only when it changes: ``state`` ``pending`` until every
  Deployment is ready, then ``successful`` (``failed`` when the API refuses what the stand-in
  generated, with the API's message); a ``Ready`` condition (``True`` with reason
  ``all_resources_are_ready``, else ``False`` with ``some_resources_are_not_ready`` and a message
  naming each Deployment not ready, or ``failed_to_reconcile_the_resources``); its
  ``lastTransitionTime`` moves only when its status does; ``observedGeneration`` (the DGD's
  ``metadata.generation`` after a reconcile that succeeded); per service (v1alpha1
  ``status.services``, v1beta1 ``status.components``) ``componentKind: Deployment``,
  ``componentName`` (v1alpha1 only, the v1beta1 schema has none), ``componentNames``,
  ``replicas``, ``updatedReplicas``, ``readyReplicas``, ``availableReplicas`` copied from the
  Deployment's status. A Deployment is ready as the operator's ``IsDeploymentReady`` decides:
  its controller observed its generation, ``updatedReplicas`` and ``availableReplicas`` reach the
  desired count, ``replicas`` equals it (no surge pod left) and its ``Available`` condition is
  ``True``. So a rollout never reports ``successful`` early (ai-dynamo/dynamo #3567 is fixed).

What it assumes:

- The vendored CRD (``tests/data/crd``): ``v1alpha1`` stored, ``v1beta1`` served, converted by
  the webhook of `ftlib.controlplane.conversion` (with ``conversion: None`` a real API server
  prunes a v1beta1 DGD's spec to nothing). A v1alpha1 DGD has ``spec.services`` (a map), a
  v1beta1 DGD ``spec.components`` (a list keyed by ``name``, each with a ``podTemplate``). The
  stand-in watches DGDs in both versions and reads each one in the version it was written in
  (v1alpha1, unless the conversion annotation ``nvidia.com/dgd-spec`` says v1beta1), so its pods
  follow the spec as written; it writes the status in that version too (``services`` or
  ``components``). Without the webhook, a DGD is read in whichever version shows a spec.
- Rights to list and watch DGDs, Deployments and Services in all namespaces (or the one it
  keeps to), to create, update and delete Deployments and Services, and to update
  ``dynamographdeployments/status`` (the real operator's chart grants such cluster-wide rights).
- Watches are answered as by any API server: after ``410 Gone`` (history compacted) it lists
  again and watches from the list's resourceVersion; a watch that ends is resumed; every
  30 s every DGD is reconciled again anyway. A reconcile that fails is retried with a growing
  delay (0.5 s doubling to 10 s).

Where the real operator differs:

- The real chain is DGD → DynamoComponentDeployment (DCD, one per service) → Deployment: the
  stand-in makes the Deployment directly, owned by the DGD; there is no DCD resource and no DCD
  status. Pod, Deployment and Service names are the ones the DCD path gives
  (``<dgd>-<service-lowercase>``).
- Worker spec changes: recent operators run a *managed rolling update* for workers (a new DCD
  ``<dgd>-<service>-<worker-hash>``, the old one scaled down, ``status.rollingUpdate`` and the
  ``nvidia.com/dynamo-worker-hash`` label); the stand-in updates the one Deployment in place and
  lets the Deployment controller roll it (what operators before managed rolling updates did,
  and what the operator does for the frontend).
- No admission webhooks (no defaulting, no validation beyond the CRD's schema and CEL rules, no
  ``nvidia.com/dynamo-operator-origin-version`` or ``workload-provider`` annotations), no
  finalizer on the DGD; the conversion webhook is `ftlib.controlplane.conversion` (see there
  how it differs).
- Left out: probes (the frontend's ``/live`` and ``/health`` on ``http`` with a 10 s initial
  delay, the workers' on ``system``): a pod is Ready as soon as the node agent runs its main
  process (with the operator's probe a frontend would be Ready at the earliest 10 s after each
  start). Backend-specific
  container changes (vLLM, SGLang, TRT-LLM flags), multinode (LWS), Grove, planner and EPP
  extras, NATS/etcd addresses, image-pull-secret discovery, ingress, ``spec.restart``,
  checkpoints, scaling adapters, the Kubernetes-discovery ServiceAccount, Role and RoleBinding
  (pods run as the namespace's ``default`` ServiceAccount) and the per-component Services the
  operator adds for non-frontend components when Kubernetes discovery is on, creating the
  top-level PVCs marked ``create: true``, and the rolling-update annotations on the DGD that
  change ``maxSurge``/``maxUnavailable`` or ask for ``Recreate``.
- ``failed``: the operator writes it for any reconcile error, a passing conflict or timeout
  too; the stand-in only when the API server refuses a generated object (400, 403, 422) and
  retries other errors without touching the status (a wait that trusts ``failed`` would stop on
  a blip).
- Messages of the ``Ready`` condition follow the operator's shape (``Resources not ready:
  <name>: <why>``), not its exact words.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

from ftlib.controlplane import conversion
from ftlib.controlplane.conversion import resource_requirements

log = logging.getLogger("ftlib.controlplane.operator")

GROUP = "nvidia.com"
PLURAL = "dynamographdeployments"
KIND = "DynamoGraphDeployment"
VERSIONS = ("v1alpha1", "v1beta1")
STORAGE_VERSION = "v1alpha1"

GRAPH_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"
COMPONENT_TYPE_LABEL = "nvidia.com/dynamo-component-type"
SUB_COMPONENT_TYPE_LABEL = "nvidia.com/dynamo-sub-component-type"
NAMESPACE_LABEL = "nvidia.com/dynamo-namespace"
SELECTOR_LABEL = "nvidia.com/selector"
METRICS_LABEL = "nvidia.com/metrics-enabled"
DISCOVERY_BACKEND_LABEL = "nvidia.com/dynamo-discovery-backend"
DISCOVERY_ENABLED_LABEL = "nvidia.com/dynamo-discovery-enabled"
HASH_ANNOTATION = "nvidia.com/last-applied-hash"
ENABLE_METRICS_ANNOTATION = "nvidia.com/enable-metrics"

MAIN_CONTAINER = "main"
HTTP_PORT, HTTP_PORT_NAME = 8000, "http"
SYSTEM_PORT, SYSTEM_PORT_NAME = 9090, "system"
NIXL_PORT, NIXL_PORT_NAME = 19090, "nixl"
WORKER_TYPES = ("worker", "prefill", "decode")
GLOBAL_DYNAMO_NAMESPACE = "dynamo"
SHARED_MEMORY_VOLUME, SHARED_MEMORY_PATH, SHARED_MEMORY_SIZE = "shared-memory", "/dev/shm", "8Gi"
FS_GROUP = 1000
GRACE_SECONDS = 60
MAX_SURGE = MAX_UNAVAILABLE = "25%"

RESYNC_SECONDS = 30.0
WATCH_SECONDS = 30
RETRY_FIRST, RETRY_MAX = 0.5, 10.0
STOP_SECONDS = 5.0

READY_REASON = "all_resources_are_ready"
NOT_READY_REASON = "some_resources_are_not_ready"
FAILED_REASON = "failed_to_reconcile_the_resources"


# -- the DGD, read in either version -------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """One service of a DGD, in the terms both API versions share.

    ``main`` is the spec's main container (v1alpha1 ``extraPodSpec.mainContainer``, v1beta1 the
    ``podTemplate`` container named ``main``); ``pod`` the rest of the pod spec as written
    (v1alpha1 ``extraPodSpec`` without ``mainContainer``, v1beta1 ``podTemplate.spec``, main
    container included, in place). The other fields exist in v1alpha1 only and are empty for
    v1beta1, whose podTemplate carries them already.
    """

    name: str
    type: str
    sub_type: str = ""
    replicas: int = 1
    main: dict = field(default_factory=dict)
    pod: dict = field(default_factory=dict)
    pod_labels: dict = field(default_factory=dict)
    pod_annotations: dict = field(default_factory=dict)
    env: list = field(default_factory=list)
    env_from_secret: str | None = None
    resources: dict = field(default_factory=dict)
    volume_mounts: list = field(default_factory=list)
    shared_memory: dict = field(default_factory=dict)
    global_namespace: bool = False
    schema: str = STORAGE_VERSION

    @property
    def is_frontend(self) -> bool:
        return self.type == "frontend"

    @property
    def is_worker(self) -> bool:
        return self.type in WORKER_TYPES


@dataclass(frozen=True)
class Graph:
    """A DGD as the stand-in reconciles it: identity, the version its spec is written in, and its
    components in spec order."""

    name: str
    namespace: str
    uid: str
    generation: int
    version: str
    components: tuple[Component, ...]
    env: list = field(default_factory=list)
    annotations: dict = field(default_factory=dict)
    resource_version: str = ""
    deleting: bool = False
    status: dict = field(default_factory=dict)

    @property
    def dynamo_namespace(self) -> str:
        """``<namespace>-<dgd>`` with dots made dashes, as ``ComputeDynamoNamespace`` gives."""
        return f"{self.namespace}-{self.name}".replace(".", "-")


def spec_version(obj: dict) -> str | None:
    """The version whose fields ``obj``'s spec carries: ``v1alpha1`` for ``spec.services``,
    ``v1beta1`` for ``spec.components``, None for neither."""
    spec = obj.get("spec") or {}
    if isinstance(spec.get("services"), dict) and spec["services"]:
        return "v1alpha1"
    if isinstance(spec.get("components"), list) and spec["components"]:
        return "v1beta1"
    return None


def read_graph(obj: dict) -> Graph:
    """The `Graph` of a DGD object as the API returned it, in the version its spec is written in
    (its ``apiVersion`` when the spec is empty)."""
    metadata = obj.get("metadata") or {}
    version = spec_version(obj) or str(obj.get("apiVersion", "")).partition("/")[2] or STORAGE_VERSION
    spec = obj.get("spec") or {}
    if version == "v1alpha1":
        components = tuple(_alpha_component(name, raw or {}) for name, raw in (spec.get("services") or {}).items())
        env = list(spec.get("envs") or [])
    else:
        components = tuple(_beta_component(raw) for raw in spec.get("components") or [] if raw.get("name"))
        env = list(spec.get("env") or [])
    return Graph(name=metadata.get("name", ""), namespace=metadata.get("namespace", ""),
                 uid=metadata.get("uid", ""), generation=int(metadata.get("generation") or 0),
                 version=version, components=components, env=env,
                 annotations=dict(metadata.get("annotations") or {}),
                 resource_version=str(metadata.get("resourceVersion") or ""),
                 deleting=bool(metadata.get("deletionTimestamp")), status=dict(obj.get("status") or {}))


def _alpha_component(name: str, raw: dict) -> Component:
    extra = copy.deepcopy(raw.get("extraPodSpec") or {})
    main = extra.pop("mainContainer", None) or {}
    metadata = raw.get("extraPodMetadata") or {}
    return Component(name=name, type=str(raw.get("componentType") or "").lower(),
                     sub_type=str(raw.get("subComponentType") or "").lower(),
                     replicas=_replicas(raw), main=main, pod=extra,
                     pod_labels=dict(metadata.get("labels") or {}),
                     pod_annotations=dict(metadata.get("annotations") or {}),
                     env=list(raw.get("envs") or []), env_from_secret=raw.get("envFromSecret") or None,
                     resources=dict(raw.get("resources") or {}), volume_mounts=list(raw.get("volumeMounts") or []),
                     shared_memory=dict(raw.get("sharedMemory") or {}),
                     global_namespace=bool(raw.get("globalDynamoNamespace")), schema="v1alpha1")


def _beta_component(raw: dict) -> Component:
    template = copy.deepcopy(raw.get("podTemplate") or {})
    pod = template.get("spec") or {}
    metadata = template.get("metadata") or {}
    main = next((c for c in pod.get("containers") or [] if c.get("name") == MAIN_CONTAINER), {})
    size = raw.get("sharedMemorySize")
    shared = {} if size is None else ({"disabled": True} if _is_zero(size) else {"size": str(size)})
    return Component(name=raw["name"], type=str(raw.get("type") or "").lower(), replicas=_replicas(raw),
                     main=copy.deepcopy(main), pod=pod, pod_labels=dict(metadata.get("labels") or {}),
                     pod_annotations=dict(metadata.get("annotations") or {}), shared_memory=shared,
                     global_namespace=bool(raw.get("globalDynamoNamespace")), schema="v1beta1")


def _replicas(raw: dict) -> int:
    value = raw.get("replicas")
    return 1 if value is None else int(value)


def _is_zero(size: Any) -> bool:
    return re.fullmatch(r"0+(\.0*)?[A-Za-z]*", str(size).strip()) is not None


# -- names ------------------------------------------------------------------------------------
def resource_name(graph: str, service: str) -> str:
    """``<dgd>-<service-lowercase>``, DNS-safe: lower case, characters outside ``[a-z0-9-]`` made
    ``-``; a name past 63 characters is cut and ends in 8 hex digits of its hash."""
    name = re.sub(r"[^a-z0-9-]", "-", f"{graph}-{service}".lower()).strip("-")
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


# -- what the stand-in generates --------------------------------------------------------------
def merge_envs(common: list[dict], specific: list[dict]) -> list[dict]:
    """``common`` then ``specific`` by name (``specific`` wins), sorted by name, as the operator's
    ``MergeEnvs``."""
    merged = {e["name"]: e for e in common if e.get("name")}
    merged.update({e["name"]: e for e in specific if e.get("name")})
    return [copy.deepcopy(merged[name]) for name in sorted(merged)]


def merge_over(base: dict, override: dict) -> dict:
    """``override`` merged over ``base`` as ``mergo.Merge(WithOverride)`` merges Go structs:
    non-empty values win, maps merge key by key, lists are replaced whole."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_over(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _env(name: str, value: str | None = None, field_path: str | None = None) -> dict:
    if field_path:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}
    return {"name": name, "value": value}


def base_container(graph: Graph, component: Component) -> dict:
    """The container the operator starts from for ``component``'s type, before the spec."""
    dynamo_namespace = GLOBAL_DYNAMO_NAMESPACE if component.global_namespace else graph.dynamo_namespace
    env = [_env("DYN_NAMESPACE", dynamo_namespace), _env("DYN_COMPONENT", component.type),
           _env("DYN_PARENT_DGD_K8S_NAME", graph.name), _env("DYN_PARENT_DGD_K8S_NAMESPACE", graph.namespace),
           _env("POD_NAME", field_path="metadata.name"), _env("POD_NAMESPACE", field_path="metadata.namespace"),
           _env("POD_UID", field_path="metadata.uid"), _env("DYN_DISCOVERY_BACKEND", "kubernetes")]
    container: dict[str, Any] = {"name": MAIN_CONTAINER, "command": ["/bin/sh", "-c"]}
    if component.is_frontend:
        container.update(command=["python3"], args=["-m", "dynamo.frontend"],
                         ports=[{"name": HTTP_PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"}])
        env += [_env("DYNAMO_PORT", str(HTTP_PORT)), _env("DYN_HTTP_PORT", str(HTTP_PORT)),
                _env("DYN_NAMESPACE_PREFIX", dynamo_namespace)]
    elif component.is_worker:
        container["ports"] = [{"name": SYSTEM_PORT_NAME, "containerPort": SYSTEM_PORT, "protocol": "TCP"},
                              {"name": NIXL_PORT_NAME, "containerPort": NIXL_PORT, "protocol": "TCP"}]
        env += [_env("DYN_SYSTEM_ENABLED", "true"), _env("DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", '["generate"]'),
                _env("DYN_SYSTEM_PORT", str(SYSTEM_PORT)), _env("DYN_HEALTH_CHECK_ENABLED", "false"),
                _env("NIXL_TELEMETRY_ENABLE", "n"), _env("NIXL_TELEMETRY_EXPORTER", "prometheus"),
                _env("NIXL_TELEMETRY_PROMETHEUS_PORT", str(NIXL_PORT))]
    container["env"] = env
    return container


def main_container(graph: Graph, component: Component) -> dict:
    """The ``main`` container: the type's defaults, the spec's container over them, then the
    DGD's and the service's environment, ``envFromSecret``, resources and PVC mounts."""
    base = base_container(graph, component)
    container = merge_over(base, component.main)
    container["name"] = MAIN_CONTAINER
    container["env"] = merge_envs(base["env"], component.main.get("env") or [])
    container["env"] = merge_envs(container["env"], merge_envs(graph.env, component.env))
    wanted = resource_requirements(component.resources)
    if wanted:
        container["resources"] = merge_over(container.get("resources") or {}, wanted)
    if component.env_from_secret:
        container["envFrom"] = list(container.get("envFrom") or []) + [
            {"secretRef": {"name": component.env_from_secret}}]
    mounts = [{"name": m["name"], "mountPath": m["mountPoint"]} for m in component.volume_mounts
              if m.get("name") and m.get("mountPoint")]
    if mounts:
        container["volumeMounts"] = list(container.get("volumeMounts") or []) + mounts
    return container


def pod_spec(graph: Graph, component: Component) -> dict:
    """The pod spec of ``component``'s Deployment (see the module docstring)."""
    spec = merge_over({"terminationGracePeriodSeconds": GRACE_SECONDS, "restartPolicy": "Always"},
                      {k: v for k, v in component.pod.items() if k != "containers"})
    container = main_container(graph, component)
    volumes = list(spec.get("volumes") or [])
    volumes += [{"name": m["name"], "persistentVolumeClaim": {"claimName": m["name"]}}
                for m in component.volume_mounts if m.get("name") and m.get("mountPoint")]
    if not component.shared_memory.get("disabled"):
        volumes.append({"name": SHARED_MEMORY_VOLUME,
                        "emptyDir": {"medium": "Memory", "sizeLimit": component.shared_memory.get("size") or SHARED_MEMORY_SIZE}})
        container["volumeMounts"] = list(container.get("volumeMounts") or []) + [
            {"name": SHARED_MEMORY_VOLUME, "mountPath": SHARED_MEMORY_PATH}]
    if volumes:
        spec["volumes"] = volumes
    if "securityContext" not in component.pod:
        spec["securityContext"] = {"fsGroup": FS_GROUP}
    spec.setdefault("serviceAccountName", "default")
    spec["containers"] = _containers(component, container)
    return spec


def _containers(component: Component, main: dict) -> list[dict]:
    """The spec's other containers with ``main`` in its place (v1beta1), or after them (v1alpha1
    ``extraPodSpec.containers``, as ``GenerateBasePodSpec`` appends the main container)."""
    others = [copy.deepcopy(c) for c in component.pod.get("containers") or []]
    at = next((i for i, c in enumerate(others) if c.get("name") == MAIN_CONTAINER), None)
    if at is None:
        return others + [main]
    others[at] = main
    return others


def component_labels(graph: Graph, component: Component) -> dict[str, str]:
    """The labels the operator puts on a component's Deployment and Service."""
    return {GRAPH_LABEL: graph.name, COMPONENT_LABEL: component.name, COMPONENT_TYPE_LABEL: component.type,
            NAMESPACE_LABEL: GLOBAL_DYNAMO_NAMESPACE if component.global_namespace else graph.dynamo_namespace}


def pod_labels(graph: Graph, component: Component) -> dict[str, str]:
    """The labels of a component's pods (see the module docstring)."""
    labels = {**component.pod_labels, **component_labels(graph, component),
              SELECTOR_LABEL: resource_name(graph.name, component.name),
              DISCOVERY_BACKEND_LABEL: "kubernetes", DISCOVERY_ENABLED_LABEL: "true"}
    if component.sub_type:
        labels[SUB_COMPONENT_TYPE_LABEL] = component.sub_type
    if graph.annotations.get(ENABLE_METRICS_ANNOTATION) != "false":
        labels[METRICS_LABEL] = "true"
    return labels


def owner_reference(graph: Graph) -> dict:
    """The DGD as the controlling owner (the garbage collector deletes what it owns)."""
    return {"apiVersion": f"{GROUP}/{graph.version}", "kind": KIND, "name": graph.name, "uid": graph.uid,
            "controller": True, "blockOwnerDeletion": True}


def _stamped(body: dict) -> dict:
    """``body`` with ``nvidia.com/last-applied-hash`` set to a hash of itself."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    body["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return body


def deployment_body(graph: Graph, component: Component) -> dict:
    """The ``apps/v1`` Deployment of one component (see the module docstring)."""
    name = resource_name(graph.name, component.name)
    template: dict[str, Any] = {"metadata": {"labels": pod_labels(graph, component)},
                                "spec": pod_spec(graph, component)}
    if component.pod_annotations:
        template["metadata"]["annotations"] = dict(component.pod_annotations)
    return _stamped({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": graph.namespace, "labels": component_labels(graph, component),
                     "ownerReferences": [owner_reference(graph)]},
        "spec": {"replicas": component.replicas, "selector": {"matchLabels": {SELECTOR_LABEL: name}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": MAX_SURGE, "maxUnavailable": MAX_UNAVAILABLE}},
                 "template": template}})


def service_body(graph: Graph, component: Component) -> dict:
    """The Service of the frontend: port ``http`` 8000 to the container port ``http``."""
    labels = component_labels(graph, component)
    selector = {k: labels[k] for k in (COMPONENT_TYPE_LABEL, NAMESPACE_LABEL, COMPONENT_LABEL)}
    return _stamped({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": resource_name(graph.name, component.name), "namespace": graph.namespace,
                     "labels": labels, "ownerReferences": [owner_reference(graph)]},
        "spec": {"selector": selector, "ports": [{"name": HTTP_PORT_NAME, "port": HTTP_PORT, "protocol": "TCP",
                                                  "targetPort": HTTP_PORT_NAME}]}})


# -- status -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComponentState:
    """What one component's Deployment says: ready or why not, and its replica counts."""

    deployment: str
    ready: bool
    why: str
    replicas: int = 0
    updated: int = 0
    ready_replicas: int = 0
    available: int = 0


def deployment_state(name: str, deployment: dict | None) -> ComponentState:
    """A Deployment's readiness as the operator's ``IsDeploymentReady`` judges it."""
    if deployment is None:
        return ComponentState(name, False, "deployment not found")
    desired = (deployment.get("spec") or {}).get("replicas")
    desired = 1 if desired is None else int(desired)
    status = deployment.get("status") or {}
    counts = {key: int(status.get(key) or 0)
              for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")}
    state = ComponentState(name, True, "", counts["replicas"], counts["updatedReplicas"],
                           counts["readyReplicas"], counts["availableReplicas"])
    if desired == 0:
        return state
    generation = int((deployment.get("metadata") or {}).get("generation") or 0)
    why = []
    if int(status.get("observedGeneration") or 0) < generation:
        why.append(f"generation {generation} not yet observed")
    if counts["updatedReplicas"] < desired or counts["availableReplicas"] < desired or counts["replicas"] != desired:
        why.append(f"desired={desired}, replicas={counts['replicas']}, updated={counts['updatedReplicas']}, "
                   f"available={counts['availableReplicas']}")
    available = any(c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions") or [])
    if not why and not available:
        why.append("Available condition not True")
    if why:
        return ComponentState(name, False, "; ".join(why), *list(counts.values()))
    return state


def replica_status(state: ComponentState, version: str) -> dict:
    """One entry of ``status.services`` (v1alpha1) or ``status.components`` (v1beta1)."""
    entry = {"componentKind": "Deployment", "componentNames": [state.deployment], "replicas": state.replicas,
             "updatedReplicas": state.updated, "readyReplicas": state.ready_replicas,
             "availableReplicas": state.available}
    if version == "v1alpha1":
        entry["componentName"] = state.deployment
    return entry


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_status(graph: Graph, states: dict[str, ComponentState], error: str | None = None) -> dict:
    """The DGD status the operator writes after a reconcile: ``state``, the ``Ready`` condition,
    ``observedGeneration`` (kept as it was when the reconcile failed) and the per-service
    replicas. ``lastTransitionTime`` moves only when the condition's status changes."""
    not_ready = [s for s in states.values() if not s.ready]
    if error:
        state, reason, message = "failed", FAILED_REASON, error
    elif not_ready:
        state, reason = "pending", NOT_READY_REASON
        message = "Resources not ready: " + "; ".join(f"{s.deployment}: not available: {s.why}" for s in not_ready)
    else:
        state, reason, message = "successful", READY_REASON, "All resources are ready"
    ready = "True" if state == "successful" else "False"
    previous = next((c for c in graph.status.get("conditions") or [] if c.get("type") == "Ready"), {})
    since = previous.get("lastTransitionTime") if previous.get("status") == ready else None
    condition = {"type": "Ready", "status": ready, "reason": reason, "message": message,
                 "lastTransitionTime": since or now_iso(), "observedGeneration": graph.generation}
    status = {k: v for k, v in graph.status.items() if k not in ("services", "components")}
    others = [c for c in graph.status.get("conditions") or [] if c.get("type") != "Ready"]
    status.update(state=state, conditions=others + [condition])
    if not error:
        status["observedGeneration"] = graph.generation
    key = "services" if graph.version == "v1alpha1" else "components"
    status[key] = {name: replica_status(s, graph.version) for name, s in states.items()}
    return status


def same_status(old: dict, new: dict) -> bool:
    """Whether two statuses differ only in the Ready condition's ``lastTransitionTime``."""
    def comparable(status: dict) -> str:
        trimmed = copy.deepcopy(status)
        for entry in trimmed.get("conditions") or []:
            entry.pop("lastTransitionTime", None)
        return json.dumps(trimmed, sort_keys=True)
    return comparable(old) == comparable(new)


# -- the API, as plain JSON -------------------------------------------------------------------
class Rest:
    """Requests to the API server through the official client's ApiClient, answered as dicts."""

    def __init__(self, api: client.ApiClient):
        self.api = api

    def call(self, method: str, path: str, body: Any = None, query: dict | None = None,
             content_type: str = "application/json", timeout: float = 30.0) -> dict:
        response = self.api.call_api(path, method, query_params=list((query or {}).items()),
                                     header_params={"Accept": "application/json", "Content-Type": content_type},
                                     body=body, auth_settings=["BearerToken"], _preload_content=False,
                                     _return_http_data_only=True, _request_timeout=timeout)
        data = response.data
        return json.loads(data) if data else {}

    def stream(self, path: str, query: dict, timeout: float):
        """A watch request's open response (read its lines, then close it)."""
        return self.api.call_api(path, "GET", query_params=list(query.items()),
                                 header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
                                 _preload_content=False, _return_http_data_only=True,
                                 _request_timeout=(5.0, timeout))


def dgd_path(version: str, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
    path = f"/apis/{GROUP}/{version}"
    path += f"/namespaces/{namespace}/{PLURAL}" if namespace else f"/{PLURAL}"
    if name:
        path += f"/{name}"
    return path + (f"/{sub}" if sub else "")


def kind_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The path of Deployments (``deployments``) or Services (``services``)."""
    prefix = "/apis/apps/v1" if kind == "deployments" else "/api/v1"
    path = f"{prefix}/namespaces/{namespace}/{kind}" if namespace else f"{prefix}/{kind}"
    return path + (f"/{name}" if name else "")


# -- the work queue -----------------------------------------------------------------------------
class WorkQueue:
    """Keys to reconcile, each at most once in the queue, some after a delay (controller-runtime's
    rate-limited queue, simplified): one worker takes them in order of when they are due."""

    def __init__(self):
        self._due: list[tuple[float, int, tuple[str, str]]] = []
        self._queued: dict[tuple[str, str], float] = {}
        self._order = 0
        self._cond = threading.Condition()
        self._closed = False

    def add(self, key: tuple[str, str], delay: float = 0.0) -> None:
        when = time.monotonic() + delay
        with self._cond:
            if key in self._queued and self._queued[key] <= when:
                return
            self._queued[key] = when
            self._order += 1
            heapq.heappush(self._due, (when, self._order, key))
            self._cond.notify()

    def get(self, timeout: float) -> tuple[str, str] | None:
        """The next due key, or None after ``timeout`` seconds or once closed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._due and self._queued.get(self._due[0][2]) != self._due[0][0]:
                    heapq.heappop(self._due)  # superseded by an earlier entry for the same key
                if self._due and self._due[0][0] <= now:
                    _, _, key = heapq.heappop(self._due)
                    del self._queued[key]
                    return key
                wait = min(deadline, self._due[0][0] if self._due else deadline) - now
                if now >= deadline:
                    return None
                self._cond.wait(max(wait, 0.001))
        return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# -- the stand-in -----------------------------------------------------------------------------
class OperatorStandIn:
    """The Dynamo operator's component path for every DGD of the cluster (see the module
    docstring). ``start()`` begins watching; ``stop()`` ends every thread. ``namespace`` keeps
    it to one namespace, as the operator's namespace-restricted mode does."""

    def __init__(self, api: client.ApiClient, namespace: str | None = None):
        self.rest = Rest(api)
        self.namespace = namespace
        self.queue = WorkQueue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._responses: set = set()
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], int] = {}
        self.reconciles = 0

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> "OperatorStandIn":
        """Start the watches (DGDs in both versions, Deployments), the resync and the worker."""
        workers = {"operator-reconcile": self._work, "operator-resync": self._resync}
        for version in VERSIONS:
            workers[f"operator-watch-dgd-{version}"] = lambda v=version: self._watch(
                dgd_path(v, self.namespace), {}, self._on_dgd)
        workers["operator-watch-deployments"] = lambda: self._watch(
            kind_path("deployments", self.namespace), {"labelSelector": GRAPH_LABEL}, self._on_owned)
        for name, target in workers.items():
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("operator stand-in started: watching %s in %s, and Deployments, in %s", PLURAL, "/".join(VERSIONS),
                 f"namespace {self.namespace}" if self.namespace else "all namespaces")
        return self

    def stop(self) -> None:
        """End every thread: close the open watches and the queue, wait up to 5 s for each."""
        self._stop.set()
        self.queue.close()
        with self._lock:
            responses = list(self._responses)
        for response in responses:
            _close(response)
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("operator stand-in threads still running after %.0f s: %s", STOP_SECONDS, ", ".join(alive))
        self._threads.clear()
        log.info("operator stand-in stopped after %d reconciles", self.reconciles)

    def __enter__(self) -> "OperatorStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- watches ------------------------------------------------------------------------------
    def _on_dgd(self, obj: dict) -> None:
        metadata = obj.get("metadata") or {}
        if metadata.get("namespace") and metadata.get("name"):
            self.queue.add((metadata["namespace"], metadata["name"]))

    def _on_owned(self, obj: dict) -> None:
        metadata = obj.get("metadata") or {}
        for owner in metadata.get("ownerReferences") or []:
            if owner.get("kind") == KIND and owner.get("controller") and owner.get("apiVersion", "").startswith(GROUP):
                self.queue.add((metadata.get("namespace", ""), owner["name"]))

    def _watch(self, path: str, query: dict, handle: Callable[[dict], None], version: str | None = None) -> None:
        """List ``path``, then watch it from the list's resourceVersion (or from ``version``),
        calling ``handle`` with every object; after 410 Gone list again; other errors retry
        after a pause."""
        pause = RETRY_FIRST
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = self.rest.call("GET", path, query=query)
                    for item in listing.get("items") or []:
                        handle(item)
                    version = (listing.get("metadata") or {}).get("resourceVersion")
                version = self._follow(path, query, version, handle)
                pause = RETRY_FIRST
            except client.ApiException as error:
                if error.status == 410:
                    log.info("watch of %s: 410 Gone (resourceVersion %s compacted); listing again", path, version)
                    version = None
                    continue
                if self._stop.is_set():
                    return
                log.warning("watch of %s failed (%s %s); retrying in %.1f s", path, error.status, error.reason, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX)
            except Exception as error:  # a dropped connection, a timeout: resume from the last version
                if self._stop.is_set():
                    return
                log.debug("watch of %s interrupted (%s); resuming", path, error)
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX)

    def _follow(self, path: str, query: dict, version: str | None, handle: Callable[[dict], None]) -> str | None:
        """One watch request from ``version``; the last resourceVersion seen (None after 410)."""
        response = self.rest.stream(path, {**query, "watch": "true", "resourceVersion": version or "",
                                           "allowWatchBookmarks": "true", "timeoutSeconds": str(WATCH_SECONDS)},
                                    timeout=WATCH_SECONDS + 15)
        with self._lock:
            self._responses.add(response)
        try:
            for event in _events(response):
                if self._stop.is_set():
                    return version
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        log.info("watch of %s: 410 Gone (%s); listing again", path, obj.get("message"))
                        return None
                    raise client.ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") != "BOOKMARK":
                    handle(obj)
        finally:
            with self._lock:
                self._responses.discard(response)
            _close(response)
        return version

    def _resync(self) -> None:
        while not self._stop.wait(RESYNC_SECONDS):
            try:
                for version in VERSIONS:
                    for item in self.rest.call("GET", dgd_path(version, self.namespace)).get("items") or []:
                        self._on_dgd(item)
            except Exception as error:
                log.debug("resync failed: %s", error)

    # -- the reconcile worker -----------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self.reconcile(*key)
                self._failures.pop(key, None)
            except Exception as error:
                if self._stop.is_set():
                    return
                count = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(RETRY_FIRST * 2 ** (count - 1), RETRY_MAX)
                level = logging.DEBUG if isinstance(error, client.ApiException) and error.status == 409 else logging.WARNING
                log.log(level, "reconcile of %s/%s failed (%s); again in %.1f s", *key, _describe(error), delay)
                self.queue.add(key, delay)

    def read(self, namespace: str, name: str) -> Graph | None:
        """The DGD, read in the version it was written in; None once it is gone."""
        stored = self._get(STORAGE_VERSION, namespace, name)
        if stored is None:
            return None
        native = conversion.native_version(stored)
        if spec_version(stored) is None and native == STORAGE_VERSION:
            native = "v1beta1"  # no webhook: a v1beta1 DGD shows its spec only in its own version
        if native == STORAGE_VERSION:
            return read_graph(stored)
        obj = self._get(native, namespace, name)
        if obj is None:
            return None
        return read_graph(obj if spec_version(obj) else stored)

    def _get(self, version: str, namespace: str, name: str) -> dict | None:
        try:
            return self.rest.call("GET", dgd_path(version, namespace, name))
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring the Deployments and the Service of one DGD in line with its spec, then write its
        status. Raises ApiException when the API server refuses a request (retried later)."""
        self.reconciles += 1
        graph = self.read(namespace, name)
        if graph is None or graph.deleting:
            return  # the garbage collector removes what it owned
        error = None
        try:
            for component in graph.components:
                self._sync(graph, "deployments", deployment_body(graph, component))
                if component.is_frontend:
                    self._sync(graph, "services", service_body(graph, component))
            self._prune(graph)
        except client.ApiException as refused:
            if refused.status not in (400, 403, 422):
                raise
            error = f"the API server refused a generated object: {_describe(refused)}"
        states = self._states(graph)
        status = graph_status(graph, states, error)
        if not same_status(graph.status, status):
            self._write_status(graph, status)

    def _sync(self, graph: Graph, kind: str, body: dict) -> None:
        """Create ``body``, or replace the existing object when its hash annotation differs."""
        name = body["metadata"]["name"]
        try:
            current = self.rest.call("GET", kind_path(kind, graph.namespace, name))
        except client.ApiException as error:
            if error.status != 404:
                raise
            self.rest.call("POST", kind_path(kind, graph.namespace), body)
            log.info("created %s %s/%s for DGD %s", kind[:-1], graph.namespace, name, graph.name)
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if annotations.get(HASH_ANNOTATION) == body["metadata"]["annotations"][HASH_ANNOTATION]:
            return
        replacement = copy.deepcopy(body)
        replacement["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if kind == "services":  # allocated by the API server, immutable
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if key in (current.get("spec") or {}):
                    replacement["spec"][key] = current["spec"][key]
        self.rest.call("PUT", kind_path(kind, graph.namespace, name), replacement)
        log.info("updated %s %s/%s for DGD %s (generation %d)", kind[:-1], graph.namespace, name, graph.name,
                 graph.generation)

    def _owned(self, graph: Graph, kind: str) -> list[dict]:
        listing = self.rest.call("GET", kind_path(kind, graph.namespace),
                                 query={"labelSelector": f"{GRAPH_LABEL}={graph.name}"})
        return [item for item in listing.get("items") or []
                if any(o.get("uid") == graph.uid and o.get("controller")
                       for o in (item.get("metadata") or {}).get("ownerReferences") or [])]

    def _prune(self, graph: Graph) -> None:
        """Delete the Deployments and Services this DGD owns whose service left its spec."""
        wanted = {resource_name(graph.name, c.name) for c in graph.components}
        for kind in ("deployments", "services"):
            for item in self._owned(graph, kind):
                name = item["metadata"]["name"]
                if name not in wanted:
                    self.rest.call("DELETE", kind_path(kind, graph.namespace, name),
                                   {"propagationPolicy": "Background"})
                    log.info("deleted %s %s/%s: its service left DGD %s", kind[:-1], graph.namespace, name, graph.name)

    def _states(self, graph: Graph) -> dict[str, ComponentState]:
        deployments = {item["metadata"]["name"]: item for item in self._owned(graph, "deployments")}
        states = {}
        for component in graph.components:
            name = resource_name(graph.name, component.name)
            states[component.name] = deployment_state(name, deployments.get(name))
        return states

    def _write_status(self, graph: Graph, status: dict) -> None:
        body = {"apiVersion": f"{GROUP}/{graph.version}", "kind": KIND,
                "metadata": {"name": graph.name, "namespace": graph.namespace, "uid": graph.uid,
                             "resourceVersion": graph.resource_version},
                "status": status}
        self.rest.call("PUT", dgd_path(graph.version, graph.namespace, graph.name, "status"), body)
        old = graph.status.get("state")
        if old != status["state"]:
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            log.info("DGD %s/%s: state %s -> %s (%s%s)", graph.namespace, graph.name, old or "(none)",
                     status["state"], ready["reason"], f": {ready['message']}" if ready["status"] != "True" else "")


def _events(response) -> Iterator[dict]:
    for line in iter_resp_lines(response):
        if line:
            yield json.loads(line)


def _close(response) -> None:
    """End a response, also one another thread is reading: shut its socket down first (closing
    it waits for the reader's SSL read, up to the watch's timeout)."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's call: the reader sees EOF
        except OSError:  # already shut down or closed
            pass
    try:
        response.close()
        response.release_conn()
    except Exception:  # already closed, or closed by another thread
        pass


def _describe(error: Exception) -> str:
    if isinstance(error, client.ApiException):
        try:
            message = json.loads(error.body or "{}").get("message")
        except (TypeError, ValueError):
            message = None
        return f"{error.status} {message or error.reason}"
    return f"{type(error).__name__}: {error}"
