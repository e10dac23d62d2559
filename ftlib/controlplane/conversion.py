"""The DynamoGraphDeployment conversion webhook of the Dynamo operator stand-in.

Why it exists: the vendored CRD stores ``v1alpha1`` and serves ``v1beta1`` too, and the two
schemas differ (``spec.services``, a map, against ``spec.components``, a list with pod
templates). With ``conversion: None`` a real API server only rewrites ``apiVersion`` and then
prunes what the other schema does not know: a v1beta1 DGD is stored with an *empty spec*, and a
v1alpha1 DGD read as v1beta1 shows an empty spec (kube-apiserver 1.37.2, measured). The real
operator therefore serves a conversion webhook, and so does the stand-in: `ConversionWebhook`
serves ``ConversionReview`` (``apiextensions.k8s.io/v1``) over HTTPS on 127.0.0.1 (a port chosen
free, a CA and a serving certificate of its own) and points the CRD at itself
(``spec.conversion.strategy: Webhook`` with its URL and ``caBundle``, as the operator's
certificate controller injects its ``caBundle``). The control plane (`ftlib.controlplane.cluster`)
starts it right after applying the CRD, with or without the other stand-ins::

    webhook = ConversionWebhook(api_client).start()   # the CRD now converts through it
    ...
    webhook.stop()

How objects are converted (`convert`, a pure function):

- v1alpha1 → v1beta1: ``spec.envs`` → ``spec.env``; each service (sorted by name, as the
  operator emits them) → a component with ``name``, ``type`` (``componentType``, or the
  ``subComponentType`` ``prefill``/``decode`` of a ``worker``), ``replicas``, and a
  ``podTemplate`` whose ``spec`` is ``extraPodSpec`` with ``mainContainer`` as the container
  ``main``, carrying the service's ``envs``, ``envFromSecret``, ``resources`` and its
  ``volumeMounts`` of top-level ``pvcs`` (as claim volumes); ``extraPodMetadata`` →
  ``podTemplate.metadata``; ``sharedMemory`` → ``sharedMemorySize`` (``"0"`` when disabled).
- v1beta1 → v1alpha1: the reverse (``prefill``/``decode`` → ``componentType: worker`` with that
  ``subComponentType``; the container ``main`` → ``extraPodSpec.mainContainer``).
- Fields both versions share (``annotations``, ``labels``, ``backendFramework``, ``restart``,
  ``topologyConstraint``, ``globalDynamoNamespace``, ``multinode``) are copied.
- Round trips are exact: the spec as it was written is kept in the annotation
  ``nvidia.com/dgd-spec`` of the converted object (with a digest of what was derived from it,
  after the target version's schema defaults, which the API server would add anyway);
  converting back restores it, and removes the annotation, as long as the derived spec was not
  changed since. So a v1beta1 DGD is stored as v1alpha1 with its v1beta1 spec in that annotation
  and read back as v1beta1 field for field; a merge patch through the other version makes the
  derived spec the truth from then on.
- Status: ``status.services`` ↔ ``status.components`` (``componentName`` only in v1alpha1: the
  last of ``componentNames``), ``rollingUpdate.updatedServices`` ↔ ``updatedComponents``; the
  rest is copied.

Where the real operator differs: it converts every field of both versions (this covers the
fields the suite and the shipped examples use; others survive a round trip only through the
annotation), preserves only the lossy leaves in several ``nvidia.com/dgd-*`` annotations (the
stand-in keeps the whole spec in one), uses v1beta1 as its hub, and is reached through a
Service in the cluster.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.server
import json
import logging
import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client

log = logging.getLogger("ftlib.controlplane.operator")

GROUP = "nvidia.com"
CRD_NAME = "dynamographdeployments.nvidia.com"
ORIGIN_ANNOTATION = "nvidia.com/dgd-spec"
SHARED_SPEC_KEYS = ("annotations", "backendFramework", "labels", "restart", "topologyConstraint")
SHARED_COMPONENT_KEYS = ("globalDynamoNamespace", "multinode")
BETA_TYPES = ("frontend", "worker", "prefill", "decode", "planner", "epp")
MAIN = "main"
READY_SECONDS = 20.0


# -- pure conversion ------------------------------------------------------------------------------
def version_of(obj: dict) -> str:
    return str(obj.get("apiVersion", "")).partition("/")[2]


def digest(spec: Any) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def origin(obj: dict) -> dict | None:
    """The spec kept in ``nvidia.com/dgd-spec`` (``version``, ``spec``, ``digest``), if any."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(ORIGIN_ANNOTATION)
    try:
        kept = json.loads(raw) if raw else None
    except ValueError:
        return None
    return kept if isinstance(kept, dict) and {"version", "spec", "digest"} <= set(kept) else None


def native_version(obj: dict) -> str:
    """The version ``obj``'s spec was written in: the one kept in its annotation while the spec
    is still what was derived from it, else the object's own."""
    kept = origin(obj)
    if kept and kept["digest"] == digest(obj.get("spec") or {}):
        return kept["version"]
    return version_of(obj)


def apply_defaults(value: Any, schema: dict) -> Any:
    """``value`` with the ``default`` of every missing property its structural ``schema`` names,
    in place, as kube-apiserver defaults custom resources (a default applies inside an object
    that exists; ``items`` and ``additionalProperties`` are followed)."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key) or (extra if isinstance(extra, dict) else None)
            if sub:
                apply_defaults(item, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def spec_schemas(crd: dict) -> dict[str, dict]:
    """The schema of ``spec`` per version of the DGD CRD."""
    return {v["name"]: v["schema"]["openAPIV3Schema"]["properties"]["spec"] for v in crd["spec"]["versions"]}


def convert(obj: dict, version: str, schemas: dict[str, dict] | None = None) -> dict:
    """``obj`` (a DGD in either version) in ``version`` (see the module docstring). With the
    CRD's ``schemas`` (`spec_schemas`), a derived spec gets that version's defaults, as the API
    server would add them, so that its digest still matches once stored and read back."""
    source = version_of(obj)
    if source == version:
        return copy.deepcopy(obj)
    out = copy.deepcopy(obj)
    out["apiVersion"] = f"{GROUP}/{version}"
    metadata = out.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    kept = origin(obj)
    annotations.pop(ORIGIN_ANNOTATION, None)
    spec = obj.get("spec") or {}
    if kept and kept["version"] == version and kept["digest"] == digest(spec):
        out["spec"] = copy.deepcopy(kept["spec"])
    elif "spec" in obj:
        derived = alpha_to_beta(spec) if source == "v1alpha1" else beta_to_alpha(spec)
        if schemas and version in schemas:
            apply_defaults(derived, schemas[version])
        out["spec"] = derived
        annotations[ORIGIN_ANNOTATION] = json.dumps({"version": source, "spec": spec, "digest": digest(derived)},
                                                    sort_keys=True, separators=(",", ":"))
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    if "status" in obj:
        out["status"] = convert_status(obj["status"] or {}, version)
    return out


def _shared(spec: dict, keys: tuple[str, ...]) -> dict:
    return {k: copy.deepcopy(spec[k]) for k in keys if k in spec}


def resource_requirements(resources: dict) -> dict:
    """A container's ``resources`` from the v1alpha1 shape (``requests``/``limits`` with ``cpu``,
    ``memory``, ``gpu`` named ``gpuType`` or ``nvidia.com/gpu``, ``custom``), as the operator's
    ``GetResourcesConfig`` maps it; ``claims`` pass through."""
    out: dict[str, Any] = {}
    for side in ("requests", "limits"):
        wanted = resources.get(side) or {}
        listed = {key: str(wanted[key]) for key in ("cpu", "memory") if wanted.get(key)}
        if wanted.get("gpu"):
            listed[wanted.get("gpuType") or "nvidia.com/gpu"] = str(wanted["gpu"])
        listed.update({k: str(v) for k, v in (wanted.get("custom") or {}).items()})
        if listed:
            out[side] = listed
    if resources.get("claims"):
        out["claims"] = copy.deepcopy(resources["claims"])
    return out


def _with_env(entries: list[dict], extra: list[dict]) -> list[dict]:
    """``entries`` with ``extra`` set by name (replaced in place, else appended)."""
    merged = [copy.deepcopy(e) for e in entries]
    for entry in extra:
        at = next((i for i, e in enumerate(merged) if e.get("name") == entry.get("name")), None)
        if at is None:
            merged.append(copy.deepcopy(entry))
        else:
            merged[at] = copy.deepcopy(entry)
    return merged


def alpha_to_beta(spec: dict) -> dict:
    """A v1alpha1 DGD spec as v1beta1."""
    out = _shared(spec, SHARED_SPEC_KEYS)
    if spec.get("envs"):
        out["env"] = copy.deepcopy(spec["envs"])
    services = spec.get("services") or {}
    out["components"] = [_alpha_service_to_component(name, services[name] or {}) for name in sorted(services)]
    return out


def _alpha_service_to_component(name: str, service: dict) -> dict:
    component: dict[str, Any] = {"name": name}
    kind, sub = str(service.get("componentType") or ""), str(service.get("subComponentType") or "")
    if kind == "worker" and sub in ("prefill", "decode"):
        component["type"] = sub
    elif kind in BETA_TYPES:
        component["type"] = kind
    if "replicas" in service:
        component["replicas"] = service["replicas"]
    pod = copy.deepcopy(service.get("extraPodSpec") or {})
    main = {**(pod.pop("mainContainer", None) or {}), "name": MAIN}
    if service.get("envs"):
        main["env"] = _with_env(main.get("env") or [], service["envs"])
    if service.get("envFromSecret"):
        main["envFrom"] = list(main.get("envFrom") or []) + [{"secretRef": {"name": service["envFromSecret"]}}]
    wanted = resource_requirements(service.get("resources") or {})
    for side, listed in wanted.items():
        resources = main.setdefault("resources", {})
        resources[side] = {**(resources.get(side) or {}), **listed} if isinstance(listed, dict) else listed
    mounts = [m for m in service.get("volumeMounts") or [] if m.get("name") and m.get("mountPoint")]
    if mounts:
        main["volumeMounts"] = list(main.get("volumeMounts") or []) + [
            {"name": m["name"], "mountPath": m["mountPoint"]} for m in mounts]
        pod["volumes"] = list(pod.get("volumes") or []) + [
            {"name": m["name"], "persistentVolumeClaim": {"claimName": m["name"]}} for m in mounts]
    pod["containers"] = list(pod.get("containers") or []) + [main]
    template: dict[str, Any] = {"spec": pod}
    metadata = {k: v for k, v in (service.get("extraPodMetadata") or {}).items() if k in ("labels", "annotations") and v}
    if metadata:
        template["metadata"] = copy.deepcopy(metadata)
    component["podTemplate"] = template
    shared = service.get("sharedMemory") or {}
    if shared.get("disabled"):
        component["sharedMemorySize"] = "0"
    elif shared.get("size") is not None:
        component["sharedMemorySize"] = shared["size"]
    component.update(_shared(service, SHARED_COMPONENT_KEYS))
    return component


def beta_to_alpha(spec: dict) -> dict:
    """A v1beta1 DGD spec as v1alpha1."""
    out = _shared(spec, SHARED_SPEC_KEYS)
    if spec.get("env"):
        out["envs"] = copy.deepcopy(spec["env"])
    out["services"] = {c["name"]: _beta_component_to_service(c) for c in spec.get("components") or [] if c.get("name")}
    return out


def _beta_component_to_service(component: dict) -> dict:
    service: dict[str, Any] = {}
    kind = str(component.get("type") or "")
    if kind in ("prefill", "decode"):
        service.update(componentType="worker", subComponentType=kind)
    elif kind:
        service["componentType"] = kind
    if "replicas" in component:
        service["replicas"] = component["replicas"]
    template = component.get("podTemplate") or {}
    pod = copy.deepcopy(template.get("spec") or {})
    containers = pod.pop("containers", None) or []
    main = next((c for c in containers if c.get("name") == MAIN), None)
    others = [c for c in containers if c is not main]
    if others:
        pod["containers"] = others
    if main is not None:
        pod["mainContainer"] = main
    if pod:
        service["extraPodSpec"] = pod
    metadata = {k: v for k, v in (template.get("metadata") or {}).items() if k in ("labels", "annotations") and v}
    if metadata:
        service["extraPodMetadata"] = copy.deepcopy(metadata)
    size = component.get("sharedMemorySize")
    if size is not None:
        zero = str(size).strip().rstrip("KMGTPEikmnu").strip("0.") == ""
        service["sharedMemory"] = {"disabled": True} if zero else {"size": size}
    service.update(_shared(component, SHARED_COMPONENT_KEYS))
    return service


def convert_status(status: dict, version: str) -> dict:
    """A DGD status in ``version``: per-service replicas under ``services`` (v1alpha1, with
    ``componentName``) or ``components`` (v1beta1)."""
    out = copy.deepcopy(status)
    source, target = ("components", "services") if version == "v1alpha1" else ("services", "components")
    if source in out:
        entries = out.pop(source) or {}
        out[target] = {name: _replicas_entry(entry, version) for name, entry in entries.items()}
    rolling = out.get("rollingUpdate")
    if isinstance(rolling, dict):
        old, new = ("updatedComponents", "updatedServices") if version == "v1alpha1" else ("updatedServices", "updatedComponents")
        if old in rolling:
            rolling[new] = rolling.pop(old)
    return out


def _replicas_entry(entry: dict, version: str) -> dict:
    out = copy.deepcopy(entry)
    if version == "v1alpha1":
        names = out.get("componentNames") or []
        out.setdefault("componentName", names[-1] if names else "")
    else:
        name = out.pop("componentName", None)
        if name and not out.get("componentNames"):
            out["componentNames"] = [name]
    return out


def _plain(value: Any) -> Any:
    """``value`` as JSON has it (tuples are lists), so that two forms compare as the API server sees them."""
    return json.loads(json.dumps(value))


def review_response(review: dict, schemas: dict[str, dict] | None = None) -> dict:
    """The answer to a ``ConversionReview``: every object converted, or a failure."""
    request = review.get("request") or {}
    target = str(request.get("desiredAPIVersion", "")).partition("/")[2]
    response: dict[str, Any] = {"uid": request.get("uid", "")}
    try:
        response["convertedObjects"] = [convert(obj, target, schemas) for obj in request.get("objects") or []]
        response["result"] = {"status": "Success"}
    except Exception as error:  # answered to the API server, which reports it to its caller
        log.warning("conversion to %s failed: %s", target, error)
        response["result"] = {"status": "Failure", "message": f"dynamo-ft conversion: {error}"}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "response": response}


# -- the webhook --------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "dynamo-ft-conversion"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            review = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_error(400, "not a JSON ConversionReview")
            return
        answer = json.dumps(review_response(review, self.server.schemas)).encode()
        self.server.conversions += len((review.get("request") or {}).get("objects") or [])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug("conversion webhook: " + format, *args)


class ConversionWebhook:
    """`convert` served as the CRD's conversion webhook on 127.0.0.1 (see the module docstring)."""

    def __init__(self, api: client.ApiClient, crd: str = CRD_NAME):
        self.api, self.crd = api, crd
        self.url = ""
        self._folder: Path | None = None
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def conversions(self) -> int:
        """How many objects the webhook has converted so far."""
        return self._server.conversions if self._server else 0

    def start(self) -> "ConversionWebhook":
        """Serve, point the CRD at this webhook, and wait (≤ 20 s) until the API server uses it."""
        from ftlib.controlplane import pki

        self._folder = Path(tempfile.mkdtemp(prefix="dft-conversion-"))
        authority = pki.Authority(self._folder)
        serving = authority.issue("webhook", "dynamo-ft-conversion-webhook", server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(serving.cert), str(serving.key))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.conversions = 0
        self._server.schemas = self._schemas()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/convert"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="operator-conversion-webhook", daemon=True)
        self._thread.start()
        self._install(authority.ca.cert.read_bytes())
        self._wait_until_used()
        log.info("conversion webhook serving %s for %s (v1alpha1 <-> v1beta1)", self.url, self.crd)
        return self

    def stop(self) -> None:
        """Stop serving and remove the certificates (the CRD keeps pointing here: conversions
        fail until a webhook serves again, as when the operator is down)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._server = self._thread = self._folder = None

    def _schemas(self) -> dict[str, dict]:
        extensions = client.ApiextensionsV1Api(self.api)
        answer = extensions.read_custom_resource_definition(self.crd, _preload_content=False)
        return spec_schemas(json.loads(answer.data))

    def _install(self, ca: bytes) -> None:
        patch = {"spec": {"conversion": {"strategy": "Webhook", "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"url": self.url, "caBundle": base64.b64encode(ca).decode()}}}}}
        client.ApiextensionsV1Api(self.api).patch_custom_resource_definition(self.crd, patch)

    def _wait_until_used(self) -> None:
        """Dry-run create a v1beta1 DGD in ``default`` until its spec comes back whole."""
        probe = {"apiVersion": f"{GROUP}/v1beta1", "kind": "DynamoGraphDeployment",
                 "metadata": {"name": "dynamo-ft-conversion-probe", "namespace": "default"},
                 "spec": {"components": [{"name": "probe", "type": "frontend",
                                          "podTemplate": {"spec": {"containers": [{"name": MAIN, "image": "probe"}]}}}]}}
        custom = client.CustomObjectsApi(self.api)
        deadline = time.monotonic() + READY_SECONDS
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = custom.create_namespaced_custom_object(GROUP, "v1beta1", "default", "dynamographdeployments",
                                                                probe, dry_run="All")
                if (answer.get("spec") or {}).get("components") and self.conversions:
                    return
                last = "the spec came back without its components"
            except client.ApiException as error:
                last = f"{error.status} {error.reason}"
            time.sleep(0.2)
        raise RuntimeError(f"the API server does not convert {self.crd} through {self.url} after "
                           f"{READY_SECONDS:.0f} s ({last})")
