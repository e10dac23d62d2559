"""Label selectors for the pods of a DynamoGraphDeployment (DGD).

The Dynamo operator stamps every pod it creates, on the Grove and on the component path alike,
with ``nvidia.com/dynamo-graph-deployment-name=<dgd>`` and ``nvidia.com/dynamo-component=<Service>``
(the service name exactly as the spec writes it). Pod names are never used to find pods: they
carry generated suffixes (a worker hash, a ReplicaSet hash, a clique index) that change across
rollouts and operator versions.
"""

from __future__ import annotations

GRAPH_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"


def graph_selector(dgd: str) -> str:
    """Every pod of the DGD named ``dgd``."""
    return f"{GRAPH_LABEL}={dgd}"


def service_selector(dgd: str, service: str) -> str:
    """The pods of one service of the DGD named ``dgd``."""
    return f"{GRAPH_LABEL}={dgd},{COMPONENT_LABEL}={service}"


def service_of(pod: dict) -> str:
    """The service a pod belongs to, from its labels ("" when it carries none)."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL, "")
