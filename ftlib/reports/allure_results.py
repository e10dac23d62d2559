"""Allure results for behave runs: where they are written, and what each scenario carries.

`AllureResultsFormatter` is allure-behave's formatter, writing into
``<output_dir>/allure-results`` so that ``-D output_dir=…`` moves the results together with the
evidence (behave fixes a formatter's outfile before userdata could change it). An explicit
``-D AllureFormatter.results_dir=<dir>`` wins over that. The formatter also writes an
``environment.properties`` (platform, client, versions) that Allure shows on the report's front
page. ``behave --dry-run`` writes no results. Results of several runs accumulate (Allure shows re-runs as retries); remove the folder
for a fresh report.

`attach_scenario_evidence` attaches to the scenario's Allure test case, from behave's
``after_scenario`` hook (the test case is still open then): each load's aiperf summary (or the
load's own account when aiperf wrote none), the reports written, the resource summary, and for
a scenario that did not pass the tail of every pod's log and of ``scenario.log``.
"""

from __future__ import annotations

import logging
import platform as python_platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import allure
import allure_commons
from allure_behave.formatter import AllureFormatter

from ftlib.load.results import SUMMARY_FILE
from ftlib.reports.resources import ResourceHistory

if TYPE_CHECKING:
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.reports")
RESULTS_DIR_KEY = "AllureFormatter.results_dir"
RESULTS_SUBDIR = "allure-results"
LOG_TAIL_LINES = 200
_VERSIONS = ("behave", "allure-behave", "ai-dynamo", "ai-dynamo-runtime", "aiperf")


def results_dir(userdata, base_dir: str | Path | None) -> Path:
    """``-D AllureFormatter.results_dir``, else ``<output_dir>/allure-results``; a relative path
    is taken from the repository root (the folder above ``features/``), as evidence is."""
    chosen = userdata.get(RESULTS_DIR_KEY) or str(Path(userdata.get("output_dir") or "test_outputs") / RESULTS_SUBDIR)
    path = Path(chosen)
    if not path.is_absolute():
        root = Path(base_dir).resolve().parent if base_dir else Path.cwd()
        path = root / path
    return path


class AllureResultsFormatter(AllureFormatter):
    """allure-behave's formatter, writing where the run's evidence goes (see the module doc)."""

    def __init__(self, stream_opener, config):
        directory = results_dir(config.userdata, getattr(config, "base_dir", None))
        stream_opener.name = str(directory)  # AllureFileLogger's report directory
        super().__init__(stream_opener, config)
        if getattr(config, "dry_run", False):
            # behave --dry-run (a lint: nothing runs) must not add "skipped" results to the report
            allure_commons.plugin_manager.unregister(self.file_logger)
            return
        try:
            write_environment(directory, config.userdata)
        except OSError as error:
            log.warning("cannot write %s/environment.properties: %s", directory, error)


def write_environment(directory: Path, userdata) -> Path:
    """``environment.properties``: the run's options and the versions of the tools under test."""
    lines = {key: userdata.get(key) for key in ("platform", "client_type", "namespace", "output_dir")}
    for package in _VERSIONS:
        try:
            lines[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    lines["python"] = python_platform.python_version()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "environment.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in lines.items() if value))
    return path


# -- attachments ------------------------------------------------------------------------------
def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, saying how many were left out."""
    all_lines = text.splitlines()
    if len(all_lines) <= lines:
        return text
    return f"[… {len(all_lines) - lines} earlier lines omitted]\n" + "\n".join(all_lines[-lines:]) + "\n"


def attach_file(path: Path, name: str) -> None:
    """Attach a report file: JSON as JSON, everything else as plain text."""
    kind = allure.attachment_type.JSON if path.suffix == ".json" else allure.attachment_type.TEXT
    allure.attach.file(str(path), name=name, attachment_type=kind)


def attach_load_summaries(ctx: "ScenarioContext") -> None:
    for load in ctx.loads():
        results = load.results
        summary = results.directory / SUMMARY_FILE if results is not None and results.directory else None
        if summary is not None and summary.exists():
            attach_file(summary, f"aiperf summary: load {load.name!r}")
        else:
            text = results.describe() if results is not None else f"load {load.name!r}: no results were collected"
            notes = "".join(f"\n- {note}" for note in (results.notes if results is not None else []))
            allure.attach(f"aiperf wrote no summary.\n{text}{notes}\n", name=f"load results: load {load.name!r}",
                          attachment_type=allure.attachment_type.TEXT)


def attach_resource_summary(ctx: "ScenarioContext") -> None:
    for monitor in ctx.monitors:
        if isinstance(monitor, ResourceHistory) and monitor.samples:
            allure.attach(monitor.summary(), name="resources per pod", attachment_type=allure.attachment_type.TEXT)


def pod_log_files(output_dir: Path, pods: Iterable[str] | None = None) -> list[Path]:
    """The pod logs in the evidence layout: ``<Service>/<pod>_<ts>.log`` and ``.previous.log``;
    with ``pods``, only theirs (the folder may still hold logs of an earlier run)."""
    files = []
    wanted = None if pods is None else tuple(f"{pod}_" for pod in pods)
    for path in sorted(output_dir.glob("*/*.log")):
        if path.name.endswith(".metrics.log") or path.parent.name == "load":
            continue
        if wanted is None or path.name.startswith(wanted):
            files.append(path)
    return files


def attach_logs(ctx: "ScenarioContext", lines: int = LOG_TAIL_LINES) -> None:
    pods = None if ctx.deployment is None else [p.name for p in ctx.deployment.pods(include_deleted=True)]
    for path in pod_log_files(ctx.output_dir, pods):
        allure.attach(tail(path.read_text(errors="replace"), lines), name=f"{path.parent.name}/{path.name}",
                      attachment_type=allure.attachment_type.TEXT)
    scenario_log = ctx.output_dir / "scenario.log"
    if scenario_log.exists():
        allure.attach(tail(scenario_log.read_text(errors="replace"), lines), name="scenario.log",
                      attachment_type=allure.attachment_type.TEXT)


def attach_scenario_evidence(ctx: "ScenarioContext", reports: Iterable[Path], failed: bool) -> list[str]:
    """Attach everything (see the module doc) to the open Allure test case.

    Returns the problems met (for the caller to log: an attachment should never fail a
    scenario). Without the Allure formatter, every attach is a no-op.
    """
    problems = []
    steps = [("load summaries", lambda: attach_load_summaries(ctx)),
             ("reports", lambda: [attach_file(p, p.name) for p in reports if p.exists()]),
             ("resource summary", lambda: attach_resource_summary(ctx))]
    if failed:
        steps.append(("logs", lambda: attach_logs(ctx)))
    for what, action in steps:
        try:
            action()
        except Exception as error:  # noqa: BLE001
            problems.append(f"attaching {what} to the Allure results: {error}")
    return problems
