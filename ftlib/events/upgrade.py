"""Rolling upgrades: roll a new revision of a service out, pod by pod, under load."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftlib.errors import FaultNotEffective, SpecError, TargetError
from ftlib import validate
from ftlib.events.faults import Fault

if TYPE_CHECKING:
    from ftlib.scenario import ScenarioContext

TRIGGER_ENV = "TEST_ROLLING_UPDATE_TRIGGER"
POLL_SECONDS = 0.2


@dataclass
class RollingUpgrade(Fault):
    """Roll a new revision of each service out and wait until it is complete.

    The revision differs only in an environment variable (``TEST_ROLLING_UPDATE_TRIGGER`` set to
    a random value), so the platform replaces every pod of the service one at a time: a new pod
    is ready before an old one is deleted gracefully (``maxSurge: 1, maxUnavailable: 0``).

    The rollout is verified on the pods themselves: it is complete when none of the pods that
    ran before it is left, the service has its replica count of new pods, all ready, and the
    deployment is ready. The event records which pods were replaced (``replaced``), the new
    ones (``new_pods``) and how long it took (``duration_seconds``). If within ``timeout`` the
    platform started no new pod and replaced none, the upgrade did not take effect (an error);
    if it did but the new revision is not rolled out and ready, the system failed to upgrade (a
    failure).
    """

    services: list[str]
    timeout: float = 600.0
    env_name: str = TRIGGER_ENV
    trigger: str = field(default="", init=False)
    replaced: dict[str, list[str]] = field(default_factory=dict, init=False)
    new_pods: dict[str, list[str]] = field(default_factory=dict, init=False)
    duration_seconds: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.services:
            raise SpecError("name at least one service to upgrade")
        validate.env_name(self.env_name)
        self.timeout = validate.positive_seconds(self.timeout, "a rollout timeout")

    def target_services(self) -> list[str]:
        return self.services

    def execute(self, ctx: "ScenarioContext") -> None:
        deployment = ctx.deployment
        names = list(dict.fromkeys(ctx.spec.resolve_service(word).name for word in self.services))
        before: dict[str, set[str]] = {}
        for service in names:
            before[service] = {p.name for p in deployment.pods(service)}
            if not before[service]:
                raise TargetError(f"service {service!r} has no pods to upgrade")
        self.trigger = secrets.token_hex(8)
        for service in names:
            deployment.update_service(service, {self.env_name: self.trigger})
        deadline = time.monotonic() + self.timeout
        while True:
            pending = {service: why for service in names if (why := self._pending(ctx, service, before[service]))}
            if not pending and deployment.is_ready():
                self.duration_seconds = (time.time_ns() - self.started_ns) / 1e9
                return
            if time.monotonic() > deadline:
                self._fail(ctx, before, pending)
            deployment.timeline.wait_for_change(POLL_SECONDS)

    def _pending(self, ctx: "ScenarioContext", service: str, old: set[str]) -> str:
        """Why the rollout of ``service`` is not complete yet ("" if it is); records progress."""
        replicas = ctx.deployment.spec.get_service(service).replicas
        live = ctx.deployment.pods(service)
        self.replaced[service] = sorted(old - {p.name for p in live})
        self.new_pods[service] = [p.name for p in live if p.name not in old]
        left = sorted(old & {p.name for p in live})
        unready = [p.name for p in live if p.name not in old and not p.ready]
        if left:
            return f"old pods still running: {', '.join(left)}"
        if len(live) != replicas or unready:
            return f"{len(live) - len(unready)} of {replicas} new pods ready (not ready: {', '.join(unready) or '-'})"
        return ""

    def _fail(self, ctx: "ScenarioContext", before: dict[str, set[str]], pending: dict[str, str]) -> None:
        seen = ctx.deployment.timeline.render(self.started_ns)
        state = "; ".join(f"{s}: {why}" for s, why in pending.items()) or "every service rolled out, deployment not ready"
        if not any(self.replaced.values()) and not any(self.new_pods.values()):
            raise FaultNotEffective(f"the rolling upgrade started no new pod and replaced none within "
                                    f"{self.timeout:g} s ({state}). Platform timeline since it started:\n{seen}")
        raise AssertionError(f"expected the new revision of {', '.join(before)} to be rolled out and ready within "
                             f"{self.timeout:g} s; it was not ({state}). Platform timeline since it started:\n{seen}")

    @property
    def description(self) -> str:
        return f"rolling-upgrade {', '.join(self.services)} (new {self.env_name}){self.while_in_flight}"
