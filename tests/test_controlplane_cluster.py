"""The control plane itself, for real: the binaries report the pinned releases, every component
listens on 127.0.0.1 only, RBAC is enforced, and `up`/`down` leave no process, port or folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client

from ftlib.controlplane import build
from ftlib.controlplane.cluster import NAMESPACE, TESTER, ControlPlane
from tests.procfs import gone

REPO = Path(__file__).resolve().parent.parent


def listeners(pids: set[int]) -> list[tuple[str, int]]:
    """(local address, pid) of every TCP listener (ss -ltnp) owned by one of ``pids``."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            if pid in pids:
                found.append((fields[3], pid))
    return found


def component_pids(plane: ControlPlane) -> set[int]:
    return {process.pid for process in plane._processes.values()}


def test_slash_version_reports_the_pinned_kubernetes_release_and_etcd_its_3_6_release(control_plane):
    versions = control_plane.versions()

    assert versions["kubernetes"] == build.required_version(build.KUBERNETES_MODULE, "k8s.io/kubernetes") == "v1.37.2"
    assert versions["etcd"] == build.required_version(build.ETCD_MODULE, build.ETCD_PACKAGE).lstrip("v")


def test_every_component_and_the_node_agent_listen_on_127_0_0_1_and_nowhere_else(control_plane):
    pids = component_pids(control_plane) | {os.getpid()}  # the stand-ins run in this process
    found = listeners(pids)

    assert {pid for _, pid in found} >= component_pids(control_plane)  # each component listens somewhere
    assert [address for address, _ in found if not address.startswith("127.0.0.1:")] == []
    assert f"127.0.0.1:{control_plane.ports.kubelet}" in {address for address, _ in found}


def test_the_api_server_enforces_rbac_a_user_with_no_binding_is_forbidden(bare_control_plane):
    tester = client.CoreV1Api(bare_control_plane.api_client(TESTER))

    with pytest.raises(client.ApiException) as refused:
        tester.list_namespaced_pod("kube-system")
    assert refused.value.status == 403 and TESTER in refused.value.body


def test_the_dynamo_crd_is_served_in_both_versions_and_the_namespace_exists(bare_control_plane):
    api = bare_control_plane.api_client()
    group = next(g for g in client.ApisApi(api).get_api_versions().groups if g.name == "nvidia.com")

    assert sorted(v.version for v in group.versions) == ["v1alpha1", "v1beta1"]
    assert client.CoreV1Api(api).read_namespace(NAMESPACE).status.phase == "Active"


def test_stop_leaves_no_process_port_or_folder():
    plane = ControlPlane(stand_ins=False, progress=lambda line: None).start()
    pids, folder = component_pids(plane), plane.folder
    ports = [f"127.0.0.1:{p}" for p in (plane.ports.apiserver, plane.ports.etcd_client, plane.ports.etcd_peer)]
    assert folder.is_dir() and all(Path(f"/proc/{pid}").exists() for pid in pids)

    plane.stop()

    assert [pid for pid in pids if not gone(pid)] == []
    assert not folder.exists()
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    assert [p for p in ports if p in out] == []


def test_run_cluster_up_prints_the_kubeconfig_and_down_stops_everything(tmp_path):
    env = {**os.environ, "FT_CLUSTER_STATE": str(tmp_path / "cluster.json")}
    up = subprocess.run([sys.executable, "-m", "ftlib.controlplane.cluster", "up"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((tmp_path / "cluster.json").read_text())
    assert f"admin kubeconfig:  {state['kubeconfig']}" in up.stdout and "kubernetes v1.37.2" in up.stdout
    supervisor = state["pid"]
    children = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()
    assert len(children) == 4  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler
    nodes = client.CoreV1Api(_client(state["kubeconfig"])).list_node().items
    assert [n.metadata.name for n in nodes] == ["dft-node"]

    down = subprocess.run([sys.executable, "-m", "ftlib.controlplane.cluster", "down"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)

    assert down.returncode == 0 and down.stdout.strip() == "control plane stopped", down.stdout + down.stderr
    assert [pid for pid in [supervisor, *map(int, children)] if not gone(pid)] == []
    assert not Path(state["folder"]).exists() and not (tmp_path / "cluster.json").exists()


def _client(kubeconfig: str):
    from kubernetes import config

    return config.new_client_from_config(config_file=kubeconfig)
