"""A scenario: a deployment, a timeline of events, and checks on what happened.

`ScenarioContext` holds one scenario's state and owns its lifecycle (deploy, run events,
settle, collect evidence, tear down); behave's steps and hooks drive it one call at a time,
and `run_scenario` drives it in one go from plain Python.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from ftlib import evidence, interrupts, runs
from ftlib.checks import Check
from ftlib.errors import FtError, LoadError, SpecError
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
from ftlib.verdicts import Verdict, judge, raise_if_failed

log = logging.getLogger("ftlib.scenario")
DEFAULT_READY_TIMEOUT = 300.0


def default_monitors() -> list[Monitor]:
    """What watches every scenario unless told otherwise: the pods' CPU and memory."""
    return [ResourceHistory()]


def claim_evidence_folder(path: Path, scenario: str) -> evidence.EvidenceFolder:
    """This run's evidence folder for ``scenario``: locked against a second run, an earlier run's
    stamped folder replaced (stale aiperf files or logs are never read as this run's), a folder
    without the stamp refused and left alone. See `ftlib.evidence.EvidenceFolder`; the run
    itself is registered first (`ftlib.runs.start_run`)."""
    return evidence.EvidenceFolder.claim(path, scenario, runs.start_run().run)


SLUG_LENGTH = 120  # characters of a scenario's evidence folder name


def slug(text: str) -> str:
    """A file-system friendly name for a scenario: one that `ftlib.evidence.path_name` accepts
    (a scenario named ``..`` or ``.hidden`` never names the output folder or a hidden one)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_").lstrip(".")[:SLUG_LENGTH] or "scenario"


def unique_slug(name: str, taken: set[str]) -> str:
    """`slug` of ``name``, or, if another scenario of the run has it, the first of ``<slug>_2``,
    ``<slug>_3``… not in ``taken``, each cut before its number so the number always stays (two
    names that share their first `SLUG_LENGTH` characters still get two folders). The numbered
    candidates differ from each other (the digits after the last ``_`` are the number), so one of
    the first ``len(taken) + 1`` is free: the search is bounded."""
    base = slug(name)
    if base not in taken:
        return base
    numbered = (f"{base[:SLUG_LENGTH - len(f'_{number}')]}_{number}" for number in range(2, len(taken) + 3))
    return next(candidate for candidate in numbered if candidate not in taken)


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
    verdicts: list[Verdict] = field(default_factory=list)
    seed: int | None = None  # the loads' random seed (-D seed=N); chosen by the first load when None
    runtime_dir: Path | None = None  # this scenario's temporary folder (aiperf's TMPDIR), removed by finish
    _files_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- lifecycle ------------------------------------------------------------------------
    def deploy(self) -> Deployment:
        """Apply the spec and wait until every replica is ready (once)."""
        if self.deployment is None:
            self.spec.save(evidence.inside(self.output_dir / "deployment_spec.yaml"))
            self.runtime_dir = evidence.allow(tempfile.mkdtemp(prefix="dft-s-"))
            log.info("deploying %s on %s", self.spec.describe(), self.platform.name)
            self.deployment = self.platform.deploy(self.spec, self.output_dir)
            self.deployment.timeline.listeners.append(self._timeline_grew)
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
        try:
            event.run(self)
        finally:
            self.write_timeline()
        return event

    def settle(self) -> None:
        """Stop active events in reverse order (loads run to their end and are collected)."""
        for event in reversed(self.events):
            if event.active:
                event.stop(self)

    def check(self, check: Check) -> Verdict:
        """Settle, judge ``check`` on what was recorded and keep its verdict (``verdicts.json``);
        raise `CheckFailed` if it failed, its `FtError` if it could not judge."""
        self.settle()
        verdict = judge(check, self)
        raise_if_failed([verdict])
        return verdict

    def finish(self, aborted: bool = False, stopped_by: BaseException | None = None) -> list[str]:
        """Settle (or, after an error, stop loads at once), keep the evidence, tear down.

        Never raises: problems are returned (and logged) so the scenario's verdict stands; one that
        only repeats ``stopped_by``, the error that stopped the scenario (shown already), is logged
        as such and not returned. A SIGINT or SIGTERM meanwhile waits until it is done
        (`ftlib.interrupts.deferred`).
        """
        with interrupts.deferred("cleanup"):
            return _not_repeating(self._finish(aborted), stopped_by)

    def _finish(self, aborted: bool) -> list[str]:
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
        if self.deployment is not None and self._timeline_grew in self.deployment.timeline.listeners:
            self.deployment.timeline.listeners.remove(self._timeline_grew)  # the files are final now
        if self.runtime_dir is not None:
            evidence.forget(self.runtime_dir)
            try:
                evidence.remove_tree(self.runtime_dir, root=tempfile.gettempdir())
            except (OSError, evidence.OutsideEvidence) as error:
                problems.append(f"removing the scenario's temporary folder: {error}")
        return problems

    # -- loads ----------------------------------------------------------------------------
    def new_load_runner(self, name: str, config: LoadConfig):
        """A load runner (aiperf, or the built-in ``legacy`` client) aimed at the frontend."""
        tokenizer = config.tokenizer or self.platform.tokenizer_for(self.spec)
        model = config.model_name or self.spec.model_name
        output_dir = evidence.inside(self.output_dir / "load" / evidence.path_name(name, "load name"))
        remote = self.deployment.load_runner(name, config, self.client_type, model, tokenizer, output_dir)
        if remote is not None:
            return remote
        if self.client_type == "legacy":
            from ftlib.load.legacy import LegacyLoad as runner
        else:
            return AiperfLoad(name, config, self.deployment.frontend_url, model, tokenizer, output_dir,
                              temp_dir=self.runtime_dir / f"a{len(self.loads())}" if self.runtime_dir else None)
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
        if event.results is None:
            raise LoadError(f"load {name!r} has no results: {event.failure or 'its client never started'}")
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
            parsed = evidence.parse_pod_log(path.name)
            if parsed is None or (ours is not None and parsed[0] not in ours):
                continue  # metrics, or another run's pod
            key = parsed[0] + (" (previous)" if parsed[1] else "")
            if key not in logs:
                logs[key] = path.read_text(errors="replace")
        return logs

    def save_pod_evidence(self, pod: str, suffix: str = "") -> None:
        deployment = self.deployment
        info = next((p for p in deployment.pods(include_deleted=True) if p.name == pod), None)
        if info is None:
            return
        directory = self.output_dir / evidence.path_name(info.service, "service name")
        description = yaml.safe_dump(deployment.describe_pod(pod), sort_keys=False)
        evidence.write_text(evidence.pod_file(directory, pod, info.created_ns, "description", suffix), description)
        metrics = deployment.metrics(pod)
        if metrics is not None:
            evidence.write_text(evidence.pod_file(directory, pod, info.created_ns, "metrics", suffix), metrics)

    def load_start_ns(self) -> int | None:
        """When the first load's requests were flowing (its start event's end), the zero of the
        relative times in ``events.txt`` and ``timeline.json``; None before any load started."""
        starts = [e.ended_ns for e in self.loads() if e.ended_ns is not None]
        return min(starts) if starts else None

    def write_timeline(self) -> None:
        """Write ``events.txt`` and ``timeline.json`` as they are now (called after each event, on
        each platform timeline entry and at the end, so an interrupt never loses them; each file is
        replaced whole, never left half-written).

        ``events.txt``: one line per event, ``<started_ns> <ended_ns> <t_start> <t_end> <Event>:
        <description>``; the ``t`` are seconds from the load's start (`load_start_ns`), signed, or
        ``-`` before any load started.

        ``timeline.json``: a JSON list, one object per thing the platform saw, in order:
        ``{"ns": int (ns since the epoch, aiperf's clock), "kind": str (pod_created, pod_ready,
        pod_unready, container_died, container_restarted, pod_deleted, deployment_ready,
        deployment_unready, rollout_started, rollout_complete…), "pod": str, "service": str,
        "detail": str, "t": float | null (seconds from the load's start, ms precision), "time":
        str (UTC, ``HH:MM:SS.mmm``)}``.
        """
        with self._files_lock:
            zero = self.load_start_ns()
            lines = [f"{e.started_ns or 0} {e.ended_ns or 0} {_relative(e.started_ns, zero)} "
                     f"{_relative(e.ended_ns, zero)} {type(e).__name__}: {e.description}" for e in self.events]
            entries = [dict(asdict(entry), t=_seconds(entry.ns, zero), time=_clock(entry.ns))
                       for entry in (self.deployment.timeline.since(0) if self.deployment is not None else [])]
            try:
                _replace(self.output_dir / "events.txt", "\n".join(lines) + "\n")
                if self.deployment is not None:
                    _replace(self.output_dir / "timeline.json", json.dumps(entries, indent=1) + "\n")
            except Exception as error:  # noqa: BLE001 - writing evidence never stops the platform's supervisor
                log.warning("writing events.txt/timeline.json: %s", error)

    def _timeline_grew(self, entry) -> None:  # noqa: ARG002 - a Timeline listener
        self.write_timeline()


def _not_repeating(problems: list[str], stopped_by: BaseException | None) -> list[str]:
    """The teardown ``problems`` (each logged as an error) but those that repeat ``stopped_by``'s
    message: logged as repeats, not returned, so the one error is shown once."""
    said = str(stopped_by) if stopped_by is not None else ""
    kept = []
    for problem in problems:
        if said and said in problem:
            log.info("teardown repeated the error that stopped the scenario: %s", problem)
        else:
            log.error("%s", problem)
            kept.append(problem)
    return kept


def _seconds(ns: int | None, zero: int | None) -> float | None:
    return None if ns is None or zero is None else round((ns - zero) / 1e9, 3)


def _relative(ns: int | None, zero: int | None) -> str:
    seconds = _seconds(ns, zero)
    return "-" if seconds is None else f"{seconds:+.3f}"


def _clock(ns: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ns / 1e9)) + f".{ns % 1_000_000_000 // 1_000_000:03d}"


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole: a partial file renamed over it, inside the evidence folder."""
    partial = evidence.inside(path.with_name(path.name + ".partial"))
    partial.write_text(text)
    os.replace(partial, evidence.inside(path))


def run_scenario(deployment_spec: DeploymentSpec, events: Iterable[Event], checks: Iterable[Check],
                 reports: Iterable = (), platform: Platform | str = "local", output_dir: str | Path = "test_outputs",
                 test_name: str = "scenario", ready_timeout: float = DEFAULT_READY_TIMEOUT,
                 client_type: str = "aiperf", monitors: Iterable[Monitor] | None = None,
                 seed: int | None = None) -> ScenarioContext:
    """Deploy, run ``events`` in order, settle, keep evidence, tear down, then run ``reports``
    and ``checks``: every check is judged (``ctx.verdicts``, ``verdicts.json``); then a check that
    could not judge raises its `FtError`, else `CheckFailed` lists every failed one. Returns the context.
    ``monitors`` watch the scenario from deploy to teardown (default: `default_monitors`); ``seed``
    is the loads' random seed (None: chosen at random and logged, see `StartLoad.seeded`)."""
    events, checks = list(events), list(checks)
    validate_scenario(deployment_spec, events, checks)  # before anything is deployed
    if isinstance(platform, str):
        platform = get_platform(platform)
    folder = claim_evidence_folder(Path(output_dir) / slug(test_name), test_name)
    ctx = ScenarioContext(deployment_spec, platform, folder.path, test_name,
                          ready_timeout=ready_timeout, client_type=client_type, seed=seed)
    if monitors is not None:
        ctx.monitors = list(monitors)
    aborted = True
    started = time.monotonic()
    try:
        try:
            for event in events:
                ctx.run_event(event)
            ctx.settle()
            aborted = False
        finally:
            ctx.finish(aborted=aborted)
            log.info("scenario %s ran %.1f s", test_name, time.monotonic() - started)
        return _judge(ctx, list(reports), checks)
    finally:
        folder.release()


def _judge(ctx: ScenarioContext, reports: list, checks: list[Check]) -> ScenarioContext:
    """`run_scenario`'s end: reports, then every check judged on what was recorded."""
    reports = list(reports)
    if not any(isinstance(report, TimelinePicture) for report in reports):
        reports.append(TimelinePicture())  # every scenario with a load gets its picture
    for report in reports:
        report.generate(ctx)
    errors = []
    for check in checks:
        try:
            judge(check, ctx)
        except FtError as error:
            errors.append(error)
    if errors:
        raise errors[0]
    raise_if_failed(ctx.verdicts)
    return ctx
