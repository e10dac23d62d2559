"""Platforms that run a deployment: ``local`` (processes on this machine) and ``kubernetes``."""

from ftlib.errors import SpecError
from ftlib.platform.base import Deployment, Platform, PodInfo, ProcessInfo, Timeline, TimelineEntry

PLATFORMS = ("local", "kubernetes")


def get_platform(name: str, options=None, api=None) -> Platform:
    """The platform ``name``. ``options`` (`RunOptions` or a ``-D`` mapping) configure kubernetes:
    namespace, kube_context, allow_namespace, image, load_image…; ``api`` is a ready
    ``kubernetes.client.ApiClient`` (else one is configured as kubectl would be)."""
    if name == "local":
        from ftlib.platform.local import LocalPlatform

        return LocalPlatform()
    if name == "kubernetes":
        from ftlib.platform.kubernetes import KubernetesPlatform

        return KubernetesPlatform(options, api=api)
    raise SpecError(f"unknown platform {name!r}; allowed: {', '.join(PLATFORMS)}")


__all__ = ["Deployment", "Platform", "PodInfo", "ProcessInfo", "Timeline", "TimelineEntry", "get_platform", "PLATFORMS"]
