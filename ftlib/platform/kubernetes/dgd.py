"""DynamoGraphDeployment (DGD) bodies and patches, built from a `DeploymentSpec`.

A DGD is applied in the spec's own API version: ``nvidia.com/v1alpha1`` (``spec.services``, a map)
or ``nvidia.com/v1beta1`` (``spec.components``, a list keyed by ``name``). Every body gets:

- ``-D image`` in the main container of every service;
- the suite's labels (``app.kubernetes.io/managed-by=dynamo-ft`` and the run id), so a run only
  ever lists, patches and deletes its own DGDs;
- ``shareProcessNamespace: true`` in each service's pod spec (v1alpha1 ``extraPodSpec``, v1beta1
  ``podTemplate.spec``). Then the engine is not PID 1 of its PID namespace (the pause container
  is), and a ``kill -s KILL`` or ``-s STOP`` sent through exec reaches it: PID 1 only receives
  the signals it installed handlers for, and SIGKILL/SIGSTOP cannot have handlers;
- unless ``log_tee`` is off (``-D kube_log_tee=false``), the run's log PVC mounted at ``/ft-logs``
  in every service and each declared command wrapped so its output is also kept there
  (`ftlib.platform.kubernetes.log_tee`).

A rolling upgrade sets an environment variable on one service's pod template: a JSON merge patch
for v1alpha1 (its ``envs`` list is re-sent whole, since a merge patch replaces lists), a JSON
patch for v1beta1 (a merge patch would replace the whole ``components`` list).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ftlib.errors import SpecError
from ftlib.platform.kubernetes.jobs import suite_labels
from ftlib.platform.kubernetes.log_tee import add_log_tee
from ftlib.platform.kubernetes.pvc import log_pvc_name
from ftlib.spec import GROUP, DeploymentSpec

PLURAL = "dynamographdeployments"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def dgd_body(spec: DeploymentSpec, run_id: str, namespace: str, image: str | None = None,
             log_tee: bool = True) -> dict[str, Any]:
    """The DGD to create for ``spec`` in ``namespace``, in the spec's API version."""
    edited = spec.copy()
    if image:
        edited.set_image(image)
    missing = [s.name for s in edited.services.values() if not s.image]
    if missing:
        raise SpecError(f"services {', '.join(missing)} of {spec.name!r} name no container image; "
                        "give one for every service with -D image=<registry/image:tag>")
    body = copy.deepcopy(edited.document)
    metadata = body.setdefault("metadata", {})
    metadata["namespace"] = namespace
    metadata["labels"] = {**(metadata.get("labels") or {}), **suite_labels(run_id, "dgd")}
    for service in edited.services.values():
        _pod_spec(body, edited.schema, service.name)["shareProcessNamespace"] = True
    if log_tee:
        add_log_tee(body, log_pvc_name(run_id))
    return body


def _pod_spec(body: dict, schema: str, service: str) -> dict:
    spec = body["spec"]
    if schema == "v1alpha1":
        return spec["services"][service].setdefault("extraPodSpec", {})
    component = next(c for c in spec["components"] if c.get("name") == service)
    return component.setdefault("podTemplate", {}).setdefault("spec", {})


def api_version(body: dict) -> str:
    """``v1alpha1`` or ``v1beta1``, from a body's ``apiVersion``."""
    group, _, version = str(body.get("apiVersion", "")).partition("/")
    if group != GROUP or version not in ("v1alpha1", "v1beta1"):
        raise SpecError(f"not a {GROUP} DynamoGraphDeployment: apiVersion {body.get('apiVersion')!r}")
    return version


@dataclass(frozen=True)
class Patch:
    """A patch of a DGD: its content type and body (a dict for merge, a list for JSON patch)."""

    content_type: str
    body: Any


def env_patch(body: dict, service: str, env: dict[str, str]) -> Patch:
    """The patch that sets ``env`` on ``service``'s main container in the DGD ``body`` (as applied)."""
    version = api_version(body)
    if version == "v1alpha1":
        services = body["spec"].get("services") or {}
        if service not in services:
            raise SpecError(f"DGD {body['metadata']['name']!r} has no service {service!r}; services: {', '.join(services)}")
        envs = _merged_env(services[service].get("envs") or [], env)
        return Patch(MERGE_PATCH, {"spec": {"services": {service: {"envs": envs}}}})
    components = body["spec"].get("components") or []
    index = next((i for i, c in enumerate(components) if c.get("name") == service), None)
    if index is None:
        names = ", ".join(c.get("name", "?") for c in components)
        raise SpecError(f"DGD {body['metadata']['name']!r} has no component {service!r}; components: {names}")
    base = f"/spec/components/{index}"
    ops: list[dict] = [{"op": "test", "path": f"{base}/name", "value": service}]  # the list did not move
    pod = (components[index].get("podTemplate") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    main = next((i for i, c in enumerate(containers) if c.get("name") == "main"), None)
    if main is None:
        raise SpecError(f"component {service!r} has no container named 'main' to set {', '.join(env)} on")
    path = f"{base}/podTemplate/spec/containers/{main}/env"
    current = containers[main].get("env")
    if current is None:
        ops.append({"op": "add", "path": path, "value": [{"name": k, "value": str(v)} for k, v in env.items()]})
        return Patch(JSON_PATCH, ops)
    for name, value in env.items():
        at = next((i for i, e in enumerate(current) if e.get("name") == name), None)
        if at is None:
            ops.append({"op": "add", "path": f"{path}/-", "value": {"name": name, "value": str(value)}})
        else:
            ops.append({"op": "replace", "path": f"{path}/{at}", "value": {"name": name, "value": str(value)}})
    return Patch(JSON_PATCH, ops)


def _merged_env(entries: list[dict], env: dict[str, str]) -> list[dict]:
    merged = [dict(e) for e in entries if e.get("name") not in env]
    return merged + [{"name": k, "value": str(v)} for k, v in env.items()]


def apply_env(body: dict, service: str, env: dict[str, str]) -> dict:
    """``body`` with ``env`` set as `env_patch` sets it (the DGD as the API server now holds it)."""
    updated = copy.deepcopy(body)
    version = api_version(updated)
    spec = DeploymentSpec(updated)
    target = spec.get_service(service)
    if version == "v1alpha1":
        target.raw["envs"] = _merged_env(target.raw.get("envs") or [], env)
    else:
        for name, value in env.items():
            target.set_env_var(name, value)
    return spec.document
