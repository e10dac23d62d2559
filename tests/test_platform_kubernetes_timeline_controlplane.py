"""The pod watch (`ftlib.platform.kubernetes.timeline.PodWatch`) against a real kube-apiserver
whose etcd is compacted while the watch is away: the server answers 410 Gone, the watch lists
again and the diff brings every change it missed (a restart, a readiness flip, a deletion).
The API server runs with ``--watch-cache-sizes=pods#0`` so that pod watches are served from
etcd, where compaction removes history (with the watch cache, 410 comes once the cache's window
has moved past the version instead: the same answer, harder to bring about in a test)."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from ftlib.controlplane.cluster import ControlPlane
from ftlib.platform.kubernetes.timeline import PodWatch, pod_state, transitions

NAMESPACE = "fault-tolerance-test"


@pytest.fixture(scope="module")
def uncached_pods():
    with ControlPlane(stand_ins=False, apiserver_args=("--watch-cache-sizes=pods#0",),
                      progress=lambda line: None) as plane:
        yield plane


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "watched"}},
            "spec": {"containers": [{"name": "main", "image": "img"}], "nodeName": "nowhere"}}


def status(ready: bool, restarts: int, exit_code: int | None = None) -> dict:
    container = {"name": "main", "ready": ready, "restartCount": restarts, "image": "img", "imageID": "",
                 "state": {"running": {"startedAt": "2026-12-04T18:00:00Z"}}}
    if exit_code is not None:
        container["lastState"] = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
    return {"status": {"phase": "Running", "containerStatuses": [container],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_a_watch_whose_version_etcd_compacted_gets_410_from_the_real_api_server_relists_and_misses_no_transition(uncached_pods):
    core = client.CoreV1Api(uncached_pods.api_client())
    for name in ("a", "b"):
        core.create_namespaced_pod(NAMESPACE, pod(name))
        core.patch_namespaced_pod_status(name, NAMESPACE, status(True, 0))
    states, entries, lock = {}, [], threading.Lock()

    def on_event(kind: str, obj: dict) -> None:
        with lock:
            name = obj["metadata"]["name"]
            new = None if kind == "DELETED" else pod_state(obj)
            entries.extend((name, entry) for entry in transitions(states.get(name), new))
            states[name] = new

    watch = PodWatch(core, NAMESPACE, "app=watched", on_event, lambda: None, watch_seconds=1)
    watch.relist()  # the watch's last look; now its connection is gone
    listed_at = watch.resource_version
    core.patch_namespaced_pod_status("a", NAMESPACE, status(False, 1, 137))  # killed and restarting
    core.delete_namespaced_pod("b", NAMESPACE, grace_period_seconds=0)
    compacted = uncached_pods.compact_etcd()
    assert compacted > int(listed_at)

    with pytest.raises(client.ApiException) as gone:  # what the real server answers the stale version
        watch.watch_once()
    assert gone.value.status == 410

    watch.resource_version = listed_at
    watch.start()
    try:
        deadline = time.monotonic() + 20
        while watch.relists < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        watch.stop()

    assert watch.relists == 2 and int(watch.resource_version) >= compacted
    assert ("a", ("container_died", "exit code 137 (Error)")) in entries
    assert ("a", ("pod_unready", "")) in entries
    assert ("b", ("pod_deleted", "gone")) in entries
