"""ftlib.reports.allure_results: how a scenario is labelled and what it carries, recorded at
allure-commons' plugin boundary (the hooks `allure.attach` and `allure.dynamic.*` call), on a
scenario rebuilt from a real run (tests/data/timeline/worker_killed) and real pod logs' format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import allure_commons
import pytest

from ftlib.events.faults import TerminateProcess
from ftlib.reports import allure_results as ar
from ftlib.reports.timeline_picture import TimelinePicture
from tests.test_console import REPO_ROOT, feature_folder, own_run_registry  # noqa: F401 - own_run_registry: a fixture
from tests.test_timeline_picture import recorded

ONE_SCENARIO = """Feature: one
  Scenario: one load that went well
    Given a mocker agg deployment
    When a load made 5 good requests and 0 failed ones
    Then there are no errors
"""

# a line as Dynamo writes it to a pod's log (colours included), and a line without a stamp
DYNAMO_LINE = ("\x1b[2m2026-11-27T05:29:56.704163Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[1mhttp-request\x1b[0m: "
               "request received \x1b[3mrequest_id\x1b[0m\x1b[2m=\x1b[0m1c31d928")


class Recorder:
    """Stands where the Allure listener stands: every attachment and label it is given."""

    def __init__(self) -> None:
        self.attachments: list[tuple[str, str, str, bytes]] = []  # (name, mime, extension, body)
        self.labels: list[tuple[str, tuple]] = []

    @allure_commons.hookimpl
    def attach_data(self, body, name, attachment_type, extension):
        self.attachments.append((name, attachment_type, extension, body.encode() if isinstance(body, str) else body))

    @allure_commons.hookimpl
    def attach_file(self, source, name, attachment_type, extension):
        with open(source, "rb") as f:
            self.attachments.append((name, attachment_type, extension, f.read()))

    @allure_commons.hookimpl
    def add_label(self, label_type, labels):
        self.labels.append((getattr(label_type, "value", label_type), tuple(labels)))

    def named(self, name: str) -> tuple[str, str, bytes]:
        found = [(mime, ext, body) for n, mime, ext, body in self.attachments if n == name]
        assert found, f"no attachment {name!r}; attached: {[a[0] for a in self.attachments]}"
        return found[0]


@pytest.fixture
def recorder():
    plugin = Recorder()
    allure_commons.plugin_manager.register(plugin)
    yield plugin
    allure_commons.plugin_manager.unregister(plugin)


@pytest.fixture
def killed(tmp_path):
    """The worker-killed run, with its evidence files and one pod log written where a run puts them."""
    ctx = recorded("worker_killed", tmp_path)
    ctx.output_dir.mkdir(parents=True)
    for name in ("events.txt", "timeline.json"):
        (ctx.output_dir / name).write_text((ar.Path(__file__).parent / "data/timeline/worker_killed" / name).read_text())
    (ctx.output_dir / "deployment_spec.yaml").write_text("apiVersion: nvidia.com/v1alpha1\nkind: DynamoGraphDeployment\n")
    (ctx.output_dir / "verdicts.json").write_text("[]\n")
    fault = next(e for e in ctx.events if e.is_fault)
    log = (ctx.output_dir / "decode")
    log.mkdir()
    lines = [_stamped(fault.started_ns + offset * 1_000_000_000, f"line at {offset:+d} s") for offset in range(-30, 31, 2)]
    lines.insert(20, "Traceback (most recent call last): belongs to the line before it")
    (log / "pod-a_20261127T052938.log").write_text("\n".join(lines) + "\n")
    pod = type("Pod", (), {"name": "pod-a"})()
    ctx.deployment = type("TornDown", (), {"timeline": ctx.deployment.timeline, "pods": lambda self, **_: [pod]})()
    return ctx


def _stamped(ns: int, text: str) -> str:
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"\x1b[2m{stamp}.{ns % 1_000_000_000:09d}Z\x1b[0m \x1b[32m INFO\x1b[0m {text}"


# -- labels ------------------------------------------------------------------------------------

def test_a_scenario_is_filed_by_feature_backend_topology_and_fault_kind(killed, recorder):
    killed.events[2] = TerminateProcess(services=["decode"], process_name="dynamo.mocker")
    killed.events[2].started_ns = 1

    ar.label_scenario(killed, "Worker failures under load")

    assert recorder.labels == [("parentSuite", ("Worker failures under load",)), ("suite", ("mocker",)),
                               ("subSuite", ("agg",)), ("story", ("terminate process (SIGKILL)",))]


def test_a_scenario_without_a_fault_is_filed_under_no_fault(killed, recorder):
    killed.events = [e for e in killed.events if not e.is_fault]
    ar.label_scenario(killed, None)
    assert ("story", ("no fault",)) in recorder.labels


def test_the_environment_panel_names_the_platform_and_the_engine(tmp_path):
    text = ar.write_environment(tmp_path, {"platform": "local", "client_type": "aiperf"}).read_text()
    assert "platform=local\n" in text and "engine=mocker" in text and "behave=" in text


# -- attachments -------------------------------------------------------------------------------

def test_every_evidence_file_is_attached_with_a_type_allure_renders(killed, recorder):
    written = TimelinePicture().generate(killed)
    assert ar.attach_scenario_evidence(killed, written, failed=False, feature="f") == []

    assert recorder.attachments[0][0] == "timeline.png"  # the picture comes first
    assert recorder.named("timeline.png")[:2] == ("image/png", "png")
    assert recorder.named("timeline.svg")[:2] == ("image/svg+xml", "svg")
    assert recorder.named("verdicts.json")[:2] == ("application/json", "json")
    assert recorder.named("timeline.json")[:2] == ("application/json", "json")
    assert recorder.named("events.txt")[:2] == ("text/plain", "txt")
    assert recorder.named("the DGD as applied (deployment_spec.yaml)")[:2] == ("application/yaml", "yaml")
    mime, _, body = recorder.named("requests.csv: load 'default'")
    rows = body.decode().splitlines()
    assert mime == "text/csv" and rows[0] == "request id,start (s),end (s),latency (s),outcome" and len(rows) == 125
    assert not any(name.endswith(".log") for name, *_ in recorder.attachments)  # logs only for a failure


def test_a_report_in_markdown_is_attached_as_markdown(tmp_path, recorder):
    report = tmp_path / "fault_tolerance_report.md"
    report.write_text("# Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    ar.attach_file(report)
    assert recorder.named("fault_tolerance_report.md")[:2] == ("text/markdown", "md")


def test_a_failed_scenario_gets_the_failed_request_ids_and_pod_logs_cut_to_the_fault_window(killed, recorder):
    ar.attach_scenario_evidence(killed, [], failed=True, feature="f")

    failed = recorder.named("failed requests.csv (ids as the frontend logs them)")[2].decode().splitlines()
    assert len(failed) == 1 + 6 and all(len(row.split(",")[0]) == 36 for row in failed[1:])  # six uuids
    assert "stream cut (no output)" in failed[1] and "503 Service Unavailable" in failed[-1]
    log = recorder.named("decode/pod-a_20261127T052938.log")[2].decode()
    assert "\x1b[" not in log
    kept = [line for line in log.splitlines()[1:]]
    # the first fault at +0 s, the last failure 5.8 s after it: lines from -5 s to +10.8 s
    assert kept[0].endswith("line at -4 s") and kept[-1].endswith("line at +10 s")
    assert "Traceback (most recent call last)" in log  # an unstamped line goes with the line before it
    assert "5 s before the first fault to 5 s after the last failed request" in log.splitlines()[0]


def test_a_log_window_needs_a_fault_or_a_failure(killed):
    for load in killed.loads():
        load.results.records = [r for r in load.results.records if r.ok]
    killed.events = [e for e in killed.events if not e.is_fault]
    assert ar.log_window(killed) is None


def test_a_log_without_time_stamps_keeps_its_tail():
    window = ar.LogWindow(0, 10, "test")
    text = window.cut("\n".join(f"plain {n}" for n in range(300)))
    assert text.startswith("[no time stamps in this log") and text.rstrip().endswith("plain 299")


def test_log_lines_stamped_by_dynamo_and_by_kubectl_are_read_in_ns_and_colours_are_stripped():
    assert ar.line_time_ns(ar.strip_ansi(DYNAMO_LINE)) == 1795757396704163000
    assert ar.line_time_ns("2026-11-27T05:29:56.704163123+00:00 hello") == 1795757396704163123
    assert ar.line_time_ns("no stamp here") is None
    assert ar.strip_ansi(DYNAMO_LINE) == "2026-11-27T05:29:56.704163Z  INFO http-request: request received request_id=1c31d928"


# -- a fresh results folder per ./run ----------------------------------------------------------

def test_a_fresh_run_removes_only_allure_files_of_earlier_runs(tmp_path):
    for name in ("a-result.json", "b-container.json", "c-attachment.png", "environment.properties", "notes.txt"):
        (tmp_path / name).write_text("x")
    assert ar.fresh_results(tmp_path) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_fresh_run_keeps_what_it_is_told_to_keep(tmp_path):
    for name in ("a-result.json", "environment.properties"):
        (tmp_path / name).write_text("x")
    assert ar.fresh_results(tmp_path, keep=[ar.ENVIRONMENT_FILE]) == 1
    assert [p.name for p in tmp_path.iterdir()] == [ar.ENVIRONMENT_FILE]


@pytest.mark.parametrize("fresh, keep, cleared", [("1", None, True), ("1", "1", False), (None, None, False),
                                                  ("0", None, False), ("1", "0", True)])
def test_earlier_results_are_cleared_only_when_run_asks_and_keeping_them_was_not_asked(tmp_path, monkeypatch, fresh,
                                                                                       keep, cleared, capsys):
    for variable, value in ((ar.FRESH_RESULTS_ENV, fresh), (ar.KEEP_RESULTS_ENV, keep)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    (tmp_path / "old-result.json").write_text("{}")

    ar.clear_earlier_results(tmp_path)

    assert (tmp_path / "old-result.json").exists() is not cleared
    assert (f"allure results: removed 1 files of earlier runs from {tmp_path} (FT_KEEP_RESULTS=1 keeps them)"
            in capsys.readouterr().err) is cleared


# -- a typo never costs the last run's results (real behave and ./run runs) ------------------------

def _with_earlier_results(out: Path) -> Path:
    results = out / "allure-results"
    results.mkdir(parents=True)
    (results / "earlier-result.json").write_text("{}")
    return results / "earlier-result.json"


@pytest.mark.parametrize("args", [["-n", "no such scenario"], ["-D", "platfrom=local"]], ids=["no-match", "typo"])
def test_run_behave_stopping_before_any_scenario_keeps_the_earlier_results(tmp_path, args):
    earlier = _with_earlier_results(tmp_path)

    result = subprocess.run([str(REPO_ROOT / "run"), "behave", *args, "-D", f"output_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2, result.stdout + result.stderr
    assert earlier.exists()
    assert "allure results" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_run_that_starts_a_scenario_clears_the_earlier_results_and_keeps_its_own(tmp_path):
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")
    feature_folder(tmp_path, one=ONE_SCENARIO)
    out = tmp_path / "out"
    earlier = _with_earlier_results(out)

    result = subprocess.run([sys.executable, "-m", "behave", "features", "-D", f"output_dir={out}"],
                            cwd=tmp_path, env=dict(os.environ, **{ar.FRESH_RESULTS_ENV: "1"}), capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not earlier.exists()
    assert len(list((out / "allure-results").glob("*-result.json"))) == 1
    assert (out / "allure-results" / ar.ENVIRONMENT_FILE).exists()  # this run's, written before the clearing


def test_plain_behave_adds_to_the_earlier_results(tmp_path):
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")
    feature_folder(tmp_path, one=ONE_SCENARIO)
    out = tmp_path / "out"
    earlier = _with_earlier_results(out)
    env = {k: v for k, v in os.environ.items() if k != ar.FRESH_RESULTS_ENV}

    result = subprocess.run([sys.executable, "-m", "behave", "features", "-D", f"output_dir={out}"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    assert earlier.exists() and len(list((out / "allure-results").glob("*-result.json"))) == 2


# -- what a failed scenario's result says --------------------------------------------------------

def test_a_failed_check_keeps_its_message_without_the_traceback_and_a_broken_one_keeps_both():
    from allure_commons.model2 import StatusDetails, TestResult

    hooks = ar._LabelHooks(listener=None)
    failed = TestResult(status="failed", statusDetails=StatusDetails(message="CheckFailed: no errors: 5 of 9 failed — FAILED",
                                                                     trace='  File "behave/model.py"'))
    broken = TestResult(status="broken", statusDetails=StatusDetails(message="PlatformError: supervisor died",
                                                                     trace='  File "ftlib/platform/local.py"'))
    hooks.report_result(failed)
    hooks.report_result(broken)
    assert (failed.statusDetails.message, failed.statusDetails.trace) == ("CheckFailed: no errors: 5 of 9 failed — FAILED", None)
    assert broken.statusDetails.trace == '  File "ftlib/platform/local.py"'
