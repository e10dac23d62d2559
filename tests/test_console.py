"""What a behave run shows and refuses (ftlib.console and the hooks in features/environment.py),
run as a subprocess: dry runs of the project's features (they deploy nothing), and a tiny
feature whose load is recorded data on a fake deployment (tests/fake_deployment.py), so every
check is judged for real without starting a process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftlib.console import (STARTUP_SECONDS, DryRunTally, RunTally, estimate_seconds, is_verdict, outline_row_name,
                           report_command, run_summary, scenario_line)
from ftlib.errors import LoadError
from ftlib.events import StartLoad, StopLoad, Wait, WaitForLoadCompletion, WaitForRecovery
from ftlib.load.config import LoadConfig
from ftlib.scenario import slug
from ftlib.verdicts import CheckFailed, Verdict

REPO_ROOT = Path(__file__).resolve().parents[1]
BEHAVE = [sys.executable, "-m", "behave"]

FAKE_STEPS = '''
"""Test-only steps: a load whose requests are recorded data on a fake deployment."""
import sys, time
sys.path.insert(0, {tests!r})
from behave import given, when
from fake_deployment import FakeDeployment, context_with
from ftlib.errors import InFlightShortfall, LoadError, PlatformError
from ftlib.events import StartLoad
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults, RequestRecord


class RecordedLoad(StartLoad):
    """A load that already happened: ok successes, then failed 503s."""
    def __init__(self, ok, failed):
        super().__init__(LoadConfig(concurrency=2, duration_seconds=60))
        self.counts = ok, failed

    def execute(self, ctx):
        ok, failed = self.counts
        records = [RequestRecord(i, i + 1, i >= failed, "" if i >= failed else "503 Service Unavailable")
                   for i in range(ok + failed)]
        self.results = LoadResults(self.name, records, False, directory=ctx.output_dir / "load" / self.name)


@when("a load made {{ok:d}} good requests and {{failed:d}} failed ones")
def recorded_load(context, ok, failed):
    ft = context.ft
    if ft.execute and ft.ctx is None:
        ft.ctx = context_with(FakeDeployment(ft.spec), ft.output_dir)
        ft.ctx.monitors = []
    ft.event(RecordedLoad(ok, failed))


ERRORS = {{"PlatformError": PlatformError("the platform broke on purpose"),
          "InFlightShortfall": InFlightShortfall("not injected: fewer than 4 requests in flight"),
          "LoadError": LoadError("aiperf for load 'default' exited with code 1 before sending requests"),
          "OSError": OSError(28, "No space left on device"),
          "KeyError": KeyError("a bug")}}


class BrokenLoad(StartLoad):
    """A load that fails to start, and whose stop in the teardown says the same again."""
    def __init__(self):
        super().__init__(LoadConfig(concurrency=2, duration_seconds=60))

    def execute(self, ctx):
        self.runner = object()
        raise ERRORS["LoadError"]

    def stop(self, ctx):
        raise ERRORS["LoadError"]

    abort = lambda self: self.stop(None)


class StuckLoad(StartLoad):
    """A load that ran, and whose teardown fails with an error of its own."""
    def __init__(self):
        super().__init__(LoadConfig(concurrency=2, duration_seconds=60))

    def execute(self, ctx):
        self.runner = object()

    def stop(self, ctx):
        raise LoadError("could not collect the records, on purpose")

    abort = lambda self: self.stop(None)


def _deployed(ft):
    if ft.execute and ft.ctx is None:
        ft.ctx = context_with(FakeDeployment(ft.spec), ft.output_dir)
        ft.ctx.monitors = []


@when("a step raises {{kind:w}}")
def raises(context, kind):
    _deployed(context.ft)
    if context.ft.execute:
        raise ERRORS[kind]


@when("a load fails to start and its teardown says so again")
def broken_load(context):
    _deployed(context.ft)
    context.ft.event(BrokenLoad())


@when("a load runs whose teardown fails")
def stuck_load(context):
    _deployed(context.ft)
    context.ft.event(StuckLoad())


@given("planning takes {{t:d}} seconds")
def slow_plan(context, t):
    if not context.ft.execute:
        time.sleep(t)
'''

JUDGED = '''Feature: verdicts
  Scenario: every check is judged after one fails
    Given a mocker agg deployment
    When a load made 147 good requests and 5 failed ones
    Then errors are at most 35
    And there are no errors
    And at least 200 requests succeed
    And at least 100 requests succeed
'''

STOPPED = '''Feature: stopped
  Scenario: a check whose step never ran is judged too
    Given a mocker agg deployment
    When a load made 10 good requests and 0 failed ones
    And the load is stopped
    Then there are no errors
'''

PLANNED = '''Feature: planned
  Scenario: a fault under a 20 s load
    Given a mocker agg deployment with 2 replicas
    When a load at concurrency 4 is started for 20 seconds
    And 6 seconds pass
    And one worker pod is deleted
    And the deployment recovers within 60 seconds
    And the load completes
    Then errors are at most 10

  Scenario: a load stopped after 25 s
    Given a vllm agg deployment
    When a load at concurrency 2 is started for 60 seconds
    And 25 seconds pass
    And the load is stopped
    Then the load was cancelled
'''

LONG_NAME = "a worker is killed while the frontend keeps serving and the router moves every request to " * 2
LONG_NAMES = f'''Feature: long names
  Scenario: {LONG_NAME}first
    Given a mocker agg deployment
    When a load made 5 good requests and 0 failed ones
    Then there are no errors

  Scenario: {LONG_NAME}second
    Given a mocker agg deployment
    When a load made 6 good requests and 0 failed ones
    Then there are no errors
'''

RAISING = "Feature: raising\n" + "".join(f'''
  Scenario: a step raises {kind}
    Given a mocker agg deployment
    When a step raises {kind}
''' for kind in ("PlatformError", "InFlightShortfall", "LoadError", "OSError", "KeyError")) + '''
  Scenario: a load fails to start
    Given a mocker agg deployment
    When a load fails to start and its teardown says so again
    Then there are no errors

  Scenario: a teardown fails
    Given a mocker agg deployment
    When a load runs whose teardown fails
'''

SLOW_PLAN = '''Feature: slow
  Scenario: a plan that takes a while
    Given planning takes 30 seconds
    And a mocker agg deployment
'''


def feature_folder(root: Path, **features: str) -> Path:
    """A behave folder with the project's hooks, its steps and the test-only steps above."""
    folder = root / "features"
    (folder / "steps").mkdir(parents=True)
    (folder / "environment.py").symlink_to(REPO_ROOT / "features" / "environment.py")
    for module in (REPO_ROOT / "steps").glob("*.py"):
        (folder / "steps" / module.name).symlink_to(module)
    (folder / "steps" / "recorded_steps.py").write_text(FAKE_STEPS.format(tests=str(REPO_ROOT / "tests")))
    for name, text in features.items():
        (folder / f"{name}.feature").write_text(text)
    return folder


@pytest.fixture(scope="module", autouse=True)
def own_run_registry(tmp_path_factory):
    """behave children get a run registry of their own: other runs' leftovers on this machine are
    reported by behave, and are not what these tests read."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FT_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
        yield


def behave(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """behave with the project's behave.ini (Allure formatter, clean console) from ``cwd``."""
    return subprocess.run([*BEHAVE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run_features(root: Path, command: list[str], args: list[str], **features: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``command`` (behave, or behave as ./run starts it) on ``features`` in ``root`` with the
    project's behave.ini (Allure results too), the evidence in ``root/out``."""
    (root / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")
    feature_folder(root, **features)
    out = root / "out"
    return subprocess.run([*command, "features", *args, "-D", f"output_dir={out}"], cwd=root, capture_output=True,
                          text=True, timeout=120), out


def results_of(allure_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """One behave run of JUDGED and STOPPED with the plain formatter and Allure results."""
    return run_features(tmp_path_factory.mktemp("console"), BEHAVE, ["-f", "plain", "--no-color"], judged=JUDGED,
                        stopped=STOPPED)


# -- every check is judged, with its numbers ------------------------------------------------------

def test_every_check_is_judged_after_one_fails_and_each_failure_is_shown(judged):
    result, out = judged
    assert result.returncode != 0
    shown = result.stdout
    assert "Then errors are at most 35 ... passed" in shown
    assert "And there are no errors ... failed" in shown
    assert "ASSERT FAILED: no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED" in shown
    assert "ASSERT FAILED: successes ≥ 200: 147 of 152 succeeded — FAILED" in shown
    assert "And at least 100 requests succeed ... passed" in shown


def test_verdicts_json_holds_every_check_in_order(judged):
    _, out = judged
    saved = json.loads((out / "every_check_is_judged_after_one_fails" / "verdicts.json").read_text())
    assert [v["line"] for v in saved["verdicts"]] == [
        "errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok",
        "no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED",
        "successes ≥ 200: 147 of 152 succeeded — FAILED",
        "successes ≥ 100: 147 of 152 succeeded — ok"]
    assert saved["passed"] is False


def test_neither_a_failed_check_nor_an_error_raised_on_purpose_shows_a_traceback_on_the_console(judged):
    result, _ = judged
    failed, errored = result.stdout.split("Feature: stopped")
    assert "Traceback" not in failed
    assert "Traceback" not in errored
    assert "\nSpecError: there is no running load named 'default'; loads: default\n" in errored


def test_the_console_shows_one_line_per_scenario_with_verdicts_time_and_evidence(judged):
    result, out = judged
    lines = [line for line in result.stdout.splitlines() if "| evidence: " in line]
    assert len(lines) == 2
    assert lines[0].startswith("  failed in ")
    assert ("s: errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok; no errors: 5 of 152 failed "
            "(503 Service Unavailable ×5) — FAILED; successes ≥ 200: 147 of 152 succeeded — FAILED; "
            "successes ≥ 100: 147 of 152 succeeded — ok | evidence: ") in lines[0]
    assert lines[0].endswith("every_check_is_judged_after_one_fails")


def test_info_logs_stay_in_scenario_log_not_on_the_console(judged):
    result, out = judged
    assert " INFO " not in result.stdout + result.stderr
    assert "SKIP" not in result.stderr
    assert "INFO ftlib.verdicts: verdict: errors ≤ 35" in (out / "every_check_is_judged_after_one_fails" /
                                                          "scenario.log").read_text()


def test_a_check_whose_step_never_ran_is_judged_after_the_scenario_stopped(judged):
    result, out = judged
    (verdict,) = json.loads((out / "a_check_whose_step_never_ran_is_judged_too" / "verdicts.json").read_text())[
        "verdicts"]
    assert verdict["line"] == "no errors: 0 of 10 failed — ok"
    assert verdict["note"] == "its step did not run: judged after the scenario stopped"


def test_each_allure_step_carries_its_verdict_and_a_failed_one_no_traceback(judged):
    _, out = judged
    (test,) = [r for r in results_of(out / "allure-results") if r["name"] == "every check is judged after one fails"]
    steps = {step["name"]: step for step in test["steps"]}
    passed, failed = steps["Then errors are at most 35"], steps["And there are no errors"]
    assert passed["status"] == "passed"
    assert [a["name"] for a in passed["attachments"]] == [
        "verdict: errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok"]
    assert failed["status"] == "failed"
    assert "no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED" in failed["statusDetails"]["message"]
    assert "evidence: " in failed["statusDetails"]["message"]
    assert not failed["statusDetails"].get("trace")
    assert steps["And at least 100 requests succeed"]["status"] == "passed"
    assert test["status"] == "failed"
    assert test["statusDetails"]["message"].splitlines()[:3] == [
        "ftlib.verdicts.CheckFailed: 2 checks failed:",
        "no errors: 5 of 152 failed (503 Service Unavailable ×5) — FAILED",
        f"  evidence: {out / 'every_check_is_judged_after_one_fails' / 'load' / 'default' / 'profile_export.jsonl'}"]
    assert "successes ≥ 200: 147 of 152 succeeded — FAILED" in test["statusDetails"]["message"]


def test_two_scenarios_whose_names_share_their_first_120_characters_both_run_into_folders_of_their_own(tmp_path):
    feature_folder(tmp_path, long=LONG_NAMES)
    out = tmp_path / "out"

    result = behave(tmp_path, "features", "-f", "plain", "--no-color", "-D", f"output_dir={out}", timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 scenarios passed, 0 failed" in result.stdout
    first = slug(LONG_NAME + "first")
    folders = [first, first[:118] + "_2"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(folders)
    counts = [json.loads((out / f / "verdicts.json").read_text())["verdicts"][0]["line"] for f in folders]
    assert counts == ["no errors: 0 of 5 failed — ok", "no errors: 0 of 6 failed — ok"]


@pytest.fixture(scope="module")
def raising(tmp_path_factory):
    """One behave run (project's behave.ini: Allure results too) of steps that raise after the plan."""
    return run_features(tmp_path_factory.mktemp("raising"), BEHAVE, ["-f", "plain", "--no-color"], raising=RAISING)


@pytest.mark.parametrize("kind, line", [
    ("PlatformError", "PlatformError: the platform broke on purpose"),
    ("InFlightShortfall", "InFlightShortfall: not injected: fewer than 4 requests in flight"),
    ("LoadError", "LoadError: aiperf for load 'default' exited with code 1 before sending requests"),
    ("OSError", "OSError: [Errno 28] No space left on device")])
def test_an_error_raised_on_purpose_after_the_plan_prints_its_message_and_no_traceback(raising, kind, line):
    result, out = raising
    block = result.stdout.split(f"Scenario: a step raises {kind}")[1].split("Scenario:")[0]

    assert "Traceback" not in block
    assert re.search(rf"When a step raises {kind} \.\.\. error in [0-9.]+s\n{re.escape(line)}\n\n  error in ", block)
    assert f"| evidence: out/a_step_raises_{kind}\n" in block


def test_an_unexpected_error_keeps_its_traceback_in_scenario_log_with_one_console_line_saying_where(raising):
    result, out = raising
    block = result.stdout.split("Scenario: a step raises KeyError")[1].split("Scenario:")[0]
    log = out / "a_step_raises_KeyError" / "scenario.log"

    assert "Traceback" not in block
    assert ("\nKeyError: 'a bug' (an unexpected error: its traceback is in out/a_step_raises_KeyError/scenario.log)\n"
            in block)
    kept = log.read_text()
    assert "step 'When a step raises KeyError' raised KeyError" in kept and "Traceback (most recent call last)" in kept


def test_no_traceback_at_all_reaches_the_console_or_the_allure_step_of_an_error_raised_on_purpose(raising):
    result, out = raising
    assert result.stdout.count("Traceback") == 0 and "Traceback" not in result.stderr
    steps = [step for r in results_of(out / "allure-results") if r["name"] == "a step raises LoadError"
             for step in r["steps"] if step["name"] == "When a step raises LoadError"]
    assert steps and steps[0]["status"] == "broken" and not steps[0]["statusDetails"].get("trace")


def test_a_teardown_problem_repeating_the_error_that_stopped_the_scenario_is_not_printed_twice(raising):
    result, out = raising
    block = result.stdout.split("Scenario: a load fails to start")[1].split("Scenario:")[0]

    assert block.count("exited with code 1 before sending requests") == 1
    assert "HOOK-ERROR" not in block and "teardown problems" not in block and "ERROR ftlib" not in block
    assert "teardown repeated the error that stopped the scenario" in (
        out / "a_load_fails_to_start" / "scenario.log").read_text()


def test_a_teardown_problem_of_its_own_is_one_line_and_the_scenario_ends_in_error(raising):
    result, out = raising
    block = result.stdout.split("Scenario: a teardown fails")[1]

    shown = block + result.stderr
    assert shown.count("could not collect the records, on purpose") == 1
    assert ("ERROR ftlib.scenario: stopping start load 'default': 60 s at concurrency 2, 4 req/s: could not collect "
            "the records, on purpose") in result.stderr.splitlines()
    assert "HOOK-ERROR" not in block and "CAPTURED" not in block
    assert "a teardown fails" in result.stdout.split("Errored scenarios:")[1]
    assert "1 hook_error" in result.stdout
    assert result.returncode != 0


# -- the command line ----------------------------------------------------------------------------------

def test_a_selection_that_matches_no_scenario_is_an_error_with_one_message():
    result = behave(REPO_ROOT, "-n", "no scenario is called this", "-D", "dry_run=true", "-f", "progress")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dynamo-ft: no scenario matches --tags not @wip and not @weekly -n no scenario is called this "
        f"(of {result.stderr.split('(of ')[1].split(' scenarios')[0]} scenarios in "
        f"{len(list((REPO_ROOT / 'features').glob('*.feature')))} feature files); nothing to run"]
    assert "ABORTED" not in result.stdout + result.stderr and "passed" not in result.stdout


@pytest.mark.parametrize("define, message", [
    ("no_such_option=1", "dynamo-ft: unknown option -D no_such_option; allowed: platform, "),
    ("dry_run=maybe", "dynamo-ft: option dry_run takes true, false or server, got 'maybe'"),
])
def test_an_option_error_is_one_message_and_a_failed_exit(define, message):
    result = behave(REPO_ROOT, "-D", define, "-f", "progress", "-D", "output_dir=/tmp/ft-console-test")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message)
    assert "ABORTED" not in result.stdout and "features passed" not in result.stdout


UNREACHABLE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
users: [{name: u, user: {token: t}}]
"""


def kubernetes_run(tmp_path: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    """behave on the smoke feature with -D platform=kubernetes, credentials from ``kubeconfig`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    return subprocess.run([*BEHAVE, "features/smoke.feature", "-f", "plain", "-D", "platform=kubernetes",
                           "-D", "namespace=ft", "-D", "image=reg/dynamo:1.6.1", "-D", f"output_dir={tmp_path / 'out'}",
                           *args], cwd=REPO_ROOT, env=dict(env, KUBECONFIG=str(kubeconfig)), capture_output=True,
                          text=True, timeout=120)


def test_the_kubernetes_platform_without_a_kubeconfig_stops_once_before_any_scenario_in_one_line(tmp_path):
    result = kubernetes_run(tmp_path, tmp_path / "missing.kubeconfig")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"dynamo-ft: no kubeconfig: {tmp_path / 'missing.kubeconfig'} does not exist and this is not a pod. Point "
        "KUBECONFIG at your cluster's kubeconfig (kubectl config view --raw > ft.kubeconfig; export "
        "KUBECONFIG=$PWD/ft.kubeconfig) or run inside the cluster"]
    assert "Scenario" not in result.stdout and "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").iterdir() if p.name != "allure-results"]


def test_the_kubernetes_platform_with_an_api_that_does_not_answer_stops_once_naming_its_address(tmp_path):
    (tmp_path / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)

    result = kubernetes_run(tmp_path, tmp_path / "kubeconfig")

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("dynamo-ft: the Kubernetes API at https://127.0.0.1:1 is unreachable (")
    assert "Connection refused); check the cluster is up and your kubeconfig/context (kubectl cluster-info)" in line
    assert "Scenario" not in result.stdout and "Traceback" not in result.stdout


@pytest.mark.parametrize("variable, value, message", [
    ("FT_PORT_RANGE", "9000", "dynamo-ft: FT_PORT_RANGE must be 'low-high' within 1024-32767, got '9000'"),
    ("FT_NETNS", "maybe", "dynamo-ft: FT_NETNS must be one of auto, on, off, got 'maybe'")])
def test_a_bad_local_platform_setting_stops_once_before_any_scenario(tmp_path, variable, value, message):
    feature_folder(tmp_path, judged=JUDGED, stopped=STOPPED)

    result = subprocess.run([*BEHAVE, "features", "-f", "plain", "-D", f"output_dir={tmp_path / 'out'}"], cwd=tmp_path,
                            env=dict(os.environ, **{variable: value}), capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert "Scenario" not in result.stdout


def test_a_kubernetes_dry_run_needs_no_cluster(tmp_path):
    result = kubernetes_run(tmp_path, tmp_path / "missing.kubeconfig", "-D", "dry_run=true")

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert result.stdout.count("MANIFESTS ") == 2


def test_a_dry_run_ends_with_scenarios_backends_and_an_estimated_wall_time(tmp_path):
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")
    feature_folder(tmp_path, planned=PLANNED)
    result = behave(tmp_path, "features", "-D", "dry_run=true", "-f", "progress", "-D", f"output_dir={tmp_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    closing = [line for line in result.stdout.splitlines() if line.startswith("dry run: ")]
    assert closing == [f"dry run: 2 scenarios planned, backends: mocker, vllm; estimated wall time 65 s (an "
                       f"estimate: load durations and waits from the plans, plus ~{STARTUP_SECONDS:g} s start-up per "
                       "scenario; recoveries add more)"]
    assert "WARNING" not in result.stdout + result.stderr
    assert not list(tmp_path.rglob("*-result.json")) and not list(tmp_path.rglob("*-container.json"))


def test_a_selection_with_weekly_rows_says_so_first():
    result = behave(REPO_ROOT, "--tags", "@weekly", "-D", "dry_run=true", "-f", "progress")
    assert result.stderr.splitlines()[0].startswith("note: this selection includes ")
    assert "@weekly scenarios" in result.stderr.splitlines()[0]
    assert "weekly" not in behave(REPO_ROOT, "--tags", "@smoke", "-D", "dry_run=true", "-f", "progress").stderr


def test_an_interrupted_dry_run_writes_no_allure_result(tmp_path):
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")
    feature_folder(tmp_path, slow=SLOW_PLAN)
    out = tmp_path / "out"
    process = subprocess.Popen([*BEHAVE, "features", "-D", "dry_run=true", "-D", f"output_dir={out}"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    os.kill(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    assert not list(out.rglob("*-result.json")) and not list(out.rglob("*-container.json"))


# -- estimates and lines --------------------------------------------------------------------------------

def test_the_estimate_follows_the_timeline_of_the_plan():
    load = StartLoad(LoadConfig(concurrency=4, duration_seconds=25))
    assert estimate_seconds([load, Wait(6), WaitForRecovery(60), WaitForLoadCompletion()]) == 25 + STARTUP_SECONDS
    assert estimate_seconds([load, Wait(6), StopLoad(), Wait(2)]) == 8 + STARTUP_SECONDS
    assert estimate_seconds([load, Wait(40)]) == 40 + STARTUP_SECONDS
    assert estimate_seconds([]) == STARTUP_SECONDS


def test_a_long_dry_run_estimate_is_shown_in_minutes():
    tally = DryRunTally(scenarios=3, backends={"vllm"}, seconds=1250)
    assert tally.line().startswith("dry run: 3 scenarios planned, backends: vllm; estimated wall time 21 min (")


def test_a_scenario_line_shortens_what_could_not_be_judged():
    verdicts = [Verdict("c", "errors ≤ 3", "1 of 9 failed", True),
                Verdict("d", "no errors", "LoadError: a long story " * 5, False, broken=True)]
    assert scenario_line("error", 12.34, verdicts, Path("/x/y")) == (
        "  error in 12.3 s: errors ≤ 3: 1 of 9 failed — ok; no errors — could not judge | evidence: /x/y")


def test_a_failure_ftlib_raised_reads_without_a_traceback_but_an_error_keeps_it():
    def raised(error, inside_ftlib: bool):
        code = compile("raise error", str(REPO_ROOT / "ftlib" / "x.py") if inside_ftlib else "/elsewhere/x.py", "exec")
        try:
            exec(code, {"error": error})
        except BaseException as caught:  # noqa: BLE001
            return caught, caught.__traceback__

    assert is_verdict(*raised(CheckFailed([Verdict("c", "no errors", "1 of 2 failed", False)]), False))
    assert is_verdict(*raised(AssertionError("expected the deployment to be ready again"), True))
    assert not is_verdict(*raised(AssertionError("a bug elsewhere"), False))
    assert not is_verdict(*raised(LoadError("no records"), True))


def test_one_planned_scenario_is_one_scenario():
    assert DryRunTally(scenarios=1, backends={"mocker"}, seconds=30).line().startswith(
        "dry run: 1 scenario planned, backends: mocker; estimated wall time 30 s (")


# -- the end of a run ------------------------------------------------------------------------------------

ROWS = '''Feature: rows
  Scenario Outline: mocker agg: <ok> good requests
    Given a mocker agg deployment
    When a load made <ok> good requests and <failed> failed ones
    Then there are no errors

    Examples: the first group of rows, with a long title (run by ./run test)
      | ok | failed |
      | 5  | 0      |
      | 6  | 0      |

    Examples: a second group
      | ok | failed |
      | 5  | 1      |
'''
ROW_FOLDERS = ["mocker_agg_5_good_requests_failed_0", "mocker_agg_6_good_requests", "mocker_agg_5_good_requests_failed_1"]
FAILING_ROW_LINE = next(n for n, text in enumerate(ROWS.splitlines(), 1) if text.strip().startswith("| 5  | 1"))
CLI = [sys.executable, "-m", "ftlib.behave_cli"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """One run of ROWS as ./run starts behave (ftlib.behave_cli, progress formatter, Allure results)."""
    root = tmp_path_factory.mktemp("rows")
    return (*run_features(root, CLI, ["-f", "progress"], rows=ROWS), root)


def test_outline_rows_have_evidence_folders_named_from_the_outline_and_their_values_not_the_example_title(rows):
    result, out, _ = rows

    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name != "allure-results") == \
        sorted(ROW_FOLDERS)
    assert f"| evidence: out/{ROW_FOLDERS[2]}\n" in result.stdout


def test_an_outline_rows_folder_is_the_same_when_it_runs_alone(rows, tmp_path):
    _, _, root = rows

    alone = subprocess.run([*CLI, f"features/rows.feature:{FAILING_ROW_LINE}", "-D", f"output_dir={tmp_path}"], cwd=root,
                           capture_output=True, text=True, timeout=120)

    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".") and p.name != "allure-results"] == \
        [ROW_FOLDERS[2]], alone.stdout + alone.stderr


def test_a_run_ends_with_its_wall_time_where_evidence_and_report_are_and_the_counts(rows):
    result, out, _ = rows
    lines = result.stdout.rstrip().splitlines()

    assert lines[-7] == ""  # a blank line after the scenarios' own lines
    assert re.fullmatch(r"wall time \d+\.\d s", lines[-6])
    assert lines[-5:-2] == [
        "evidence: out/<scenario>/ (one folder per scenario; Allure results in out/allure-results)",
        f"report: ./run report {out / 'allure-results'} (renders them into out/allure-report/index.html, which any "
        "browser opens)",
        "did not pass:"]
    assert lines[-1] == "scenarios: 2 passed, 1 failed"
    assert result.returncode == 1


def test_the_scenarios_that_did_not_pass_are_listed_with_their_locations_before_the_counts(rows):
    result, _, _ = rows
    assert result.stdout.rstrip().splitlines()[-2] == \
        f"  failed  features/rows.feature:{FAILING_ROW_LINE}  mocker agg: 5 good requests -- @2.1 a second group"


def test_a_run_as_run_starts_it_shows_neither_behaves_runner_line_nor_its_skipped_counts(rows):
    result, _, _ = rows
    assert "USING RUNNER" not in result.stdout + result.stderr
    assert "skipped" not in result.stdout and "steps passed" not in result.stdout and "Took " not in result.stdout


def test_plain_behave_ends_with_behaves_own_summary_after_the_suites(judged):
    result, _ = judged
    ours = result.stdout.index("\nscenarios: 0 passed, 2 failed (1 errored)\n")
    assert result.stdout.index("0 scenarios passed, 1 failed, 1 error") > ours


def test_the_closing_line_keeps_the_shard_runners_format_and_says_how_many_an_error_stopped():
    assert RunTally(passed=3, failed=1).closing_line() == "scenarios: 3 passed, 1 failed"
    assert RunTally(passed=3, failed=2, errored=1, skipped=4).closing_line() == \
        "scenarios: 3 passed, 2 failed (1 errored), 4 skipped"


@pytest.mark.parametrize("statuses, counts", [
    (["passed", "failed", "error", "hook_error", "undefined"], (1, 4, 3, 0)),
    (["passed", "skipped", "untested"], (1, 0, 0, 2))])
def test_a_tally_counts_an_error_as_failed_and_says_so(statuses, counts):
    tally = RunTally()
    for status in statuses:
        tally.add(status, f"features/x.feature:1  {status}")

    assert (tally.passed, tally.failed, tally.errored, tally.skipped) == counts
    assert tally.not_passed == [f"{s}  features/x.feature:1  {s}" for s in statuses if s not in ("passed", "skipped",
                                                                                                   "untested")]


def test_the_report_command_names_the_results_folder_only_when_it_is_not_the_default(tmp_path):
    assert report_command(tmp_path / "test_outputs" / "allure-results", tmp_path) == "./run report"
    assert report_command(tmp_path / "x" / "allure-results", tmp_path) == f"./run report {tmp_path}/x/allure-results"


def test_the_run_summary_names_the_workers_and_the_scenarios_an_interrupt_left(tmp_path):
    lines = run_summary(RunTally(2), 61.25, tmp_path, tmp_path / "allure-results", tmp_path, workers=2, not_run=3)
    assert lines[0] == "wall time 61.2 s with 2 worker processes; 3 scenarios not run (interrupted)"
    assert lines[-1] == "scenarios: 2 passed, 0 failed"


@pytest.mark.parametrize("template, row, rows, name", [
    ("<backend> <topology> x<replicas>: a worker is killed", {"backend": "vllm", "topology": "agg", "replicas": "2",
     "max_errors": "30"}, [{"backend": "vllm", "topology": "agg", "replicas": "1", "max_errors": "30"}],
     "vllm agg x2: a worker is killed"),
    ("<ok> good", {"ok": "5", "failed": "1", "x": "y"}, [{"ok": "5", "failed": "0", "x": "y"}], "5 good (failed 1, x y)"),
    ("<ok> good", {"ok": "5"}, [{"ok": "5"}], "5 good")])
def test_an_outline_row_is_named_from_the_outline_and_its_values(template, row, rows, name):
    assert outline_row_name(template, row, [row, *rows]) == name
