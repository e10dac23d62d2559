"""Allure results for behave runs: where they are written, how a scenario is filed, and what it carries.

Where: `AllureResultsFormatter` is allure-behave's formatter, writing into
``<output_dir>/allure-results`` so that ``-D output_dir=…`` moves the results together with the
evidence (behave fixes a formatter's outfile before userdata could change it). An explicit
``-D AllureFormatter.results_dir=<dir>`` wins over that. ``behave --dry-run`` writes no results.
Plain ``behave`` adds to the results already there; ``./run`` starts each run from an empty
results folder (`clear_earlier_results`, asked for by ``FT_FRESH_RESULTS=1``) unless
``FT_KEEP_RESULTS=1`` is set, and only once the run is known to start a scenario: a typo
(an unknown option, a selection that matches nothing) never costs the last run's results.

Front page: ``environment.properties`` (Allure's environment panel) names the platform, the
engine the workers run (``mocker`` on the local platform) and the versions of the tools.

Filing: each scenario is labelled parent suite = its feature, suite = its backend (vllm,
sglang, trtllm, mocker), sub-suite = its topology (agg, disagg), story = the kind of fault it
injected (``terminate process (SIGKILL)``, ``delete pod``… or ``no fault``), so the report's
tree reads feature / backend / topology.

Attachments (`attach_scenario_evidence`, from behave's ``after_scenario`` hook while the test
case is still open), each typed so Allure shows it rendered: the timeline picture (PNG, SVG),
the reports (Markdown, JSON), ``verdicts.json``, ``events.txt``, ``timeline.json``, the DGD as
applied (YAML), every request of each load as a table (``requests.csv``: id, start, end,
latency, outcome), each load's aiperf summary, the resource summary. For a scenario that did
not pass, also: the failed requests' ids (``failed requests.csv``; the frontend logs each
request's id, so they can be searched in its log), and each pod's log *around the fault
window* (`log_window`: from a few seconds before the first fault to a few seconds after the
last failure), with ANSI colour codes stripped, plus the tail of ``scenario.log``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import platform as python_platform
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import allure
import allure_commons
from allure_behave.formatter import AllureFormatter
from allure_commons.model2 import Label

from ftlib import evidence
from ftlib.console import checked_options
from ftlib.events.base import started_faults
from ftlib.load.results import SUMMARY_FILE
from ftlib.reports.resources import ResourceHistory

if TYPE_CHECKING:
    from ftlib.verdicts import Verdict
    from ftlib.events.base import Event
    from ftlib.load.results import RequestRecord
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
RESULTS_DIR_KEY = "AllureFormatter.results_dir"
RESULTS_SUBDIR = "allure-results"
KEEP_RESULTS_ENV = "FT_KEEP_RESULTS"
FRESH_RESULTS_ENV = "FT_FRESH_RESULTS"  # ./run sets it: clear the earlier results once a scenario is to run
LOG_TAIL_LINES = 200
LOG_LEAD_SECONDS = 5.0  # pod logs start this long before the first fault…
LOG_TRAIL_SECONDS = 5.0  # …and end this long after the last failure
LOG_WINDOW_MAX_LINES = 2000
_VERSIONS = ("behave", "allure-behave", "ai-dynamo", "ai-dynamo-runtime", "aiperf")
ENGINES = {"local": "mocker (dynamo.mocker, with the backend's engine type)",
           "kubernetes": "the backend's own engine (vllm, sglang, trtllm)"}
EVIDENCE_FILES = {  # evidence file -> attachment name; dgd*.yaml: what the kubernetes platform applied and saw
    "verdicts.json": "verdicts.json", "events.txt": "events.txt", "timeline.json": "timeline.json",
    "deployment_spec.yaml": "the DGD as applied (deployment_spec.yaml)", "dgd.yaml": "the DGD as applied (dgd.yaml)",
    "dgd_status.yaml": "the DGD's last status (dgd_status.yaml)"}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_LOG_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?")
ENVIRONMENT_FILE = "environment.properties"  # Allure's environment panel; this run's formatter writes it first
_RESULT_FILES = ("*-result.json", "*-container.json", "*-attachment.*", ENVIRONMENT_FILE)
MEDIA = {  # file suffix -> (MIME type, extension) Allure 3 renders
    ".png": ("image/png", "png"), ".svg": ("image/svg+xml", "svg"), ".md": ("text/markdown", "md"),
    ".json": ("application/json", "json"), ".csv": ("text/csv", "csv"), ".yaml": ("application/yaml", "yaml"),
    ".html": ("text/html", "html"), ".txt": ("text/plain", "txt"), ".log": ("text/plain", "txt"),
}


def results_dir(userdata, base_dir: str | Path | None) -> Path:
    """``-D AllureFormatter.results_dir``, else ``<output_dir>/allure-results``; a relative path
    is taken from the repository root (the folder above ``features/``), as evidence is."""
    chosen = userdata.get(RESULTS_DIR_KEY) or str(Path(userdata.get("output_dir") or "test_outputs") / RESULTS_SUBDIR)
    path = Path(chosen)
    if not path.is_absolute():
        root = Path(base_dir).resolve().parent if base_dir else Path.cwd()
        path = root / path
    return path


class _LabelHooks:
    """Makes ``allure.dynamic.label`` (and parent_suite, suite, sub_suite, story) work under
    behave, whose Allure listener ignores them: the label goes onto the open test case. A
    failed check (an ``AssertionError``: the system misbehaved) keeps its message, which names
    what was expected and seen, without the traceback through behave and ftlib; an error
    (broken: the test itself went wrong) keeps its traceback."""

    SINGLE = ("parentSuite", "suite", "subSuite", "severity")

    def __init__(self, listener) -> None:
        self.listener = listener

    @allure_commons.hookimpl
    def add_label(self, label_type, labels):
        test = self.listener.logger.get_test(None)
        if test is None:
            return
        name = getattr(label_type, "value", label_type)
        if name in self.SINGLE:
            test.labels = [label for label in test.labels if label.name != name]
        test.labels += [Label(name=name, value=str(value)) for value in labels]

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result):
        details = result.statusDetails
        if result.status == "failed" and details is not None:  # behave: an AssertionError (a check) failed
            details.trace = None


DRY_RUN_WORDS = ("1", "true", "yes", "on", "server")  # -D dry_run=server plans too: it creates nothing


class AllureResultsFormatter(AllureFormatter):
    """allure-behave's formatter, writing where the run's evidence goes (see the module doc)."""

    def __init__(self, stream_opener, config):
        base_dir = getattr(config, "base_dir", None)
        dry_run = getattr(config, "dry_run", False) or str(config.userdata.get("dry_run", "")).lower() in DRY_RUN_WORDS
        # behave makes its formatters before before_all runs: the options and the evidence folder are
        # checked here first, so a bad one is one message (exit 2), never a traceback from opening the folder
        checked_options(config.userdata, Path(base_dir).resolve().parent if base_dir else Path.cwd(), dry_run)
        directory = results_dir(config.userdata, base_dir)
        # AllureFileLogger's report directory, which it creates; behave --dry-run (a lint: nothing runs)
        # or -D dry_run=true (a plan) writes no result, not even when interrupted, and creates no folder:
        # its logger gets a folder that exists and is unregistered at once
        stream_opener.name = tempfile.gettempdir() if dry_run else str(directory)
        super().__init__(stream_opener, config)
        if dry_run:
            allure_commons.plugin_manager.unregister(self.file_logger)
            return
        self._labels = _LabelHooks(self.listener)
        allure_commons.plugin_manager.register(self._labels)
        try:
            write_environment(directory, config.userdata)
        except OSError as error:
            log.warning("cannot write %s/environment.properties: %s", directory, error)

    def close(self):
        try:
            super().close()
        finally:
            labels = getattr(self, "_labels", None)
            if labels is not None and allure_commons.plugin_manager.is_registered(labels):
                allure_commons.plugin_manager.unregister(labels)


def write_environment(directory: Path, userdata) -> Path:
    """``environment.properties``: the platform, the engine, the run's options and the versions
    of the tools under test."""
    platform = userdata.get("platform") or "local"
    lines = {"platform": platform, "engine": ENGINES.get(platform, "unknown")}
    lines.update({key: userdata.get(key) for key in ("client_type", "namespace", "output_dir")})
    for package in _VERSIONS:
        try:
            lines[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    lines["python"] = python_platform.python_version()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ENVIRONMENT_FILE
    path.write_text("".join(f"{key}={value}\n" for key, value in lines.items() if value))
    return path


def fresh_results(directory: Path, keep: Iterable[str] = ()) -> int:
    """Remove the Allure result files (results, containers, attachments, environment) of
    earlier runs from ``directory``, except the files named in ``keep``; anything else there is
    left alone. Returns how many."""
    removed, kept = 0, set(keep)
    for pattern in _RESULT_FILES:
        for path in Path(directory).glob(pattern):
            if path.is_file() and path.name not in kept:
                path.unlink()
                removed += 1
    return removed


def _set(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def clear_earlier_results(directory: Path, keep: Iterable[str] = ()) -> int:
    """Start ``./run``'s run from an empty results folder (`fresh_results`): called once the run
    is known to start a scenario (its options, selection and platform were checked), by the
    ``before_all`` hook or by the shard runner before its first child. Only when
    ``FT_FRESH_RESULTS=1`` asks for it (``./run`` sets it; plain behave adds to the results) and
    ``FT_KEEP_RESULTS=1`` does not keep them; says on the console what it removed."""
    if not _set(FRESH_RESULTS_ENV) or _set(KEEP_RESULTS_ENV):
        return 0
    removed = fresh_results(directory, keep)
    if removed:
        print(f"allure results: removed {removed} files of earlier runs from {directory} "
              f"({KEEP_RESULTS_ENV}=1 keeps them)", file=sys.stderr, flush=True)
    return removed


# -- labels ---------------------------------------------------------------------------------
def fault_kind(fault: "Event") -> str:
    """``terminate process (SIGKILL)``: the fault's type in words, with its signal if it has one."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(fault).__name__).lower()
    signal = getattr(fault, "signal", None)
    return f"{words} ({signal})" if isinstance(signal, str) and signal else words


def label_scenario(ctx: "ScenarioContext", feature: str | None) -> None:
    """File the open test case: feature / backend / topology, and a story per fault kind."""
    if feature:
        allure.dynamic.parent_suite(feature)
    allure.dynamic.suite(ctx.spec.backend)
    allure.dynamic.sub_suite(ctx.spec.topology)
    kinds = list(dict.fromkeys(fault_kind(e) for e in started_faults(ctx.events)))
    allure.dynamic.story(*(kinds or ["no fault"]))
    allure.dynamic.link(Path(ctx.output_dir).resolve().as_uri(), name=f"evidence: {ctx.output_dir}")


# -- attachments ------------------------------------------------------------------------------
def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, saying how many were left out."""
    all_lines = text.splitlines()
    if len(all_lines) <= lines:
        return text
    return f"[… {len(all_lines) - lines} earlier lines omitted]\n" + "\n".join(all_lines[-lines:]) + "\n"


def line_time_ns(line: str) -> int | None:
    """The RFC 3339 time stamp a log line starts with (Dynamo's ``2026-11-27T05:29:38.637620Z``,
    ``kubectl logs --timestamps``), in ns since the epoch; None if it has none."""
    match = _LOG_TIME.match(line.lstrip())
    if match is None:
        return None
    stamp, zone = match.group(1), match.group(2) or "Z"
    whole, _, fraction = stamp.partition(".")
    zone = "+00:00" if zone == "Z" else zone
    try:
        seconds = datetime.fromisoformat(whole + zone).timestamp()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


@dataclass
class LogWindow:
    """A stretch of time (ns since the epoch) to cut pod logs to, and why it was chosen."""

    start_ns: int
    end_ns: int
    why: str

    def cut(self, text: str, max_lines: int = LOG_WINDOW_MAX_LINES) -> str:
        """The lines of ``text`` (ANSI stripped) stamped inside the window; an unstamped line
        (a traceback, a marker) goes with the stamped line before it. With no stamp at all,
        the tail. A header says what was kept and left out."""
        lines = strip_ansi(text).splitlines()
        stamps, current = [], None
        for line in lines:
            current = line_time_ns(line) or current
            stamps.append(current)
        if not any(stamp is not None for stamp in stamps):
            return f"[no time stamps in this log: its last {LOG_TAIL_LINES} lines]\n" + tail("\n".join(lines))
        kept = [i for i, stamp in enumerate(stamps) if stamp is not None and self.start_ns <= stamp <= self.end_ns]
        before = kept[0] if kept else sum(1 for s in stamps if s is None or s < self.start_ns)
        after = len(lines) - (kept[-1] + 1) if kept else len(lines) - before
        cut_note = ""
        if len(kept) > max_lines:
            cut_note = f", of which the last {max_lines} are shown"
            kept = kept[-max_lines:]
        header = (f"[lines from {_utc(self.start_ns)} to {_utc(self.end_ns)} UTC ({self.why}): "
                  f"{len(kept)} kept{cut_note}; {before} earlier and {after} later lines left out]\n")
        return header + "\n".join(lines[i] for i in kept) + ("\n" if kept else "")


def _utc(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def log_window(ctx: "ScenarioContext") -> LogWindow | None:
    """From `LOG_LEAD_SECONDS` before the first fault (or the first failed request, without a
    fault) to `LOG_TRAIL_SECONDS` after the last failed request (or the last fault's end,
    when later). None when the scenario had neither a fault nor a failed request."""
    faults = started_faults(ctx.events)
    failed = [r for r in _records(ctx) if not r.ok]
    starts = [f.started_ns for f in faults] or [r.start_ns for r in failed]
    ends = [r.end_ns for r in failed] + [f.ended_ns or f.started_ns for f in faults]
    if not starts:
        return None
    first = "the first fault" if faults else "the first failed request"
    last = "the last failed request" if failed and max(r.end_ns for r in failed) >= max(ends) else "the last fault"
    lead, trail = int(LOG_LEAD_SECONDS * 1e9), int(LOG_TRAIL_SECONDS * 1e9)
    return LogWindow(min(starts) - lead, max(ends) + trail,
                     f"{LOG_LEAD_SECONDS:g} s before {first} to {LOG_TRAIL_SECONDS:g} s after {last}")


def _records(ctx: "ScenarioContext") -> list["RequestRecord"]:
    return [r for load in ctx.loads() if load.results is not None for r in load.results.records]


def requests_csv(records: list["RequestRecord"], origin_ns: int | None = None) -> str:
    """One row per request: its id, start and end (seconds since ``origin_ns``, default the
    first request's start), latency, and outcome."""
    origin = origin_ns if origin_ns is not None else min((r.start_ns for r in records), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["request id", "start (s)", "end (s)", "latency (s)", "outcome"])
    for r in records:
        writer.writerow([r.request_id or "-", f"{(r.start_ns - origin) / 1e9:.3f}", f"{(r.end_ns - origin) / 1e9:.3f}",
                         f"{(r.end_ns - r.start_ns) / 1e9:.3f}", "succeeded" if r.ok else r.failure])
    return out.getvalue()


def attach_file(path: Path, name: str | None = None) -> None:
    """Attach an evidence file typed by its suffix (PNG, SVG, Markdown, JSON, CSV, YAML…)."""
    mime, extension = MEDIA.get(path.suffix, ("text/plain", "txt"))
    allure.attach.file(str(path), name=name or path.name, attachment_type=mime, extension=extension)


def attach_text(text: str, name: str, suffix: str = ".txt") -> None:
    mime, extension = MEDIA[suffix]
    allure.attach(text, name=name, attachment_type=mime, extension=extension)


def attach_load_results(ctx: "ScenarioContext") -> None:
    """Each load's aiperf summary (or the load's own account) and every request as a table."""
    for load in ctx.loads():
        results = load.results
        summary = results.directory / SUMMARY_FILE if results is not None and results.directory else None
        if summary is not None and summary.exists():
            attach_file(summary, f"aiperf summary: load {load.name!r}")
        else:
            text = results.describe() if results is not None else f"load {load.name!r}: no results were collected"
            notes = "".join(f"\n- {note}" for note in (results.notes if results is not None else []))
            attach_text(f"aiperf wrote no summary.\n{text}{notes}\n", f"load results: load {load.name!r}")
        if results is not None and results.records:
            attach_text(requests_csv(results.records), f"requests.csv: load {load.name!r}", ".csv")


def attach_evidence_files(ctx: "ScenarioContext", reports: Iterable[Path]) -> None:
    """The reports written (the timeline picture first), then verdicts, events, platform timeline, DGD."""
    ordered = sorted({Path(p) for p in reports if Path(p).exists()}, key=lambda p: (p.suffix not in (".png", ".svg"),
                                                                                  p.name))
    for path in ordered:
        attach_file(path)
    for name, title in EVIDENCE_FILES.items():
        path = ctx.output_dir / name
        if path.exists():
            attach_file(path, title)


def attach_resource_summary(ctx: "ScenarioContext") -> None:
    for monitor in ctx.monitors:
        if isinstance(monitor, ResourceHistory) and monitor.samples:
            attach_text(monitor.summary(), "resources per pod", ".md")


def pod_log_files(output_dir: Path, pods: Iterable[str] | None = None) -> list[Path]:
    """The pod logs in the evidence layout: ``<Service>/<pod>_<ts>.log`` and ``.previous.log``;
    with ``pods``, only theirs (the folder may still hold logs of an earlier run)."""
    files = []
    wanted = None if pods is None else set(pods)
    for path in sorted(output_dir.glob("*/*.log")):
        parsed = evidence.parse_pod_log(path.name)  # None for metrics and other files
        if parsed is None or path.parent.name == "load":
            continue
        if wanted is None or parsed[0] in wanted:
            files.append(path)
    return files


def attach_failure_evidence(ctx: "ScenarioContext") -> None:
    """The failed requests' ids, each pod's log around the fault window, the tail of scenario.log."""
    failed = [r for r in _records(ctx) if not r.ok]
    if failed:
        origin = min(r.start_ns for r in _records(ctx))
        attach_text(requests_csv(failed, origin), "failed requests.csv (ids as the frontend logs them)", ".csv")
    window = log_window(ctx)
    pods = None if ctx.deployment is None else [p.name for p in ctx.deployment.pods(include_deleted=True)]
    for path in pod_log_files(ctx.output_dir, pods):
        text = path.read_text(errors="replace")
        body = window.cut(text) if window is not None else \
            "[no fault and no failed request: the log's tail]\n" + tail(strip_ansi(text))
        attach_text(body, f"{path.parent.name}/{path.name}")
    scenario_log = ctx.output_dir / "scenario.log"
    if scenario_log.exists():
        attach_text(tail(scenario_log.read_text(errors="replace")), "scenario.log")


def attach_scenario_evidence(ctx: "ScenarioContext", reports: Iterable[Path], failed: bool,
                             feature: str | None = None) -> list[str]:
    """Label the open Allure test case and attach everything (see the module doc).

    Returns the problems met (for the caller to log: an attachment should never fail a
    scenario). Without the Allure formatter, every call is a no-op.
    """
    problems = []
    steps = [("labels", lambda: label_scenario(ctx, feature)),
             ("reports and evidence files", lambda: attach_evidence_files(ctx, reports)),
             ("load results", lambda: attach_load_results(ctx)),
             ("resource summary", lambda: attach_resource_summary(ctx))]
    if failed:
        steps.append(("failure evidence", lambda: attach_failure_evidence(ctx)))
    for what, action in steps:
        try:
            action()
        except Exception as error:  # noqa: BLE001
            problems.append(f"attaching {what} to the Allure results: {error}")
    return problems


def attach_verdict(verdict: "Verdict") -> None:
    """A check's verdict on its own Allure step: the line (expected, observed, outcome) as the
    attachment's name, the details and evidence path inside."""
    attach_text(verdict.message() + "\n", f"verdict: {verdict.line}")
