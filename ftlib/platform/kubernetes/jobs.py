"""Jobs and commands in pods: the suite's labels, exec with an argv list, waiting for a Job's pod,
and deleting what one run created.

Every object the suite creates carries `suite_labels`: ``app.kubernetes.io/managed-by=dynamo-ft``
and the run id. Lists and deletes select on both, so a run never touches objects it did not
create (another run's, or anyone else's in the namespace).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from ftlib.errors import PlatformError
from ftlib.platform.kubernetes.retry import call_api, explain

log = logging.getLogger("ftlib.platform.kubernetes")

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "dynamo-ft"
RUN_ID_LABEL = "dynamo-ft/run-id"
PART_LABEL = "dynamo-ft/part"  # what the object is for: load, log-pvc, pvc-probe
JOB_NAME_LABEL = "job-name"  # set by the Job controller on the Job's pods
# Pods waiting for these reasons will not start by themselves: fail at once with the message.
STUCK_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError",
                 "CreateContainerError", "CrashLoopBackOff")


def suite_labels(run_id: str, part: str = "") -> dict[str, str]:
    """The labels every object of run ``run_id`` carries (``part`` says what it is for)."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY, RUN_ID_LABEL: run_id}
    if part:
        labels[PART_LABEL] = part
    return labels


def run_selector(run_id: str) -> str:
    """The label selector of every object run ``run_id`` created."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_ID_LABEL}={run_id}"


def dns_name(*parts: str, limit: int = 63) -> str:
    """An RFC 1123 label built from ``parts`` (lower case, ``-`` for anything else, cut to ``limit``)."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return text[:limit].rstrip("-") or "x"


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container printed and how it exited."""

    stdout: str
    stderr: str
    returncode: int | None


def exec_in_pod(core: client.CoreV1Api, namespace: str, pod: str, argv: list[str], container: str | None = None,
                timeout: float = 60.0) -> ExecResult:
    """Run ``argv`` (a list, never a shell string) in ``pod`` and wait up to ``timeout`` for it."""
    kwargs = {"command": list(argv), "stderr": True, "stdin": False, "stdout": True, "tty": False,
              "_preload_content": False}
    if container:
        kwargs["container"] = container
    try:
        ws = call_api(stream, core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    except ApiException as error:
        raise PlatformError(explain(error, "exec into", f"pod {pod}", namespace)) from error
    try:
        ws.run_forever(timeout=timeout)
        out, err = ws.read_stdout() or "", ws.read_stderr() or ""
        code, message = exit_status(ws.read_channel(3)) if not ws.is_open() else (None, "")
        return ExecResult(out, err or message, code)
    finally:
        ws.close()


def exit_status(text: str | None) -> tuple[int | None, str]:
    """The exit code and error message from an exec's status channel (a ``Status`` JSON)."""
    if not text:
        return None, "the exec stream closed without a status"
    try:
        status = json.loads(text)
    except ValueError:
        return None, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    causes = (status.get("details") or {}).get("causes") or []
    if status.get("reason") == "NonZeroExitCode":
        for cause in causes:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), ""
                except (TypeError, ValueError):
                    break
    message = status.get("message") or "exec failed"
    return (127 if "not found" in message.lower() else None), message



# python -c PACK <dir> <tar.gz>: pack the folder, print {"size": n, "sha256": hex}
PACK = r"""
import hashlib, json, os, sys, tarfile
folder, packed = sys.argv[1], sys.argv[2]
os.makedirs(folder, exist_ok=True)  # a client that wrote nothing: an empty archive, and "no records" locally
with tarfile.open(packed, "w:gz") as tar:
    tar.add(folder, arcname=".")
digest = hashlib.sha256()
with open(packed, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
print(json.dumps({"size": os.path.getsize(packed), "sha256": digest.hexdigest()}))
"""

# python -c CHUNK <file> <offset> <length>: that slice of the file in base64
CHUNK = r"""
import base64, sys
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[2]))
    sys.stdout.write(base64.b64encode(f.read(int(sys.argv[3]))).decode())
"""

COPY_CHUNK_BYTES = 4 * 1024 * 1024


def copy_folder_back(core: client.CoreV1Api, namespace: str, pod: str, container: str, folder: str, packed: str,
                     what: str, error: type[Exception] = PlatformError, python: str = "python",
                     chunk_bytes: int = COPY_CHUNK_BYTES, max_bytes: int = 2 * 1024 ** 3) -> bytes:
    """``folder`` of ``pod`` as a tar.gz: packed in the pod (`PACK`, into ``packed``), read back in
    base64 chunks through exec (one large read dies on some proxied API connections) and checked
    against the size and SHA-256 the pod reported. ``what`` names it in errors (``error`` class)."""
    result = exec_in_pod(core, namespace, pod, [python, "-c", PACK, folder, packed], container, timeout=120)
    try:
        expected = json.loads(result.stdout.strip().splitlines()[-1])
        size, sha256 = int(expected["size"]), str(expected["sha256"])
    except (ValueError, KeyError, IndexError) as cause:
        raise error(f"could not pack {what} in pod {pod} (exit {result.returncode}): "
                    f"{result.stderr.strip() or result.stdout[:500]}") from cause
    if size > max_bytes:
        raise error(f"{what} are {size} bytes, over the {max_bytes} limit; copy them yourself: "
                    f"kubectl -n {namespace} cp {pod}:{packed} ...")
    data = bytearray()
    while len(data) < size:
        length = min(chunk_bytes, size - len(data))
        chunk = exec_in_pod(core, namespace, pod, [python, "-c", CHUNK, packed, str(len(data)), str(length)],
                            container, timeout=120)
        try:
            piece = base64.b64decode(chunk.stdout, validate=True)
        except ValueError as cause:
            raise error(f"chunk at byte {len(data)} of {what} was garbled") from cause
        if len(piece) != length:
            raise error(f"chunk at byte {len(data)} of {what} had {len(piece)} bytes, expected {length} "
                        f"(exit {chunk.returncode}: {chunk.stderr.strip()})")
        data += piece
    if hashlib.sha256(data).hexdigest() != sha256:
        raise error(f"{what} copied back from pod {pod} do not match their SHA-256 in the pod ({size} bytes)")
    return bytes(data)


def job_pod(core: client.CoreV1Api, namespace: str, job: str) -> client.V1Pod | None:
    """The newest pod of Job ``job`` (None while the Job controller has not created one)."""
    pods = call_api(core.list_namespaced_pod, namespace, label_selector=f"{JOB_NAME_LABEL}={job}").items
    return max(pods, key=lambda p: (p.metadata.creation_timestamp or 0, p.metadata.name)) if pods else None


def stuck_reason(pod: client.V1Pod) -> str | None:
    """Why ``pod`` will never run by itself (image pull failure, crash loop, unschedulable), or None."""
    status = pod.status
    for container in (status.container_statuses or []) if status else []:
        waiting = container.state.waiting if container.state else None
        if waiting is not None and waiting.reason in STUCK_REASONS:
            return f"container {container.name} is {waiting.reason}: {waiting.message or ''}".rstrip(": ")
    for condition in (status.conditions or []) if status else []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.reason == "Unschedulable":
            return f"pod cannot be scheduled: {condition.message or condition.reason}"
    return None


def wait_for_job_pod_running(core: client.CoreV1Api, namespace: str, job: str, timeout: float,
                             what: str) -> client.V1Pod:
    """Wait until Job ``job`` has a running (or already finished) pod; fail at once when it is stuck."""
    deadline = time.monotonic() + timeout
    last = "no pod yet"
    while True:
        pod = job_pod(core, namespace, job)
        if pod is not None:
            phase = pod.status.phase if pod.status else None
            if phase in ("Running", "Succeeded", "Failed"):
                return pod
            reason = stuck_reason(pod)
            if reason is not None:
                raise PlatformError(f"{what}: pod {pod.metadata.name} of Job {job} will not start: {reason}. "
                                    f"Look further: kubectl -n {namespace} describe pod {pod.metadata.name}")
            last = f"pod {pod.metadata.name} is {phase}"
        if time.monotonic() > deadline:
            raise PlatformError(f"{what}: Job {job} has no running pod after {timeout:g} s ({last}). "
                                f"Look further: kubectl -n {namespace} describe job {job}")
        time.sleep(1.0)


def create_job(batch: client.BatchV1Api, namespace: str, manifest: dict) -> None:
    try:
        call_api(batch.create_namespaced_job, namespace, manifest)
    except ApiException as error:
        raise PlatformError(explain(error, "create", f"Job {manifest['metadata']['name']}", namespace)) from error


def delete_job(batch: client.BatchV1Api, namespace: str, job: str) -> None:
    """Delete a Job and its pods (background propagation, no grace period); a missing Job is fine."""
    try:
        call_api(batch.delete_namespaced_job, job, namespace, propagation_policy="Background",
                 grace_period_seconds=0)
    except ApiException as error:
        if error.status != 404:
            raise PlatformError(explain(error, "delete", f"Job {job}", namespace)) from error


JOB_PARTS = ("load", "pvc-probe", "log-reader")  # the parts whose pods are Job pods (the DGD's pods are not ours to wait for)


@dataclass(frozen=True)
class RunObjects:
    """What one run left in the namespace: its Jobs, their pods and its PersistentVolumeClaims."""

    jobs: list[str]
    pvcs: list[str]
    pods: list[str]

    def describe(self) -> str:
        parts = ([f"Job {name}" for name in self.jobs] + [f"PersistentVolumeClaim {name}" for name in self.pvcs]
                 + [f"pod {name}" for name in self.pods])
        return ", ".join(parts) or "nothing"


def list_run_objects(core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str, run_id: str) -> RunObjects:
    selector = run_selector(run_id)
    jobs = call_api(batch.list_namespaced_job, namespace, label_selector=selector).items
    pvcs = call_api(core.list_namespaced_persistent_volume_claim, namespace, label_selector=selector).items
    pods = call_api(core.list_namespaced_pod, namespace,
                    label_selector=f"{selector},{PART_LABEL} in ({','.join(JOB_PARTS)})").items
    return RunObjects(sorted(j.metadata.name for j in jobs), sorted(p.metadata.name for p in pvcs),
                      sorted(p.metadata.name for p in pods))


def keep_message(namespace: str, run_id: str, kept: RunObjects) -> str:
    """What ``-D keep_resources=true`` kept, and the command that deletes it later."""
    return (f"keep_resources=true: kept {kept.describe()} of run {run_id} in namespace {namespace}. "
            f"Delete them later with: kubectl -n {namespace} delete job,pvc -l {run_selector(run_id)}")


def teardown_run_objects(core: client.CoreV1Api, batch: client.BatchV1Api, namespace: str, run_id: str,
                         keep: bool = False, timeout: float = 120.0) -> str:
    """Delete the Jobs and PVCs run ``run_id`` created (only objects carrying its labels) and wait
    until they and the Jobs' pods are gone. With ``keep`` nothing is deleted. Returns what was done, for the log."""
    found = list_run_objects(core, batch, namespace, run_id)
    if keep:
        message = keep_message(namespace, run_id, found)
        log.warning("%s", message)
        return message
    for job in found.jobs:
        delete_job(batch, namespace, job)
    for pvc in found.pvcs:
        try:
            call_api(core.delete_namespaced_persistent_volume_claim, pvc, namespace)
        except ApiException as error:
            if error.status != 404:
                raise PlatformError(explain(error, "delete", f"PersistentVolumeClaim {pvc}", namespace)) from error
    deadline = time.monotonic() + timeout
    left = list_run_objects(core, batch, namespace, run_id)
    while left.jobs or left.pvcs or left.pods:
        if time.monotonic() > deadline:
            raise PlatformError(f"after {timeout:g} s these objects of run {run_id} are still in namespace "
                                f"{namespace}: {left.describe()}. Look: kubectl -n {namespace} get job,pvc "
                                f"-l {run_selector(run_id)}")
        time.sleep(1.0)
        left = list_run_objects(core, batch, namespace, run_id)
    deleted = RunObjects(found.jobs, found.pvcs, [])
    return f"deleted {deleted.describe()} of run {run_id}"
