"""A storage provisioner in place of a CSI driver: the default StorageClass of the local control
plane, offering ReadWriteMany, and a PersistentVolume under ``folder`` for each claim of it.

    provisioner = Provisioner(api, folder=Path(".../volumes"))   # storage_class="dft-rwx"
    provisioner.start()   # the StorageClass exists, claims are watched
    ...
    provisioner.stop()

What it does, as an external provisioner (sig-storage-lib-external-provisioner) does:

- `start` creates the StorageClass if it is missing: ``storageclass.kubernetes.io/is-default-class:
  "true"``, provisioner `PROVISIONER`, ``volumeBindingMode: Immediate``, ``reclaimPolicy:
  Delete``. A claim with no class gets it from kube-apiserver's DefaultStorageClass admission.
- It watches PersistentVolumeClaims of all namespaces. A claim of its class that is Pending, has no
  volume and carries ``volume.kubernetes.io/storage-provisioner: <PROVISIONER>`` (the annotation
  kube-controller-manager's persistentvolume-binder puts on claims an external provisioner must
  serve) gets a PersistentVolume ``pvc-<claim uid>``: ``hostPath`` ``folder/<pv>`` (made now), the
  requested capacity, the claim's access modes (ReadWriteMany included) and volume mode, the class's
  reclaim policy and mount options, a ``claimRef`` with the claim's UID, the annotation
  ``pv.kubernetes.io/provisioned-by`` and the finalizer `FINALIZER`; events Provisioning and
  ProvisioningSucceeded on the claim. The persistentvolume-binder then binds the two.
- It watches PersistentVolumes: one it provisioned that becomes ``Released`` with policy Delete is
  deleted, its folder removed (only a folder directly inside ``folder``: any other path is left
  alone and logged), and the finalizer taken off.

Where a real CSI provisioner differs:

1. There is no CSI driver, no attach and no mount: the PV is a ``hostPath`` folder that the node
   agent (`ftlib.controlplane.node`) maps into its pods' simulated filesystem, so what a pod's
   simulated programs write to the claim (the probe Job's ``touch``, the log tee) lands in it,
   and is gone when the released volume is deleted.
2. Capacity is not checked or enforced, the access modes are not checked against what the storage
   can do (every mode is accepted), ``volumeBindingMode: WaitForFirstConsumer``, topology,
   snapshots, cloning, expansion and ``Retain`` reclaim clean-up are not handled.
3. No leader election and no retry back-off beyond the watch's own; a claim that could not be
   provisioned is tried again at its next change or at the next re-list.
"""
from __future__ import annotations

import logging
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

from ftlib.controlplane.node_pods import rfc3339, utc_now
from ftlib.controlplane.watching import ListWatch, WatchEvent, request_json

log = logging.getLogger("ftlib.controlplane.storage")

PROVISIONER = "dynamo-ft.local/hostpath"
FINALIZER = "external-provisioner.volume.kubernetes.io/finalizer"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PROVISIONER_ANNOTATIONS = ("volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner")
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STOP_TIMEOUT = 5.0


def storage_class_manifest(name: str) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": False}


@dataclass(frozen=True)
class Claim:
    """The parts of a PersistentVolumeClaim the provisioner reads."""
    namespace: str
    name: str
    uid: str
    storage_class: str | None
    provisioner: str
    phase: str
    volume: str
    access_modes: tuple[str, ...]
    volume_mode: str
    size: str

    @classmethod
    def parse(cls, raw: dict) -> "Claim":
        meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
        annotations = meta.get("annotations") or {}
        provisioner = next((annotations[a] for a in PROVISIONER_ANNOTATIONS if a in annotations), "")
        storage_class = spec.get("storageClassName", annotations.get("volume.beta.kubernetes.io/storage-class"))
        return cls(meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""), storage_class, provisioner,
                   (raw.get("status") or {}).get("phase", "Pending"), spec.get("volumeName") or "",
                   tuple(spec.get("accessModes") or ["ReadWriteOnce"]), spec.get("volumeMode") or "Filesystem",
                   str(((spec.get("resources") or {}).get("requests") or {}).get("storage") or "1Gi"))

    def wants(self, storage_class: str) -> bool:
        """Whether this provisioner should make a volume for the claim now."""
        return (self.storage_class == storage_class and self.provisioner == PROVISIONER and self.phase == "Pending"
                and not self.volume)

    @property
    def volume_name(self) -> str:
        return f"pvc-{self.uid}"


def volume_manifest(claim: Claim, path: Path, storage_class: str, reclaim: str, mount_options: list[str]) -> dict:
    """The PersistentVolume for ``claim`` at ``path``."""
    spec = {"capacity": {"storage": claim.size}, "accessModes": list(claim.access_modes),
            "persistentVolumeReclaimPolicy": reclaim, "storageClassName": storage_class,
            "volumeMode": claim.volume_mode, "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": claim.namespace,
                         "name": claim.name, "uid": claim.uid}}
    if mount_options:
        spec["mountOptions"] = list(mount_options)
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": claim.volume_name, "annotations": {PROVISIONED_BY: PROVISIONER},
                         "finalizers": [FINALIZER]},
            "spec": spec}


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` is a folder directly inside ``folder`` (after resolving links)."""
    try:
        return path.resolve().parent == folder.resolve() and path.resolve() != folder.resolve()
    except OSError:
        return False


class Provisioner:
    """The provisioner (see the module docstring)."""

    def __init__(self, api: client.ApiClient, *, folder: Path, storage_class: str = "dft-rwx"):
        self.api, self.folder, self.storage_class = api, Path(folder), storage_class
        self.reclaim, self.mount_options = "Delete", []
        self._claims: ListWatch | None = None
        self._volumes: ListWatch | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Create the StorageClass if it is missing and start watching claims and volumes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = self._ensure_class()
        self.reclaim = existing.get("reclaimPolicy") or "Delete"
        self.mount_options = list(existing.get("mountOptions") or [])
        self._claims = ListWatch(self.api, "/api/v1/persistentvolumeclaims", [], self._on_claim,
                                 "provisioner-claims", log)
        self._volumes = ListWatch(self.api, "/api/v1/persistentvolumes", [], self._on_volume,
                                  "provisioner-volumes", log)
        for watch in (self._claims, self._volumes):
            watch.start()
        for watch in (self._claims, self._volumes):
            if not watch.synced.wait(30):
                self.stop()
                raise RuntimeError(f"the provisioner could not list {watch.path} within 30 s")
        log.info("provisioner %s serving StorageClass %s from %s", PROVISIONER, self.storage_class, self.folder)

    def stop(self) -> None:
        for watch in (self._claims, self._volumes):
            if watch is not None:
                watch.stop(STOP_TIMEOUT)
        self._claims = self._volumes = None

    # -- the class ------------------------------------------------------------------------
    def _ensure_class(self) -> dict:
        path = f"/apis/storage.k8s.io/v1/storageclasses/{self.storage_class}"
        try:
            return request_json(self.api, "GET", path)
        except client.ApiException as error:
            if error.status != 404:
                raise
        try:
            return request_json(self.api, "POST", "/apis/storage.k8s.io/v1/storageclasses",
                                body=storage_class_manifest(self.storage_class))
        except client.ApiException as error:
            if error.status != 409:
                raise
            return request_json(self.api, "GET", path)

    # -- claims ---------------------------------------------------------------------------
    def _on_claim(self, event: WatchEvent) -> None:
        if event.type in ("LISTED", "DELETED"):
            return
        claim = Claim.parse(event.object)
        if claim.wants(self.storage_class):
            with self._lock:
                self._provision(claim)

    def _provision(self, claim: Claim) -> None:
        path = self.folder / claim.volume_name
        self._event(claim, "Normal", "Provisioning",
                    f'External provisioner is provisioning volume for claim "{claim.namespace}/{claim.name}"')
        path.mkdir(parents=True, exist_ok=True)
        body = volume_manifest(claim, path, self.storage_class, self.reclaim, self.mount_options)
        try:
            request_json(self.api, "POST", "/api/v1/persistentvolumes", body=body)
        except client.ApiException as error:
            if error.status == 409:
                return  # provisioned already (a re-list or a second event of the claim)
            log.warning("provisioning %s for %s/%s: %s %s", claim.volume_name, claim.namespace, claim.name,
                        error.status, error.reason)
            self._event(claim, "Warning", "ProvisioningFailed", f"failed to provision volume: {error.reason}")
            return
        log.info("provisioned %s (%s, %s) for %s/%s", claim.volume_name, claim.size, ",".join(claim.access_modes),
                 claim.namespace, claim.name)
        self._event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {claim.volume_name}")

    def _event(self, claim: Claim, kind: str, reason: str, message: str) -> None:
        stamp = rfc3339(utc_now())
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{claim.name}.{uuid.uuid4().hex[:16]}", "namespace": claim.namespace},
                "involvedObject": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": claim.namespace,
                                   "name": claim.name, "uid": claim.uid},
                "reason": reason, "message": message, "type": kind, "source": {"component": PROVISIONER},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "reportingComponent": PROVISIONER}
        try:
            request_json(self.api, "POST", f"/api/v1/namespaces/{claim.namespace}/events", body=body)
        except client.ApiException as error:
            log.debug("event %s of claim %s: %s", reason, claim.name, error.status)

    # -- volumes --------------------------------------------------------------------------
    def _on_volume(self, event: WatchEvent) -> None:
        if event.type in ("LISTED", "DELETED"):
            return
        volume = event.object
        meta, spec = volume.get("metadata") or {}, volume.get("spec") or {}
        if (meta.get("annotations") or {}).get(PROVISIONED_BY) != PROVISIONER:
            return
        released = (volume.get("status") or {}).get("phase") == "Released"
        if released and spec.get("persistentVolumeReclaimPolicy") == "Delete":
            with self._lock:
                self._delete(meta["name"], Path((spec.get("hostPath") or {}).get("path") or ""))
        elif meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or []) and \
                (volume.get("status") or {}).get("phase") != "Bound":
            self._drop_finalizer(meta["name"])

    def _delete(self, name: str, path: Path) -> None:
        """Delete a released volume: its folder (only inside ``folder``), the PV, then the finalizer."""
        if inside(self.folder, path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            log.warning("volume %s: its path %s is not a folder inside %s; left alone", name, path, self.folder)
        try:
            request_json(self.api, "DELETE", f"/api/v1/persistentvolumes/{name}")
        except client.ApiException as error:
            if error.status != 404:
                log.warning("deleting volume %s: %s %s", name, error.status, error.reason)
                return
        self._drop_finalizer(name)
        log.info("deleted released volume %s", name)

    def _drop_finalizer(self, name: str) -> None:
        try:
            volume = request_json(self.api, "GET", f"/api/v1/persistentvolumes/{name}")
        except client.ApiException:
            return
        finalizers = (volume.get("metadata") or {}).get("finalizers") or []
        if FINALIZER not in finalizers:
            return
        patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": volume["metadata"]["resourceVersion"]},
                 {"op": "replace", "path": "/metadata/finalizers", "value": [f for f in finalizers if f != FINALIZER]}]
        try:
            request_json(self.api, "PATCH", f"/api/v1/persistentvolumes/{name}", body=patch,
                         content_type="application/json-patch+json")
        except client.ApiException as error:
            if error.status not in (404, 409, 422):
                log.warning("finalizer of volume %s: %s %s", name, error.status, error.reason)
