"""The storage provisioner (ftlib.controlplane.storage) against a real kube-apiserver and the real
persistentvolume-binder of kube-controller-manager: the default class, a volume per claim bound
by the binder, the folder made and removed, and the suite's own log PVC with its probe Job."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.polling import eventually as poll
from ftlib.controlplane.cluster import NAMESPACE
from ftlib.controlplane.storage import (DEFAULT_CLASS_ANNOTATION, PROVISIONED_BY, PROVISIONER, Claim, Provisioner,
                                        inside)
from ftlib.platform.kubernetes.pvc import create_log_pvc
from tests.controlplane_standins import agent, plane  # noqa: F401 - fixtures

CLASS = "dft-rwx"


@pytest.fixture(scope="module")
def provisioner(plane):
    started = Provisioner(plane.api_client(), folder=plane.folder / "volumes", storage_class=CLASS)
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def core(plane, provisioner):
    return client.CoreV1Api(plane.api_client())


def eventually(what: str, check, timeout: float = 30.0):
    return poll(check, timeout, 0.2, what)


def claim_body(name: str, storage_class: str | None = None, size: str = "2Gi") -> dict:
    spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def bound(core, name: str) -> client.V1PersistentVolumeClaim | None:
    claim = core.read_namespaced_persistent_volume_claim(name, NAMESPACE)
    return claim if claim.status.phase == "Bound" else None


def test_start_creates_the_default_storage_class_with_immediate_binding_and_delete(plane, provisioner):
    storage = client.StorageV1Api(plane.api_client()).read_storage_class(CLASS)
    assert storage.metadata.annotations[DEFAULT_CLASS_ANNOTATION] == "true"
    assert storage.provisioner == PROVISIONER and storage.volume_binding_mode == "Immediate"
    assert storage.reclaim_policy == "Delete"


def test_a_claim_with_no_class_gets_the_default_one_and_binds_to_a_read_write_many_volume_in_the_folder(
        core, provisioner):
    name = f"plain-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_persistent_volume_claim(NAMESPACE, claim_body(name))
    claim = eventually("the claim to bind", lambda: bound(core, name))
    assert claim.spec.storage_class_name == CLASS  # the DefaultStorageClass admission filled it in
    volume = core.read_persistent_volume(claim.spec.volume_name)
    assert volume.metadata.annotations[PROVISIONED_BY] == PROVISIONER
    assert volume.spec.access_modes == ["ReadWriteMany"] and volume.spec.capacity["storage"] == "2Gi"
    assert volume.spec.claim_ref.uid == claim.metadata.uid and volume.status.phase == "Bound"
    folder = Path(volume.spec.host_path.path)
    assert folder.is_dir() and folder.parent == provisioner.folder
    core.delete_namespaced_persistent_volume_claim(name, NAMESPACE)
    eventually("the volume to go", lambda: not any(v.metadata.name == volume.metadata.name
                                                   for v in core.list_persistent_volume().items))
    assert not folder.exists()


def test_a_claim_of_another_class_is_left_to_its_provisioner(core, provisioner):
    name = f"other-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_persistent_volume_claim(NAMESPACE, claim_body(name, storage_class="someone-elses"))
    time.sleep(2.0)
    assert core.read_namespaced_persistent_volume_claim(name, NAMESPACE).status.phase == "Pending"
    core.delete_namespaced_persistent_volume_claim(name, NAMESPACE)


def test_the_suites_log_pvc_binds_and_its_probe_job_succeeds_on_the_node_agent(plane, core, agent):
    run_id = f"t{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    name = create_log_pvc(core, client.BatchV1Api(plane.api_client()), NAMESPACE, run_id, timeout=60)
    took = time.monotonic() - started
    assert bound(core, name) and took < 30, took
    core.delete_namespaced_persistent_volume_claim(name, NAMESPACE)


def test_only_folders_directly_inside_the_volumes_folder_are_removed(tmp_path):
    assert inside(tmp_path, tmp_path / "pvc-1")
    assert not inside(tmp_path, tmp_path)
    assert not inside(tmp_path, tmp_path / "a" / "b")
    assert not inside(tmp_path, Path("/etc"))
    (tmp_path / "link").symlink_to("/etc")
    assert not inside(tmp_path, tmp_path / "link")


def test_a_claim_is_provisioned_only_once_the_binder_named_this_provisioner_on_it():
    raw = {"metadata": {"namespace": "ns", "name": "c", "uid": "u"},
           "spec": {"storageClassName": CLASS, "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}}
    assert not Claim.parse(raw).wants(CLASS)
    raw["metadata"]["annotations"] = {"volume.kubernetes.io/storage-provisioner": PROVISIONER}
    assert Claim.parse(raw).wants(CLASS) and Claim.parse(raw).volume_name == "pvc-u"
    raw["spec"]["volumeName"] = "pvc-u"
    assert not Claim.parse(raw).wants(CLASS)
