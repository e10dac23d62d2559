"""A scenario: a deployment, a timeline of events, and checks on what happened.

`ScenarioContext` holds one scenario's state and owns its lifecycle (deploy, run events,
settle, collect evidence, tear down); behave's steps and hooks drive it one call at a time,
and `run_scenario` drives it in one go from plain Python.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from ftlib.checks import Check
from ftlib.errors import SpecError
from ftlib.events.base import Event, started_faults
from ftlib.events.load import StartLoad
from ftlib.events.logs import pod_logs
from ftlib.load.aiperf import AiperfLoad
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults
from ftlib.plan import validate_scenario
from ftlib.platform import Deployment, Platform, get_platform
from ftlib.reports.base import Monitor
from ftlib.reports.resources import ResourceHistory
from ftlib.reports.timeline_picture import TimelinePicture
from ftlib.spec import DeploymentSpec

log = logging.getLogger("ftlib.scenario")
DEFAULT_READY_TIMEOUT = 300.0


def default_monitors() -> list[Monitor]:
    """What watches every scenario unless told otherwise: the pods' CPU and memory."""
    return [ResourceHistory()]


EVIDENCE_MARKERS = ("scenario.log", "deployment_spec.yaml", "events.txt", "timeline.json")


def fresh_directory(path: Path) -> Path:
    """An empty evidence folder for a scenario run. An earlier run's evidence of the same
    scenario is removed (stale aiperf files or logs must never be read as this run's); a
    non-empty folder that is not dynamo-ft evidence is refused, never deleted."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not any((path / marker).exists() for marker in EVIDENCE_MARKERS):
            raise SpecError(f"{path} exists and does not hold dynamo-ft evidence; refusing to overwrite it "
                            "(choose another output_dir)")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def slug(text: str) -> str:
    """A file-system friendly name for a scenario."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "scenario"


@dataclass
class ScenarioContext:
    """One scenario's spec, platform, deployment, events and evidence directory."""

    spec: DeploymentSpec
    platform: Platform
    output_dir: Path
    name: str = "scenario"
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    client_type: str = "aiperf"
    deployment: Deployment | None = None
    events: list[Event] = field(default_factory=list)
    startup_seconds: float | None = None
    monitors: list[Monitor] = field(default_factory=default_monitors)

    # -- lifecycle ------------------------------------------------------------------------
    def deploy(self) -> Deployment:
        """Apply the spec and wait until every replica is ready (once)."""
        if self.deployment is None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.spec.save(self.output_dir / "deployment_spec.yaml")
            log.info("deploying %s on %s", self.spec.describe(), self.platform.name)
            self.deployment = self.platform.deploy(self.spec, self.output_dir)
            for monitor in self.monitors:
                try:
                    monitor.start(self)
                except Exception as error:  # noqa: BLE001 - a monitor never stops a scenario
                    log.error("starting monitor (%s): %s", monitor.description, error)
            self.startup_seconds = self.deployment.wait_ready(self.ready_timeout)
            log.info("deployment ready in %.2f s", self.startup_seconds)
        return self.deployment

    def run_event(self, event: Event) -> Event:
        self.deploy()
        self.events.append(event)
        event.run(self)
        return event

    def settle(self) -> None:
        """Stop active events in reverse order (loads run to their end and are collected)."""
        for event in reversed(self.events):
            if event.active:
                event.stop(self)

    def check(self, check: Check) -> None:
        self.settle()
        log.info("check: %s", check.description)
        check.validate(self)

    def finish(self, aborted: bool = False) -> list[str]:
        """Settle (or, after an error, stop loads at once), keep the evidence, tear down.

        Never raises: problems are returned (and logged) so the scenario's verdict stands.
        """
        problems: list[str] = []
        for event in reversed(self.events):
            try:
                if aborted and isinstance(event, StartLoad):
                    event.abort()
                elif event.active:
                    event.stop(self)
            except Exception as error:  # noqa: BLE001
                problems.append(f"stopping {event.description}: {error}")
        for monitor in self.monitors if self.deployment is not None else ():
            try:
                monitor.stop(self)
            except Exception as error:  # noqa: BLE001
                problems.append(f"stopping monitor ({monitor.description}): {error}")
        if self.deployment is not None:
            for step, action in (("collecting evidence", lambda: self.deployment.collect_evidence(self.output_dir)),
                                 ("tearing down", self.deployment.teardown)):
                try:
                    action()
                except Exception as error:  # noqa: BLE001
                    problems.append(f"{step}: {error}")
        self.write_timeline()
        for problem in problems:
            log.error("%s", problem)
        return problems

    # -- loads ----------------------------------------------------------------------------
    def new_load_runner(self, name: str, config: LoadConfig):
        """A load runner (aiperf, or the built-in ``legacy`` client) aimed at the frontend."""
        tokenizer = config.tokenizer or self.platform.tokenizer_for(self.spec)
        model = config.model_name or self.spec.model_name
        output_dir = self.output_dir / "load" / name
        remote = self.deployment.load_runner(name, config, self.client_type, model, tokenizer, output_dir)
        if remote is not None:
            return remote
        if self.client_type == "legacy":
            from ftlib.load.legacy import LegacyLoad as runner
        else:
            runner = AiperfLoad
        return runner(name, config, self.deployment.frontend_url, model, tokenizer, output_dir)

    def loads(self) -> list[StartLoad]:
        return [e for e in self.events if isinstance(e, StartLoad)]

    def find_load(self, name: str, active_only: bool = False) -> StartLoad | None:
        for event in reversed(self.loads()):
            if event.name == name and (event.active or not active_only):
                return event
        return None

    def require_load(self, name: str, active_only: bool = False) -> StartLoad:
        event = self.find_load(name, active_only)
        if event is None:
            known = ", ".join(sorted({e.name for e in self.loads()})) or "none started"
            state = "running " if active_only else ""
            raise SpecError(f"there is no {state}load named {name!r}; loads: {known}")
        return event

    def load_results(self, name: str) -> LoadResults:
        event = self.require_load(name)
        if event.active:
            self.settle()
        return event.results

    # -- faults and evidence --------------------------------------------------------------
    def last_fault(self) -> Event | None:
        faults = started_faults(self.events)
        return faults[-1] if faults else None

    def service_logs(self, service: str) -> dict[str, str]:
        """The whole log of every pod ``service`` (an exact name) ever had, terminated containers
        (``<pod> (previous)``) and deleted pods included: what the platform still knows, plus
        the log files kept under ``<output_dir>/<Service>/`` (so it works after teardown). With a
        deployment, only files of pods its timeline knows count: an earlier run's files in the
        same directory are not this scenario's evidence."""
        logs: dict[str, str] = {}
        ours: set[str] | None = None
        if self.deployment is not None:
            ours = {entry.pod for entry in self.deployment.timeline.since(0) if entry.pod}
            try:
                logs = pod_logs(self.deployment, service)
            except Exception as error:  # noqa: BLE001 - the files below are the evidence of record
                log.warning("reading %s logs from the platform: %s", service, error)
        directory = self.output_dir / service
        for path in sorted(directory.glob("*.log")) if directory.is_dir() else []:
            match = re.fullmatch(r"(.+)_\d{8}T\d{6}(\.previous)?\.log", path.name)
            if match is None or (ours is not None and match.group(1) not in ours):
                continue  # metrics, or another run's pod
            key = match.group(1) + (" (previous)" if match.group(2) else "")
            if key not in logs:
                logs[key] = path.read_text(errors="replace")
        return logs

    def save_pod_evidence(self, pod: str, suffix: str = "") -> None:
        deployment = self.deployment
        info = next((p for p in deployment.pods(include_deleted=True) if p.name == pod), None)
        if info is None:
            return
        directory = self.output_dir / info.service
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{pod}{suffix}.yaml").write_text(yaml.safe_dump(deployment.describe_pod(pod), sort_keys=False))
        metrics = deployment.metrics(pod)
        if metrics is not None:
            (directory / f"{pod}{suffix}.metrics.log").write_text(metrics)

    def write_timeline(self) -> None:
        lines = [f"{e.started_ns or 0} {e.ended_ns or 0} {type(e).__name__}: {e.description}" for e in self.events]
        if self.output_dir.exists():
            (self.output_dir / "events.txt").write_text("\n".join(lines) + "\n")


def run_scenario(deployment_spec: DeploymentSpec, events: Iterable[Event], checks: Iterable[Check],
                 reports: Iterable = (), platform: Platform | str = "local", output_dir: str | Path = "test_outputs",
                 test_name: str = "scenario", ready_timeout: float = DEFAULT_READY_TIMEOUT,
                 client_type: str = "aiperf", monitors: Iterable[Monitor] | None = None) -> ScenarioContext:
    """Deploy, run ``events`` in order, settle, keep evidence, tear down, then run ``reports``
    and ``checks`` (the first failing check raises `AssertionError`). Returns the context.
    ``monitors`` watch the scenario from deploy to teardown (default: `default_monitors`)."""
    events, checks = list(events), list(checks)
    validate_scenario(deployment_spec, events, checks)  # before anything is deployed
    if isinstance(platform, str):
        platform = get_platform(platform)
    ctx = ScenarioContext(deployment_spec, platform, fresh_directory(Path(output_dir) / slug(test_name)), test_name,
                          ready_timeout=ready_timeout, client_type=client_type)
    if monitors is not None:
        ctx.monitors = list(monitors)
    aborted = True
    started = time.monotonic()
    try:
        for event in events:
            ctx.run_event(event)
        ctx.settle()
        aborted = False
    finally:
        ctx.finish(aborted=aborted)
        log.info("scenario %s ran %.1f s", test_name, time.monotonic() - started)
    reports = list(reports)
    if not any(isinstance(report, TimelinePicture) for report in reports):
        reports.append(TimelinePicture())  # every scenario with a load gets its picture
    for report in reports:
        report.generate(ctx)
    for check in checks:
        log.info("check: %s", check.description)
        check.validate(ctx)
    return ctx
