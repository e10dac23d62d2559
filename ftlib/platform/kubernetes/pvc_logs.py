"""The service logs kept on the run's log PVC (see `ftlib.platform.kubernetes.log_tee`), copied
back into the evidence before teardown deletes the PVC.

A short reader Job mounts the PVC read-only in the deployment's own image (it has ``python3``),
the folder is packed and read back in checked chunks through exec (`jobs.copy_folder_back`), and
each ``/ft-logs/<pod>/<stamp>.log`` becomes ``<Service>/<pod>_<stamp>.pvc.log``: every container
a pod ever ran, also of pods already deleted. File names from the PVC are checked before use and
every write goes through `ftlib.evidence`, so nothing lands outside the evidence folder. A copy
that fails is logged as an evidence problem; it never changes a verdict.
"""

from __future__ import annotations

import io
import logging
import re
import tarfile
from pathlib import Path, PurePosixPath

from kubernetes import client

from ftlib import evidence
from ftlib.errors import PlatformError
from ftlib.platform.kubernetes.jobs import (copy_folder_back, create_job, delete_job, dns_name, suite_labels,
                                            wait_for_job_pod_running)
from ftlib.platform.kubernetes.log_tee import MOUNT_PATH

log = logging.getLogger("ftlib.platform.kubernetes")

CONTAINER = "reader"
PACKED = "/tmp/ft-pvc-logs.tar.gz"
START_TIMEOUT = 120.0
MAX_BYTES = 512 * 1024 ** 2
SUFFIX = ".pvc.log"
_POD = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_STAMP = re.compile(r"\d{8}T\d{6}")


def reader_job_manifest(pvc: str, namespace: str, run_id: str, image: str) -> dict:
    """A Job whose pod mounts ``pvc`` read-only and idles while the logs are copied out."""
    name = dns_name("ft-log-reader", run_id)
    labels = suite_labels(run_id, "log-reader")
    container = {"name": CONTAINER, "image": image, "command": ["sleep", "900"],
                 "volumeMounts": [{"name": "logs", "mountPath": MOUNT_PATH, "readOnly": True}],
                 "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600, "activeDeadlineSeconds": 1200,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                                           "containers": [container],
                                           "volumes": [{"name": "logs", "persistentVolumeClaim": {
                                               "claimName": pvc, "readOnly": True}}]}}}}


def pvc_log_target(member: str, directory: Path, services: dict[str, str]) -> Path | None:
    """Where the PVC file ``member`` (``./<pod>/<stamp>.log``) goes in the evidence, or None for
    anything else (folders, other names, anything trying to leave its folder)."""
    parts = [p for p in PurePosixPath(member).parts if p != "."]
    if len(parts) != 2 or not _POD.fullmatch(parts[0]) or not parts[1].endswith(".log"):
        return None
    pod, stamp = parts[0], parts[1][: -len(".log")]
    if not _STAMP.fullmatch(stamp):
        return None
    service = evidence.path_name(services.get(pod, "unknown"), "service name")
    return directory / service / f"{pod}_{stamp}{SUFFIX}"


def write_pvc_logs(data: bytes, directory: Path, services: dict[str, str]) -> list[Path]:
    """Write the log files of the packed PVC folder ``data`` into ``directory``; returns them."""
    written = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            target = pvc_log_target(member.name, directory, services) if member.isfile() else None
            if target is None:
                continue
            source = tar.extractfile(member)
            with evidence.open_file(target, "wb") as out:
                out.write(source.read())
            written.append(target)
    return written


def copy_pvc_logs(api: client.ApiClient, namespace: str, run_id: str, pvc: str, image: str, directory: Path,
                  services: dict[str, str]) -> list[Path]:
    """Run the reader Job, copy the PVC's logs into ``directory``, delete the Job (whatever happens)."""
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    manifest = reader_job_manifest(pvc, namespace, run_id, image)
    job = manifest["metadata"]["name"]
    create_job(batch, namespace, manifest)
    try:
        pod = wait_for_job_pod_running(core, namespace, job, START_TIMEOUT, "reading the log PVC").metadata.name
        data = copy_folder_back(core, namespace, pod, CONTAINER, MOUNT_PATH, PACKED, f"the logs on PVC {pvc}",
                                PlatformError, python="python3", max_bytes=MAX_BYTES)
    finally:
        delete_job(batch, namespace, job)
    written = write_pvc_logs(data, directory, services)
    log.info("copied %d log files (%d bytes packed) back from PVC %s", len(written), len(data), pvc)
    return written
