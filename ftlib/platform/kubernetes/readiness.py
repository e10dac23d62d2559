"""The readiness verdict of a DGD and its pods: pure functions of what the API returned.

The DGD alone is not trusted: older operators report ``successful`` during a rollout while old
pods still satisfy the ready count (ai-dynamo/dynamo #3567). Ready means all of:

- the ``Ready`` condition is ``True`` and ``status.state`` is ``successful``;
- ``status.observedGeneration >= metadata.generation`` when both are present (the operator has
  seen the latest spec);
- per service in the status, ``updatedReplicas == replicas`` (when reported) and
  ``readyReplicas >= replicas`` (when reported);
- per service of the spec, exactly ``replicas`` live pods, every one Ready, none terminating.

A wait fails at once, not after its timeout, when ``state`` is ``failed``, a container waits in
``ErrImagePull``/``ImagePullBackOff``/``CrashLoopBackOff`` (or another reason that does not heal
by itself), or a pod is unschedulable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ftlib.platform.kubernetes.jobs import STUCK_REASONS
from ftlib.platform.kubernetes.selectors import service_of


@dataclass(frozen=True)
class Readiness:
    """Ready or not, why not (one line per reason), and a failure that ends a wait at once."""

    ready: bool
    reasons: list[str] = field(default_factory=list)
    failure: str | None = None


def condition(obj: dict, kind: str) -> dict:
    """The condition of type ``kind`` in ``obj["status"]["conditions"]`` ({} if absent)."""
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return entry
    return {}


def service_status(dgd: dict) -> dict[str, dict]:
    """Per-service status: v1alpha1 ``status.services``, v1beta1 ``status.components``."""
    status = dgd.get("status") or {}
    found = status.get("services") if "services" in status else status.get("components")
    return found if isinstance(found, dict) else {}


def dgd_reasons(dgd: dict) -> tuple[list[str], str | None]:
    """Why the DGD's own status is not ready, and a failure if it says it failed."""
    status = dgd.get("status") or {}
    ready = condition(dgd, "Ready")
    detail = f"{ready.get('reason') or ''}: {ready.get('message') or ''}".strip(": ")
    state = status.get("state") or "(none)"
    reasons = []
    if state == "failed":
        return [f"DGD state failed ({detail})"], f"the DGD reports state 'failed': {detail or 'no reason given'}"
    if ready.get("status") != "True":
        reasons.append(f"DGD Ready condition is {ready.get('status') or 'missing'}" + (f" ({detail})" if detail else ""))
    if state != "successful":
        reasons.append(f"DGD state is {state}")
    generation = (dgd.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        reasons.append(f"operator has seen generation {observed}, the spec is at {generation}")
    for name, entry in sorted(service_status(dgd).items()):
        want = entry.get("replicas")
        updated, ready_count = entry.get("updatedReplicas"), entry.get("readyReplicas")
        if want is not None and updated is not None and updated != want:
            reasons.append(f"{name}: {updated} of {want} replicas updated")
        if want is not None and ready_count is not None and ready_count < want:
            reasons.append(f"{name}: {ready_count} of {want} replicas ready")
    return reasons, None


def is_terminating(pod: dict) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_ready(pod: dict) -> bool:
    return condition(pod, "Ready").get("status") == "True" and not is_terminating(pod)


def pod_failure(pod: dict) -> str | None:
    """Why a pod will not become ready by itself, or None."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            return f"pod {name} container {container.get('name')}: {waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
    scheduled = condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return f"pod {name} is unschedulable: {scheduled.get('message') or ''}".rstrip(": ")
    return None


def pods_reasons(pods: list[dict], replicas: dict[str, int]) -> tuple[list[str], str | None]:
    """Why the pods are not ready (per service of the spec, ``replicas`` wanted), and a failure."""
    reasons = []
    for pod in pods:
        failure = pod_failure(pod)
        if failure:
            return [failure], failure
    for service, want in sorted(replicas.items()):
        mine = [p for p in pods if service_of(p) == service]
        terminating = [p["metadata"]["name"] for p in mine if is_terminating(p)]
        live = [p for p in mine if not is_terminating(p)]
        unready = [p["metadata"]["name"] for p in live if not pod_ready(p)]
        if len(live) != want:
            reasons.append(f"{service}: {len(live)} of {want} pods")
        if unready:
            reasons.append(f"{service}: not ready: {', '.join(sorted(unready))}")
        if terminating:
            reasons.append(f"{service}: terminating: {', '.join(sorted(terminating))}")
    return reasons, None


def verdict(dgd: dict | None, pods: list[dict], replicas: dict[str, int]) -> Readiness:
    """The readiness verdict of a DGD (None: not found) and the pods its labels select."""
    if dgd is None:
        return Readiness(False, ["the DGD does not exist"])
    reasons, failure = dgd_reasons(dgd)
    if failure:
        return Readiness(False, reasons, failure)
    pod_reasons, failure = pods_reasons(pods, replicas)
    reasons += pod_reasons
    return Readiness(not reasons and failure is None, reasons, failure)
