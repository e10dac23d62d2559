"""Evidence of a DGD's run on a cluster, in the same layout as the local platform:
``<Service>/<pod>_<stamp>.log`` (and ``.previous.log``, ``.yaml`` with the pod's events,
``.metrics.log``), plus ``dgd.yaml`` (the DGD as applied) and
``dgd_status.yaml`` (the DGD as last read, with its status). Also the metrics API's figures
turned into resource samples.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ftlib import evidence
from ftlib.platform.base import ResourceSample

if TYPE_CHECKING:
    from ftlib.platform.kubernetes.deployment import KubernetesDeployment

log = logging.getLogger("ftlib.platform.kubernetes")
_UNITS = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0}
_BYTES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "": 1}


def cpu_cores(quantity: str) -> float:
    """A CPU quantity of the metrics API (``12345678n``, ``250m``, ``2``) in cores."""
    match = re.fullmatch(r"([0-9.]+)([num]?)", str(quantity).strip())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0


def memory_bytes(quantity: str) -> int:
    """A memory quantity (``123456Ki``, ``1Gi``, ``1000``) in bytes."""
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|)", str(quantity).strip())
    return int(float(match.group(1)) * _BYTES[match.group(2)]) if match else 0


def resource_samples(listing: dict, services: dict[str, str]) -> list[ResourceSample]:
    """Samples from a ``metrics.k8s.io`` PodMetricsList, for the pods named in ``services``."""
    samples = []
    for item in listing.get("items") or []:
        name = (item.get("metadata") or {}).get("name")
        if name not in services:
            continue
        containers = item.get("containers") or []
        cpu = sum(cpu_cores((c.get("usage") or {}).get("cpu", "0")) for c in containers)
        memory = sum(memory_bytes((c.get("usage") or {}).get("memory", "0")) for c in containers)
        ts = item.get("timestamp")
        ts_ns = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1e9) if ts else time.time_ns()
        samples.append(ResourceSample(ts_ns, name, services[name], round(cpu * 100, 1), memory, len(containers)))
    return samples


def write_evidence(deployment: "KubernetesDeployment", directory: Path) -> None:
    """Write every known pod's logs, description and metrics, the DGD and the timeline."""
    directory.mkdir(parents=True, exist_ok=True)
    evidence.write_text(directory / "dgd.yaml", yaml.safe_dump(deployment.body, sort_keys=False))
    try:
        final = deployment.read_dgd() if not deployment._torn_down else None
    except Exception as error:  # noqa: BLE001 - evidence is collected whatever state the API is in
        log.warning("reading the DGD for evidence: %s", error)
        final = None
    final = final or deployment.last_status
    if final is not None:
        evidence.write_text(directory / "dgd_status.yaml", yaml.safe_dump(final, sort_keys=False))
    for pod in deployment.pods(include_deleted=True):
        service_dir = directory / (pod.service or "unknown")
        created_ns = pod.created_ns or time.time_ns()
        for suffix, read in (("log", lambda: deployment.logs(pod.name)),
                             ("previous", lambda: deployment.logs(pod.name, previous=True)),
                             ("metrics", lambda: deployment.metrics(pod.name))):
            try:
                text = read()
            except Exception as error:  # noqa: BLE001
                log.warning("evidence of pod %s (%s): %s", pod.name, suffix, error)
                continue
            if text:
                evidence.write_text(evidence.pod_file(service_dir, pod.name, created_ns, suffix), text)
        try:
            description = deployment.describe_pod(pod.name)
        except Exception as error:  # noqa: BLE001
            description = {"metadata": {"name": pod.name}, "error": str(error)}
        evidence.write_text(evidence.pod_file(service_dir, pod.name, created_ns, "description"),
                            yaml.safe_dump(description, sort_keys=False))
