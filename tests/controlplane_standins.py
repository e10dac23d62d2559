"""Fixtures of the stand-in tests (test_controlplane_node, test_controlplane_storage): a bare
control plane and the node agent, started per test module."""

from __future__ import annotations

import pytest

from ftlib.controlplane import cluster
from ftlib.controlplane.cluster import free_port
from ftlib.controlplane.node import NodeAgent

NODE = "dft-node"


@pytest.fixture(scope="module")
def plane(request):
    """The bare control plane; its kube-controller-manager must run the node-lifecycle-controller,
    which lifts the ``node.kubernetes.io/not-ready`` taint the TaintNodesByCondition admission puts
    on every new Node (without it kube-scheduler never binds a pod to the node)."""
    if "node-lifecycle-controller" in cluster.CONTROLLERS:
        yield request.getfixturevalue("bare_control_plane")
        return
    original = cluster.CONTROLLERS
    cluster.CONTROLLERS = original + ("node-lifecycle-controller",)
    try:
        with cluster.ControlPlane(stand_ins=False, progress=lambda line: None) as started:
            yield started
    finally:
        cluster.CONTROLLERS = original


@pytest.fixture(scope="module")
def agent(plane):
    node = NodeAgent(plane.api_client("node"), name=NODE, port=free_port(), cert_file=plane.kubelet_serving.cert,
                     key_file=plane.kubelet_serving.key, ca_file=plane.ca.ca.cert, folder=plane.folder / "node")
    node.start()
    yield node
    node.stop()


