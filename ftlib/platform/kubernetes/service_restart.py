"""``-D skip_service_restart=false``: restart the Dynamo platform's NATS and etcd before deploying,
as the reference framework does, so a run starts from empty queues and an empty key store.

Each StatefulSet is scaled to 0, its PVCs (label ``app.kubernetes.io/component=<nats|etcd>``) are
deleted, it is scaled back to its former replica count, and the restart is done when that many
pods are Ready. A StatefulSet that does not exist is skipped with a note: with Kubernetes
discovery (the operator's default) a platform has neither.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ftlib.errors import PlatformError
from ftlib.platform.kubernetes.retry import call_api, explain

log = logging.getLogger("ftlib.platform.kubernetes")

RESTART_TIMEOUT = 300.0


@dataclass(frozen=True)
class PlatformService:
    """A StatefulSet of the Dynamo platform and the component label of its pods and PVCs."""

    statefulset: str
    component: str

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/component={self.component}"


PLATFORM_SERVICES = (PlatformService("dynamo-platform-nats", "nats"),
                     PlatformService("dynamo-platform-etcd", "etcd"))


def scale_body(replicas: int) -> dict:
    return {"spec": {"replicas": replicas}}


def restart_platform_services(api: client.ApiClient, namespace: str, services=PLATFORM_SERVICES,
                              timeout: float = RESTART_TIMEOUT) -> list[str]:
    """Restart each of ``services`` that exists; returns one note per service (for the log)."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    notes = []
    for service in services:
        try:
            current = call_api(apps.read_namespaced_stateful_set_scale, service.statefulset, namespace)
        except ApiException as error:
            if error.status == 404:
                notes.append(f"{service.statefulset} does not exist in {namespace}: not restarted "
                             "(Kubernetes discovery needs neither NATS nor etcd)")
                continue
            raise PlatformError(explain(error, "get", f"StatefulSet {service.statefulset} scale", namespace)) from error
        replicas = max(1, current.spec.replicas or 0)
        _scale(apps, namespace, service, 0)
        _wait_pods(core, namespace, service, 0, timeout)
        deleted = _delete_pvcs(core, namespace, service)
        _scale(apps, namespace, service, replicas)
        _wait_pods(core, namespace, service, replicas, timeout)
        notes.append(f"restarted {service.statefulset} ({replicas} replicas; deleted PVCs: {', '.join(deleted) or 'none'})")
    for note in notes:
        log.info("%s", note)
    return notes


def _scale(apps: client.AppsV1Api, namespace: str, service: PlatformService, replicas: int) -> None:
    try:
        call_api(apps.patch_namespaced_stateful_set_scale, service.statefulset, namespace, scale_body(replicas))
    except ApiException as error:
        raise PlatformError(explain(error, "patch", f"StatefulSet {service.statefulset} scale", namespace)) from error


def _delete_pvcs(core: client.CoreV1Api, namespace: str, service: PlatformService) -> list[str]:
    pvcs = call_api(core.list_namespaced_persistent_volume_claim, namespace, label_selector=service.selector).items
    names = [p.metadata.name for p in pvcs]
    for name in names:
        try:
            call_api(core.delete_namespaced_persistent_volume_claim, name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise PlatformError(explain(error, "delete", f"PersistentVolumeClaim {name}", namespace)) from error
    return names


def _ready(pod: client.V1Pod) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []) if pod.status)


def _wait_pods(core: client.CoreV1Api, namespace: str, service: PlatformService, ready: int, timeout: float) -> None:
    """Wait until no pod of ``service`` is left (``ready`` 0) or ``ready`` of them are Ready."""
    deadline = time.monotonic() + timeout
    while True:
        pods = call_api(core.list_namespaced_pod, namespace, label_selector=service.selector).items
        if (ready == 0 and not pods) or (ready and sum(_ready(p) for p in pods) >= ready):
            return
        if time.monotonic() > deadline:
            want = "all pods gone" if ready == 0 else f"{ready} Ready pods"
            raise PlatformError(f"restarting {service.statefulset}: no {want} after {timeout:g} s "
                                f"({len(pods)} pods). Look: kubectl -n {namespace} get pods -l {service.selector}")
        time.sleep(1.0)
