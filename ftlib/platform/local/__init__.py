"""The local platform: a deployment's pods as real processes on this machine."""

from __future__ import annotations

from pathlib import Path

from ftlib.model_card import ensure_model_card
from ftlib.platform.base import Platform
from ftlib.platform.local.deployment import LocalDeployment, port_range
from ftlib.platform.local.netns import isolation_mode
from ftlib.spec import DeploymentSpec


class LocalPlatform(Platform):
    """Runs the frontend and Dynamo's mocker workers as process groups on loopback."""

    name = "local"

    def __init__(self, model_card: Path | None = None):
        self.model_card = ensure_model_card(model_card)

    def tokenizer_for(self, spec: DeploymentSpec) -> str:
        """The model card the mocker workers serve (its tokenizer files are local)."""
        return str(self.model_card)

    def preflight(self) -> list[str]:
        """The environment the pods will be started with: ``FT_PORT_RANGE`` and ``FT_NETNS``."""
        low, high = port_range()
        return [f"loopback ports {low}-{high}, network isolation {isolation_mode()}"]

    def deploy(self, spec: DeploymentSpec, output_dir: Path) -> LocalDeployment:
        return LocalDeployment(spec, output_dir, self.model_card)


__all__ = ["LocalPlatform", "LocalDeployment"]
