"""``-D dry_run=server``: the cluster itself judges every manifest a run would create.

Each manifest (the DGD, the log PVC, the load Jobs) is sent with ``dryRun=All``: the API server
runs it through everything a real create goes through (its CRD's OpenAPI schema and CEL rules,
defaulting, admission plugins and webhooks, RBAC for the user) and answers the object it would
have stored, without storing it. What comes back is compared with what was sent: a field the
sender set that the answer lacks was *pruned* (unknown to the schema, silently dropped by a real
create), which the suite treats like a rejection, since the deployment would run without it.
Fields the server added (defaults, ``metadata.uid``…) are expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ftlib.platform.kubernetes.retry import call_api, short_reason
from ftlib.spec import GROUP

SERVER_SIDE = ("metadata.uid", "metadata.resourceVersion", "metadata.creationTimestamp", "metadata.generation",
               "metadata.managedFields")


@dataclass(frozen=True)
class ManifestVerdict:
    """What the API server said of one manifest: accepted, the reason it refused, the fields it pruned."""

    kind: str
    name: str
    error: str = ""
    pruned: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.error and not self.pruned

    def describe(self) -> str:
        if self.error:
            return f"{self.kind} {self.name}: refused: {self.error}"
        if self.pruned:
            return f"{self.kind} {self.name}: accepted, but these fields were pruned: {', '.join(self.pruned)}"
        return f"{self.kind} {self.name}: accepted, nothing pruned"


def pruned_fields(sent: Any, returned: Any, path: str = "") -> list[str]:
    """Paths (``spec.services.Frontend.envs[0].name``) set in ``sent`` that ``returned`` lacks."""
    if isinstance(sent, dict):
        if not isinstance(returned, dict):
            return [path or "(the object)"]
        found = []
        for key, value in sent.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in returned:
                if value not in (None, {}, []):  # an empty value dropped on the way is not a lost setting
                    found.append(sub)
                continue
            found += pruned_fields(value, returned[key], sub)
        return found
    if isinstance(sent, list):
        if not isinstance(returned, list) or len(returned) < len(sent):
            return [path]
        found = []
        for index, value in enumerate(sent):
            found += pruned_fields(value, returned[index], f"{path}[{index}]")
        return found
    return []


def _create(api: client.ApiClient, manifest: dict) -> dict:
    namespace = manifest["metadata"].get("namespace") or "default"
    group_version, kind = manifest["apiVersion"], manifest["kind"]
    raw = {"_preload_content": False, "dry_run": "All"}
    if group_version.startswith(GROUP + "/"):
        answer = call_api(client.CustomObjectsApi(api).create_namespaced_custom_object, GROUP,
                          group_version.split("/", 1)[1], namespace, "dynamographdeployments", manifest, **raw)
    elif kind == "PersistentVolumeClaim":
        answer = call_api(client.CoreV1Api(api).create_namespaced_persistent_volume_claim, namespace, manifest, **raw)
    elif kind == "Job":
        answer = call_api(client.BatchV1Api(api).create_namespaced_job, namespace, manifest, **raw)
    else:
        raise ValueError(f"the server dry run knows DGDs, PVCs and Jobs, not {kind}")
    return json.loads(answer.data)


def judge_manifest(api: client.ApiClient, manifest: dict) -> ManifestVerdict:
    """Send ``manifest`` with ``dryRun=All`` and compare the answer with it."""
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    try:
        returned = _create(api, manifest)
    except ApiException as error:
        return ManifestVerdict(kind, name, error=_refusal(error))
    pruned = [p for p in pruned_fields(manifest, returned) if not p.startswith(SERVER_SIDE)]
    return ManifestVerdict(kind, name, pruned=tuple(pruned))


def _refusal(error: ApiException) -> str:
    try:
        return json.loads(error.body).get("message") or short_reason(error)
    except (TypeError, ValueError):
        return short_reason(error)


def judge_manifests(api: client.ApiClient, manifests: list[dict]) -> list[ManifestVerdict]:
    return [judge_manifest(api, manifest) for manifest in manifests]
