"""The bridge between behave and ftlib.

Every scenario is resolved twice. First as a *plan* (before the scenario runs, and alone with
``-D dry_run=true``): each step builds its spec edit, event or check and validates it against
the spec (services exist, numbers are possible, loads are named), deploying nothing. Only if the
whole plan is sound does the scenario *run*, with the same steps doing the real work. So a typo
in the last step fails before the first pod starts.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ftlib import validate
from ftlib.checks import Check
from ftlib.errors import FtError, SpecError
from ftlib.events.base import Event
from ftlib.options import RunOptions
from ftlib.plan import PlanValidator
from ftlib.reports.base import Report
from ftlib.platform import get_platform
from ftlib.scenario import ScenarioContext, slug
from ftlib.spec import BACKENDS, TOPOLOGIES, DeploymentSpec, get_deployment_spec
from ftlib.validate import MAX_MIGRATION_LIMIT

log = logging.getLogger("ftlib.bdd")
_UNITS = {"second": 1, "seconds": 1, "minute": 60, "minutes": 60}


def seconds(value: float, unit: str) -> float:
    """``2 minutes`` -> 120.0; an unknown unit is an error naming the allowed ones."""
    if unit not in _UNITS:
        raise SpecError(f"unknown time unit {unit!r}; allowed: seconds, minutes")
    return value * _UNITS[unit]


@dataclass
class GherkinScenario:
    """What one behave scenario has said so far, and (when running) its live context."""

    name: str
    options: RunOptions
    repo_root: Path
    execute: bool
    spec: DeploymentSpec | None = None
    ctx: ScenarioContext | None = None
    plan: list[str] = field(default_factory=list)
    validator: PlanValidator = field(default_factory=PlanValidator)
    applied_by: str | None = None  # the first step after which the spec can no longer change
    reports: list[Report] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)  # what the scenario said, in order
    checks: list[Check] = field(default_factory=list)
    folder: str | None = None  # the evidence folder's name when not slug(name) (see ftlib.scenario.unique_slug)

    @property
    def output_dir(self) -> Path:
        return self.options.output_path(self.repo_root) / (self.folder or slug(self.name))

    # -- Given ----------------------------------------------------------------------------
    def use_backend(self, backend: str, topology: str, replicas: int | None = None) -> None:
        if backend not in BACKENDS:
            raise SpecError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
        if topology not in TOPOLOGIES:
            raise SpecError(f"unknown topology {topology!r}; allowed: {', '.join(TOPOLOGIES)}")
        spec = get_deployment_spec(backend, topology, 1 if replicas is None else replicas)
        for worker in spec.workers:
            self.validator.require_replicas(worker)
        self._set_spec(spec)

    def use_file(self, path: str) -> None:
        file = Path(path)
        self._set_spec(DeploymentSpec.from_yaml(file if file.is_absolute() else self.repo_root / file))

    def _set_spec(self, spec: DeploymentSpec) -> None:
        if self.spec is not None:
            raise SpecError(f"this scenario already has a deployment ({self.spec.name}); give only one")
        if self.options.image:
            spec.set_image(self.options.image)
        self.spec = spec
        self.plan.append(f"deployment {spec.describe()} from {spec.source}")

    def edit(self) -> DeploymentSpec:
        """The spec, for a Given step to change; an error once a step has applied it (in the
        plan too, so a Given step after a When step fails before anything is deployed)."""
        spec = self.deployment_spec()
        if self.applied_by is not None:
            raise SpecError(f"Given steps must come before the first When or Then step, and this one comes after "
                            f"the step that applies the deployment ({self.applied_by}): move it up")
        return spec

    def deployment_spec(self) -> DeploymentSpec:
        """The spec; an error if no Given step chose a deployment yet."""
        if self.spec is None:
            raise SpecError("no deployment yet: start the scenario with 'Given a {backend} {topology} deployment' "
                            "or 'Given the deployment \"{path}\"'")
        return self.spec

    def _apply(self, step: str) -> DeploymentSpec:
        """The spec as it will be deployed: from now on Given steps can no longer change it."""
        spec = self.deployment_spec()
        self.validator.require_deployable(spec)
        self.applied_by = self.applied_by or step
        return spec

    def set_replicas(self, service: str, replicas: int) -> None:
        target = self.edit().resolve_service(service)
        target.replicas = replicas
        self.validator.require_replicas(target)
        self.plan.append(f"{target.name}: {replicas} replicas")

    def set_env(self, service: str, name: str, value: str) -> None:
        target = self.edit().resolve_service(service)
        target.set_env_var(name, value)
        self.plan.append(f"{target.name}: env {name}={value}")

    def add_args(self, service: str, args: str) -> None:
        target = self.edit().resolve_service(service)
        try:
            words = shlex.split(args)
        except ValueError as error:
            raise SpecError(f"cannot split the extra arguments {args!r}: {error}") from None
        target.add_args(words)
        self.plan.append(f"{target.name}: extra arguments {words}")

    def set_migration_limit(self, limit: int) -> None:
        validate.count(limit, "the migration limit", high=MAX_MIGRATION_LIMIT)
        self.edit().frontend.set_arg("--migration-limit", str(limit))
        self.plan.append(f"frontend: --migration-limit {limit}")

    def make_ready(self) -> None:
        self.edit()
        self._apply("the deployment is ready")
        self.plan.append("deploy and wait until ready")
        if self.execute:
            self._context().deploy()

    # -- When / Then ----------------------------------------------------------------------
    def event(self, event: Event) -> Event:
        targets = self._validate_event(event)
        self.plan.append(f"when: {event.description}{targets}")
        self.events.append(event)
        if self.execute:
            self._context().run_event(event)
        return event

    def check(self, check: Check) -> None:
        targets = self.validator.check(self._apply(check.description), check)
        self.plan.append(f"then: {check.description}{targets}")
        self.checks.append(check)
        if self.execute:
            self._context().check(check)

    def write_report(self, report: Report) -> None:
        """Ask for ``report`` (written again after teardown) and, when running, write it now."""
        if not any(type(r) is type(report) for r in self.reports):
            self.reports.append(report)
        self.plan.append(f"then: {report.description}")
        if not self.execute:
            return
        if self.ctx is None or self.ctx.deployment is None:
            raise SpecError("nothing was deployed in this scenario, so there is nothing to report on")
        self.ctx.settle()
        written = report.generate(self.ctx)
        missing = [str(path) for path in written if not path.exists()]
        if missing:
            raise FtError(f"{report.description} did not write {', '.join(missing)}")

    def generate_reports(self) -> tuple[list[Path], list[str]]:
        """Write every requested report from the recorded results (after teardown): the files
        written, and the problems met (a failing report never hides the scenario's verdict)."""
        written, problems = [], []
        for report in self.reports if self.ctx is not None else []:
            try:
                written += report.generate(self.ctx)
            except Exception as error:  # noqa: BLE001
                log.error("%s failed: %s: %s (its traceback is in scenario.log)", report.description,
                          type(error).__name__, error)
                log.info("%s: the traceback", report.description, exc_info=True)  # INFO: scenario.log only
                problems.append(f"{report.description}: {error}")
        return written, problems

    def _validate_event(self, event: Event) -> str:
        return self.validator.event(self._apply(event.description), event)

    def _context(self) -> ScenarioContext:
        if self.ctx is None:
            platform = get_platform(self.options.platform, options=self.options)
            self.ctx = ScenarioContext(self.spec, platform, self.output_dir, self.name,
                                       client_type=self.options.client_type, seed=self.options.seed)
        return self.ctx

    # -- end ------------------------------------------------------------------------------
    def finish(self, aborted: bool, stopped_by: BaseException | None = None) -> list[str]:
        return self.ctx.finish(aborted=aborted, stopped_by=stopped_by) if self.ctx is not None else []

    def describe_plan(self) -> str:
        return "\n".join(f"  {line}" for line in self.plan)

