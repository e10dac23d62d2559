"""Platforms that run a deployment: ``local`` (processes on this machine) and ``kubernetes``."""

from ftlib.errors import PlatformError, SpecError
from ftlib.platform.base import Deployment, Platform, PodInfo, ProcessInfo, Timeline, TimelineEntry

PLATFORMS = ("local", "kubernetes")


def get_platform(name: str, **options) -> Platform:
    if name == "local":
        from ftlib.platform.local import LocalPlatform

        return LocalPlatform()
    if name == "kubernetes":
        raise PlatformError("the kubernetes platform is not available in this version of dynamo-ft; "
                            "run with platform=local (the default), or plan only with dry_run=true")
    raise SpecError(f"unknown platform {name!r}; allowed: {', '.join(PLATFORMS)}")


__all__ = ["Deployment", "Platform", "PodInfo", "ProcessInfo", "Timeline", "TimelineEntry", "get_platform", "PLATFORMS"]
