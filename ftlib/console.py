"""What a behave run shows on the console, and what it refuses before anything runs.

- Logging: the console shows warnings and errors only; ftlib's INFO lines go to each
  scenario's ``scenario.log`` (``tail -f`` it to follow a run), never between progress dots.
- One line per scenario when it ends: its status, wall time, every verdict with its numbers and
  the evidence folder (`scenario_line`).
- The selection: ``-n``/``--tags`` that match no scenario are an error; a selection that brings
  in ``@weekly`` rows says so at the start (`check_selection`).
- A step's error raised on purpose (`FtError`, `OSError`) is its message, not a traceback; any
  other error is its message and where its traceback was kept, ``scenario.log`` (`StepErrorLines`).
- An option error is one message and a non-zero exit (`exit_with`, `checked_options`), not
  behave's abort summary; so is a platform that cannot work, e.g. no cluster (`check_platform`).
- A dry run ends with one line: how many scenarios, which backends, an estimated wall time from
  the plans (`DryRunTally`).
- Any other run ends with what a person wants to know (`run_summary`): the wall time, where the
  evidence and the report are, and ``scenarios: N passed, N failed`` (`RunTally`), not behave's
  counts of every scenario the selection left out.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from behave.formatter.base import Formatter, StreamOpener
from behave.model import ScenarioOutline

from ftlib.errors import FtError, SpecError
from ftlib.events.base import Event
from ftlib.events.faults import FreezeProcess
from ftlib.events.load import StartLoad, StopLoad, WaitForLoadCompletion
from ftlib.events.time import Wait
from ftlib.options import RunOptions
from ftlib.platform import get_platform
from ftlib.verdicts import CheckFailed

if TYPE_CHECKING:
    from ftlib.bdd import GherkinScenario
    from ftlib.verdicts import Verdict

STARTUP_SECONDS = 10.0  # measured on the local platform: deploy until ready, plus aiperf's start-up
WEEKLY_TAG = "weekly"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
FTLIB = Path(__file__).resolve().parent


def exit_with(message: str, code: int = 2) -> None:
    """Print ``message`` alone and end the run at once with ``code``. Only for errors found
    before any scenario starts (nothing to clean up yet): behave would otherwise print "ABORTED:
    By user" and a summary in which nothing failed."""
    sys.stdout.flush()
    print(f"dynamo-ft: {message}", file=sys.__stderr__, flush=True)
    os._exit(code)


def checked_options(userdata, repo_root: Path, planning_only: bool = False) -> RunOptions:
    """The run's options (``-D``), with the evidence folder checked: created and proved writable,
    or, when the run only plans (``-D dry_run=true``, behave's ``--dry-run``), checked without
    creating anything. A bad option or folder is one message and exit code 2 (`exit_with`). The
    Allure formatter calls this before it opens its folder, and ``before_all`` again."""
    try:
        options = RunOptions.from_userdata(userdata)
        options.check_output_dir(repo_root, create=not (planning_only or options.dry_run))
    except SpecError as error:
        exit_with(str(error))
    return options


def check_platform(options: RunOptions) -> list[str]:
    """What the platform needs before the first scenario (`Platform.preflight`: on kubernetes a
    kubeconfig and an API that answers, the CRD, the namespace, the permissions), checked once;
    what is missing is one message and exit code 2 (`exit_with`), never a traceback per scenario.
    A dry run needs no cluster and checks nothing (a server dry run does need it). The
    platform's retry warnings stay off the console meanwhile: the one message says what was tried."""
    if options.dry_run is True:
        return []
    platform_log = logging.getLogger("ftlib.platform")
    level = platform_log.level
    platform_log.setLevel(logging.ERROR)
    try:
        return get_platform(options.platform, options=options).preflight()
    except FtError as error:
        exit_with(str(error))
    finally:
        platform_log.setLevel(level)
    return []


def setup_logging() -> None:
    """Console: warnings and errors; ftlib logs INFO and up to the file handlers the scenarios
    add (``scenario.log``). behave's own "SKIP …" notices stay off the console."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
    root = logging.getLogger()
    root.addHandler(console)
    root.setLevel(logging.INFO)
    logging.getLogger("ftlib").setLevel(logging.INFO)
    logging.getLogger("behave").setLevel(logging.ERROR)


# -- the selection ----------------------------------------------------------------------------------
def selected_scenarios(features: Iterable, config) -> list:
    """The scenarios ``config`` (tags, names, default tags) selects from ``features``."""
    return [scenario for feature in features for scenario in feature.walk_scenarios()
            if scenario.should_run(config)]


def check_selection(features: Iterable, config) -> list:
    """The selected scenarios; none is an error (`exit_with`). A selection with ``@weekly``
    rows says so on the console first."""
    features = list(features)
    selected = selected_scenarios(features, config)
    if not selected:
        asked = [f"--tags {' '.join(str(t) for t in config.tags)}" if getattr(config, "tags", None) else "",
                 f"-n {' -n '.join(config.name)}" if config.name else ""]
        total = sum(len(feature.walk_scenarios()) for feature in features)
        exit_with(f"no scenario matches {' '.join(a for a in asked if a) or 'the default tags'} "
                  f"(of {total} scenarios in {len(features)} feature files); nothing to run")
    weekly = [s for s in selected if WEEKLY_TAG in s.effective_tags]
    if weekly:
        print(f"note: this selection includes {_count(len(weekly), f'@{WEEKLY_TAG} scenario')} (the long matrix rows, left out "
              f"unless --tags brings them in)", file=sys.stderr, flush=True)
    return selected


def outline_row_name(template: str, row: Mapping[str, str], rows: Iterable[Mapping[str, str]]) -> str:
    """The name an outline row's evidence folder is made from: the outline's name with the row's
    values (``<backend> <topology> x<replicas>: …`` -> ``mocker agg x1: …``), and, only when another
    of the outline's ``rows`` would get the same name, the row's values the name does not hold
    (``… (max_errors 25, min_ok 80)``). Never the example group's title or the row's number: the
    name follows from the outline and the row alone, so it stays the same whatever else a run
    selects. Rows equal in every value share it (`ftlib.scenario.unique_slug` then numbers them)."""
    name = _rendered(template, row)
    if sum(_rendered(template, other) == name for other in rows) <= 1:
        return name
    rest = [f"{key} {value}" for key, value in row.items() if f"<{key}>" not in template]
    return f"{name} ({', '.join(rest)})" if rest else name


def _rendered(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace(f"<{key}>", value)
    return template


def evidence_name(scenario) -> str:
    """The name a behave scenario's evidence folder is made from (`ftlib.scenario.unique_slug`
    makes it a folder): its name, or for a row of a Scenario Outline `outline_row_name`, which
    leaves out the example group's title behave adds (``… -- @1.4 one row per backend``)."""
    outline, row = getattr(scenario, "parent", None), getattr(scenario, "_row", None)
    if row is None or not isinstance(outline, ScenarioOutline):
        return scenario.name
    rows = [dict(other.items()) for examples in outline.examples if examples.table is not None
            for other in examples.table.rows]
    return outline_row_name(outline.name, dict(row.items()), rows)


# -- dry run -----------------------------------------------------------------------------------------
def estimate_seconds(events: Iterable[Event]) -> float:
    """How long a scenario's timeline takes, from its plan: waits and freezes block, loads run
    in the background until their duration (or an estimate for a request count) is over or they
    are stopped, and the scenario settles when every load ended. Recovery waits are event-driven
    and not counted; `STARTUP_SECONDS` is added for the deployment and the load client."""
    now, load_ends = 0.0, {}
    for event in events:
        if isinstance(event, StartLoad):
            load_ends[event.name] = now + event.load_config.expected_seconds
        elif isinstance(event, (Wait, FreezeProcess)):
            now += event.duration
        elif isinstance(event, WaitForLoadCompletion):
            now = max(now, load_ends.pop(event.name, now))
        elif isinstance(event, StopLoad):
            load_ends.pop(event.name, None)
    return max([now, *load_ends.values()]) + STARTUP_SECONDS


@dataclass
class DryRunTally:
    """What a dry run planned: scenarios, backends, estimated seconds."""

    scenarios: int = 0
    backends: set[str] = field(default_factory=set)
    seconds: float = 0.0
    judged: int = 0  # manifests a server dry run sent (-D dry_run=server)
    refused: list[str] = field(default_factory=list)  # what the server refused or pruned

    def add(self, ft: "GherkinScenario") -> None:
        self.scenarios += 1
        if ft.spec is not None:
            self.backends.add(ft.spec.backend)
        self.seconds += estimate_seconds(ft.events)

    def line(self) -> str:
        backends = ", ".join(sorted(self.backends)) or "none"
        line = (f"dry run: {_count(self.scenarios, 'scenario')} planned, backends: {backends}; estimated wall time "
                f"{_duration(self.seconds)} (an estimate: load durations and waits from the plans, plus "
                f"~{STARTUP_SECONDS:g} s start-up per scenario; recoveries add more)")
        if self.judged:
            line += (f"\nserver dry run: {_count(self.judged, 'manifest')} sent, {self.judged - len(self.refused)} accepted "
                     f"whole, {len(self.refused)} refused or pruned")
        return line


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def is_verdict(error: BaseException | None, trace) -> bool:
    """Whether a step's exception is a verdict (shown by its message, without a traceback): a
    `CheckFailed`, or an `AssertionError` ftlib raised on purpose (the deployment did not recover).
    An error (`FtError`, a bug) keeps its traceback."""
    if isinstance(error, CheckFailed):
        return True
    if not isinstance(error, AssertionError) or trace is None:
        return False
    return Path(traceback.extract_tb(trace)[-1].filename).resolve().is_relative_to(FTLIB)


# -- a step's error -------------------------------------------------------------------------------------
ERROR_LINE = "ft_error_line"  # the attribute of a behave step that holds its one-line error for the console
ON_PURPOSE = (FtError, OSError)  # raised by the suite with a message that says it all (OSError: names its file)


def raised_on_purpose(error: BaseException | None) -> bool:
    """An `FtError` (a platform, load, fault or target that failed, an input found bad) or an
    `OSError` (a file that could not be written, named in its message): shown by its message."""
    return isinstance(error, ON_PURPOSE)


def error_line(error: BaseException, scenario_log: Path | None) -> str | None:
    """The one line the console shows for a step that raised ``error``: its message when it was
    raised on purpose; for any other error its message and where its traceback was kept
    (``scenario_log``). None when there is no such file: behave's traceback stays."""
    line = f"{type(error).__name__}: {error}"
    if raised_on_purpose(error):
        return line
    if scenario_log is None:
        return None
    return f"{line} (an unexpected error: its traceback is in {_shown(scenario_log)})"


def log_record(step, error: BaseException, trace) -> logging.LogRecord:
    """``error`` of ``step`` with its traceback, as a record for the scenario's log file."""
    return logging.LogRecord("ftlib.steps", logging.ERROR, str(step.filename), step.line, "step %r raised %s",
                             (f"{step.keyword} {step.name}", type(error).__name__), (type(error), error, trace))


class StepErrorLines(Formatter):
    """Runs before every console formatter (first in behave's list): a step whose one-line error
    the ``after_step`` hook set (`ERROR_LINE`) shows that line instead of behave's traceback."""

    name = "ft-step-errors"

    def __init__(self, config) -> None:
        super().__init__(StreamOpener(stream=io.StringIO()), config)

    def result(self, step) -> None:
        line = getattr(step, ERROR_LINE, None)
        if line:
            step.error_message = line


def list_failed_checks(steps: Iterable, verdicts: Iterable["Verdict"]) -> None:
    """Make the scenario's message list every failed check: reports (Allure) take a scenario's
    message from its first failed step, which holds only its own check."""
    failed = [v for v in verdicts if v.status == "failed"]
    first = next((step for step in steps if step.status.name != "passed"), None)
    if len(failed) > 1 and first is not None and isinstance(first.exception, CheckFailed):
        first.exception = CheckFailed(failed)


# -- the end of a scenario -----------------------------------------------------------------------------
def scenario_line(status: str, seconds: float, verdicts: Iterable["Verdict"], output_dir: Path) -> str:
    """``  passed in 48.2 s: errors ≤ 35: 5 of 152 failed — ok; … | evidence: <folder>``"""
    judged = "; ".join(v.line if v.status != "broken" else f"{v.expected} — could not judge"
                       for v in verdicts) or "no checks"
    return f"  {status} in {seconds:.1f} s: {judged} | evidence: {_shown(output_dir)}"


# -- the end of a run ----------------------------------------------------------------------------------
NOT_RUN = ("skipped", "untested")  # behave's statuses of a selected scenario that did not run (--stop, interrupted)
REPORT_COMMAND = "./run report"  # scripts/report.sh: renders the Allure results into one HTML file
DEFAULT_RESULTS = Path("test_outputs") / "allure-results"  # where ./run report looks without arguments


@dataclass
class RunTally:
    """How the scenarios a run selected ended. ``failed`` counts every scenario that ran and did
    not pass; ``errored`` says how many of those an error stopped (behave's error, hook_error,
    undefined…) rather than a check. The closing line keeps the shard runner's format, which CI
    reads: ``scenarios: N passed, N failed`` (then `` (N errored)``, ``, N skipped`` when any)."""

    passed: int = 0
    failed: int = 0
    errored: int = 0
    skipped: int = 0
    not_passed: list[str] = field(default_factory=list)  # "failed  features/x.feature:12  <name>", one each

    def add(self, status: str, where: str = "") -> None:
        if status == "passed":
            self.passed += 1
        elif status in NOT_RUN:
            self.skipped += 1
        else:
            self.failed += 1
            self.errored += status != "failed"
            if where:
                self.not_passed.append(f"{status}  {where}")

    @classmethod
    def of(cls, scenarios: Iterable) -> "RunTally":
        tally = cls()
        for scenario in scenarios:
            tally.add(scenario.status.name, f"{scenario.location}  {scenario.name}")
        return tally

    def closing_line(self) -> str:
        return (f"scenarios: {self.passed} passed, {self.failed} failed"
                + (f" ({self.errored} errored)" if self.errored else "")
                + (f", {self.skipped} skipped" if self.skipped else ""))


def report_command(results: Path, repo_root: Path) -> str:
    """The command that renders the Allure results in ``results`` (`REPORT_COMMAND`, run from
    ``repo_root``), with the folder, absolute, when it is not the default one."""
    results = Path(results).resolve()
    return REPORT_COMMAND if results == (repo_root / DEFAULT_RESULTS).resolve() else f"{REPORT_COMMAND} {results}"


def run_summary(tally: RunTally, seconds: float, evidence_root: Path, results: Path, repo_root: Path,
                workers: int | None = None, not_run: int = 0) -> list[str]:
    """The lines a run ends with: its wall time, where the evidence and the report are (the
    command that renders it, `report_command`), the scenarios that did not pass, then the counts
    (`RunTally.closing_line`, last)."""
    wall = f"wall time {seconds:.1f} s" + (f" with {workers} worker processes" if workers else "")
    if not_run:
        wall += f"; {not_run} scenarios not run (interrupted)"
    report = Path(results).parent / "allure-report" / "index.html"
    listed = ["did not pass:", *(f"  {line}" for line in tally.not_passed)] if tally.not_passed else []
    return [wall,
            f"evidence: {_shown(evidence_root)}/<scenario>/ (one folder per scenario; Allure results in "
            f"{_shown(results)})",
            f"report: {report_command(results, repo_root)} (renders them into {_shown(report)}, which any browser opens)",
            *listed, tally.closing_line()]


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = ["exit_with", "checked_options", "check_platform", "setup_logging", "check_selection", "selected_scenarios", "estimate_seconds", "DryRunTally",
           "scenario_line", "is_verdict", "list_failed_checks", "raised_on_purpose", "error_line", "log_record",
           "StepErrorLines", "ERROR_LINE",
           "STARTUP_SECONDS", "RunTally", "run_summary", "report_command", "evidence_name",
           "outline_row_name"]
