"""The shared ReadWriteMany PVC the services write their logs to, proved bound before the DGD is
applied.

A PVC of a storage class without ReadWriteMany support stays ``Pending`` for ever, and the DGD's
pods with it: so a short Job mounts the claim first. When that Job has not run within
`BIND_TIMEOUT` seconds the run stops with one error naming the storage class, the access mode and
the ``kubectl`` commands that show why.
"""

from __future__ import annotations

import logging
import time

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ftlib.errors import PlatformError
from ftlib.platform.kubernetes.jobs import (create_job, delete_job, dns_name, job_pod, stuck_reason,
                                            suite_labels)
from ftlib.platform.kubernetes.retry import call_api, explain

log = logging.getLogger("ftlib.platform.kubernetes")

ACCESS_MODE = "ReadWriteMany"
PROBE_IMAGE = "busybox:1.36.1"
BIND_TIMEOUT = 120.0
MOUNT_PATH = "/logs"


def log_pvc_name(run_id: str) -> str:
    return dns_name("ft-logs", run_id)


def pvc_manifest(name: str, namespace: str, run_id: str, storage_class: str | None = None,
                 size: str = "1Gi") -> dict:
    """The log PVC: ReadWriteMany, ``size``, in ``storage_class`` (the cluster default if None)."""
    spec: dict = {"accessModes": [ACCESS_MODE], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace, "labels": suite_labels(run_id, "log-pvc")},
            "spec": spec}


def bind_probe_job_manifest(pvc: str, namespace: str, run_id: str, image: str = PROBE_IMAGE) -> dict:
    """A Job that mounts ``pvc`` and writes one file to it: it runs only once the claim is bound."""
    name = dns_name("ft-pvc-probe", run_id)
    labels = suite_labels(run_id, "pvc-probe")
    container = {"name": "probe", "image": image, "command": ["touch", f"{MOUNT_PATH}/.dynamo-ft-bound"],
                 "volumeMounts": [{"name": "logs", "mountPath": MOUNT_PATH}],
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600, "activeDeadlineSeconds": int(BIND_TIMEOUT) + 60,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never", "containers": [container],
                                           "volumes": [{"name": "logs", "persistentVolumeClaim": {"claimName": pvc}}]}}}}


def not_bound_message(pvc: str, namespace: str, storage_class: str | None, seen: str, timeout: float) -> str:
    """The one error of a PVC that did not bind: the class, the access mode, where to look."""
    sc = f"storage class {storage_class!r}" if storage_class else "the cluster's default storage class"
    return (f"the log PVC {pvc} did not bind within {timeout:g} s ({seen}): {sc} must provision "
            f"{ACCESS_MODE} volumes (e.g. NFS, CephFS, EFS, Azure Files, Filestore). Choose one with "
            f"-D storage_class=<name>. Look further: kubectl -n {namespace} describe pvc {pvc}; "
            f"kubectl get storageclass; kubectl -n {namespace} get events --field-selector involvedObject.name={pvc}")


def create_log_pvc(core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str, run_id: str,
                   storage_class: str | None = None, size: str = "1Gi", timeout: float = BIND_TIMEOUT) -> str:
    """Create the log PVC and prove it binds (a probe Job mounts it and succeeds). Returns its name."""
    name = log_pvc_name(run_id)
    try:
        call_api(core.create_namespaced_persistent_volume_claim, namespace,
                 pvc_manifest(name, namespace, run_id, storage_class, size))
    except ApiException as error:
        raise PlatformError(explain(error, "create", f"PersistentVolumeClaim {name}", namespace)) from error
    probe = bind_probe_job_manifest(name, namespace, run_id)
    job = probe["metadata"]["name"]
    create_job(batch, namespace, probe)
    try:
        _wait_probe(core, batch, namespace, job, name, storage_class, timeout)
    finally:
        delete_job(batch, namespace, job)
    log.info("log PVC %s bound (%s)", name, storage_class or "default storage class")
    return name


def _wait_probe(core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str, job: str, pvc: str,
                storage_class: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = call_api(batch.read_namespaced_job, job, namespace).status
        if status is not None and status.succeeded:
            return
        pod = job_pod(core, namespace, job)
        reason = stuck_reason(pod) if pod is not None else None
        if status is not None and status.failed or reason and "scheduled" not in reason:
            why = reason or f"its pod failed; kubectl -n {namespace} logs job/{job}"
            raise PlatformError(f"the probe Job {job} that mounts the log PVC {pvc} failed: {why}")
        if time.monotonic() > deadline:
            claim = call_api(core.read_namespaced_persistent_volume_claim, pvc, namespace)
            phase = claim.status.phase if claim.status else None
            raise PlatformError(not_bound_message(pvc, namespace, storage_class, f"PVC phase {phase}", timeout))
        time.sleep(1.0)
