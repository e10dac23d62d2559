"""The catalogue of bad inputs: each one fails in behave's plan pass, before anything is deployed,
with its exact message naming what was wrong and what is allowed.

Each case is a real Gherkin scenario in a feature file of its own, run through behave with the
project's steps and hooks. The whole catalogue runs once with ``-D dry_run=true`` (no deployment
can happen there: a case whose plan passed would show up as a planned, skipped scenario). A few
cases also run for real (no dry run): behave exits non-zero, no evidence folder is created and
no process is started (every ``subprocess.Popen`` of the behave process is recorded by a
``sitecustomize`` module put on its path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BEHAVE = [sys.executable, "-m", "behave"]
FAULTS = "inject one first (a pod deleted, a process killed, frozen, rolling-upgraded…)"
RECORD_POPEN = """\
import json, os, subprocess
_init = subprocess.Popen.__init__
def _record(self, args, *rest, **kwargs):
    with open(os.environ["FT_POPEN_LOG"], "a") as log:
        log.write(json.dumps([str(a) for a in args] if isinstance(args, (list, tuple)) else str(args)) + "\\n")
    _init(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = _record
"""


@dataclass
class BadInput:
    """A scenario with one bad step (marked ``<<``) and the exact message the plan gives for it."""

    id: str
    steps: str
    message: str

    @property
    def lines(self) -> list[str]:
        return textwrap.dedent(self.steps).strip().splitlines()

    def feature(self) -> str:
        body = "\n".join(f"    {line.removesuffix('<<').rstrip()}" for line in self.lines)
        return f"Feature: bad input\n  Scenario: {self.id}\n{body}\n"

    def expected(self, folder: str) -> str:
        """The whole message: where the bad step is, the step itself, and what is wrong."""
        number, line = next((i, line) for i, line in enumerate(self.lines) if line.endswith("<<"))
        return f"{folder}/{self.id}.feature:{number + 3}, '{line.removesuffix('<<').rstrip()}': {self.message}"


CASES = [
    BadInput("given-after-when", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        Given the worker service has 2 replicas <<
        """, "Given steps must come before the first When or Then step, and this one comes after the step that "
             "applies the deployment (start load 'default': 10 requests at concurrency 2): move it up"),
    BadInput("given-after-then", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        Then there are no errors
        Given request migration is disabled <<
        """, "Given steps must come before the first When or Then step, and this one comes after the step that "
             "applies the deployment (start load 'default': 10 requests at concurrency 2): move it up"),
    BadInput("a-load-name-started-twice", """
        Given a mocker agg deployment
        When a load "steady" of 10 requests at concurrency 2 is started
        And load "steady" completes
        And a load "steady" of 10 requests at concurrency 2 is started <<
        """, "a load named 'steady' was already started in this scenario; give each load its own name, for example: "
             "When a load \"steady-2\" of 100 requests at concurrency 4 is started"),
    BadInput("stopping-a-completed-load", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        And the load completes
        And the load is stopped <<
        """, "load 'default' has already completed at an earlier step (wait for load 'default' to complete), so "
             "there is nothing left to stop; a load can be stopped or waited for only while it runs: remove this "
             "step or move it before that one"),
    BadInput("waiting-for-a-stopped-load", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 30 seconds
        And the load is stopped
        And the load completes <<
        """, "load 'default' has already been stopped at an earlier step (stop load 'default'), so there is nothing "
             "left to wait for; a load can be stopped or waited for only while it runs: remove this step or move it "
             "before that one"),
    BadInput("stopping-a-load-a-then-step-waited-for", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        Then there are no errors
        When the load is stopped <<
        """, "load 'default' has already completed at an earlier Then step, which waits for every load (no failed "
             "requests in load 'default'), so there is nothing left to stop; a load can be stopped or waited for "
             "only while it runs: remove this step or move it before that one"),
    BadInput("stopping-a-load-never-started", """
        Given a mocker agg deployment
        When load "burst" is stopped <<
        """, "no load named 'burst' was started before this step; loads: none started"),
    BadInput("a-recovery-wait-with-no-fault", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        And the deployment recovers within 30 seconds <<
        """, "this step (wait up to 30 s for the deployment to recover) measures from a fault, but no fault step "
             f"comes before it; {FAULTS}"),
    BadInput("a-recovery-check-with-no-fault", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        Then the deployment recovered within 30 seconds <<
        """, "this step (the deployment recovered within 30 s of the last fault) measures from a fault, but no fault "
             f"step comes before it; {FAULTS}"),
    BadInput("a-process-no-declared-command-holds", """
        Given a vllm disagg deployment
        When the "dynamo.sglang" process of the decode worker is killed <<
        """, "no process of VllmDecodeWorker (decode) can match 'dynamo.sglang': processes are matched by the command "
             "line the deployment declares, and VllmDecodeWorker declares 'python3 -m dynamo.vllm --model "
             "Qwen/Qwen3-0.6B --disaggregation-mode decode'; name a part of it, such as 'dynamo.vllm'"),
    BadInput("a-frontend-process-named-in-a-worker", """
        Given a mocker agg deployment
        When the "dynamo.frontend" process of one worker pod is killed <<
        """, "no process of decode (decode) can match 'dynamo.frontend': processes are matched by the command line "
             "the deployment declares, and decode declares 'python3 -m dynamo.mocker --model-path Qwen/Qwen3-0.6B "
             "--model-name Qwen/Qwen3-0.6B --speedup-ratio 1.0'; name a part of it, such as 'dynamo.mocker'; "
             "'dynamo.frontend' is the command of Frontend (frontend): name that service instead"),
    BadInput("a-worker-process-frozen-in-the-frontend", """
        Given a mocker agg deployment
        When the "dynamo.mocker" process of the frontend is frozen for 5 seconds <<
        """, "no process of Frontend (frontend) can match 'dynamo.mocker': processes are matched by the command line "
             "the deployment declares, and Frontend declares 'python3 -m dynamo.frontend'; name a part of it, such "
             "as 'dynamo.frontend'; 'dynamo.mocker' is the command of decode (decode): name that service instead"),
    BadInput("zero-worker-replicas", """
        Given a mocker agg deployment with 0 replicas <<
        """, "service decode (decode) has 0 replicas, so the deployment could never be ready (the frontend lists "
             "the model only once a worker serves it); give every frontend and worker service 1 to 16 replicas"),
    BadInput("zero-frontend-replicas", """
        Given a mocker agg deployment
        And the frontend service has 0 replicas <<
        """, "service Frontend (frontend) has 0 replicas, so the deployment could never be ready (the frontend lists "
             "the model only once a worker serves it); give every frontend and worker service 1 to 16 replicas"),
    BadInput("a-hundred-thousand-replicas", """
        Given a mocker agg deployment with 100000 replicas <<
        """, "replicas of service 'decode' must be a whole number from 0 to 16, got 100000"),
    BadInput("a-freeze-of-a-billion-seconds", """
        Given a mocker agg deployment
        When the "dynamo.mocker" process of the worker is frozen for 1e9 seconds <<
        """, "a freeze must be a number of seconds more than 0 and at most 3600 (1 hour), got 1000000000.0"),
    BadInput("a-load-for-inf-seconds", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for inf seconds <<
        """, "load duration_seconds must be a number of seconds from 1 to 3600 (1 hour), got inf"),
    BadInput("a-load-for-nan-minutes", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for nan minutes <<
        """, "load duration_seconds must be a number of seconds from 1 to 3600 (1 hour), got nan"),
    BadInput("a-load-too-short-for-any-client-to-send-a-request", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 0.001 seconds <<
        """, "load duration_seconds must be a number of seconds from 1 to 3600 (1 hour), got 0.001"),
    BadInput("a-paced-load-due-to-send-no-request", """
        Given a mocker agg deployment
        When a load is started with: <<
          | concurrency      | 2   |
          | duration_seconds | 5   |
          | request_rate     | 0.1 |
        """, "a load of 5 s at 0.1 requests per second is due to send 0.5 requests, so possibly none; give it at "
             "least 10 s or a request_rate of at least 0.2"),
    BadInput("prompt-and-output-beyond-the-models-context", """
        Given a mocker agg deployment
        When a load is started with: <<
          | request_count      | 10   |
          | input_tokens_mean  | 8000 |
          | output_tokens_mean | 500  |
        """, "load input_tokens_mean + output_tokens_mean must be at most 8192 (the model's context holds prompt "
             "and output), got 8000 + 500 = 8500"),
    BadInput("more-requests-in-flight-than-the-load-runs-at-once", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 30 seconds
        And 5 seconds pass
        And the "dynamo.mocker" process of the worker is killed while at least 10 requests are in flight <<
        """, "this step (send SIGKILL to 'dynamo.mocker' in worker while at least 10 requests are in flight) waits "
             "for at least 10 requests in flight, but the loads running at that point keep at most 2 in flight "
             "(load 'default': concurrency 2); ask for at most 2, or start a load at concurrency 10 or more"),
    BadInput("more-requests-in-flight-than-the-load-sends-in-all", """
        Given a mocker agg deployment
        When a load of 3 requests at concurrency 8 is started
        And one worker pod is deleted while at least 4 requests are in flight <<
        """, "this step (delete one pod of worker (force) while at least 4 requests are in flight) waits for at "
             "least 4 requests in flight, but the loads running at that point keep at most 3 in flight (load "
             "'default': 3 requests in all); ask for at most 3, or start a load at concurrency 4 or more"),
    BadInput("requests-in-flight-with-no-load-started", """
        Given a mocker agg deployment
        When the worker pod is deleted while at least 2 requests are in flight <<
        """, "this step (delete every pod of worker (force) while at least 2 requests are in flight) waits for at "
             "least 2 requests in flight, but no load is running at that point (no load was started before it); "
             "start one before it, for example: When a load at concurrency 2 is started for 30 seconds"),
    BadInput("requests-in-flight-after-the-load-is-over", """
        Given a mocker agg deployment
        When a load at concurrency 4 is started for 10 seconds
        And 20 seconds pass
        And the worker service is rolling-upgraded while at least 2 requests are in flight <<
        """, "this step (rolling-upgrade worker (new TEST_ROLLING_UPDATE_TRIGGER) while at least 2 requests are in "
             "flight) waits for at least 2 requests in flight, but no load is running at that point (load 'default' "
             "sends for 10 s and the steps before this one take at least 20 s); start one before it, for example: "
             "When a load at concurrency 2 is started for 30 seconds"),
    BadInput("requests-in-flight-after-the-load-completed", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        And the load completes
        And the "dynamo.mocker" process of the worker is frozen for 2 seconds while at least 1 requests are in flight <<
        """, "this step (freeze 'dynamo.mocker' in worker for 2 s while at least 1 requests are in flight) waits for "
             "at least 1 requests in flight, but no load is running at that point (load 'default' has completed at "
             "an earlier step (wait for load 'default' to complete)); start one before it, for example: When a load "
             "at concurrency 1 is started for 30 seconds"),
    BadInput("a-fault-hit-check-asking-more-than-the-load-runs-at-once", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 30 seconds
        And the worker pod is deleted
        Then the fault hit at least 5 requests in flight <<
        """, "this check (the last fault hit at least 5 requests of load 'default' in flight) can never pass: load "
             "'default' keeps at most 2 requests in flight (concurrency 2); ask for at most 2"),
    BadInput("a-fault-hit-check-on-a-load-over-before-the-fault", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 10 seconds
        And 15 seconds pass
        And the worker pod is deleted
        Then the fault hit at least 1 requests in flight <<
        """, "this check (the last fault hit at least 1 requests of load 'default' in flight) can never pass: load "
             "'default' was not running when the last fault (delete every pod of worker (force)) was injected (load "
             "'default' sends for 10 s and the steps before this one take at least 15 s); inject the fault while the "
             "load runs"),
    BadInput("requests-succeeding-again-after-a-fault-no-load-saw", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        And the load completes
        And the worker pod is deleted
        Then requests succeed again within 10 seconds of the fault <<
        """, "this check (requests of load 'default' succeed again within 10 s of the fault) can never pass: load "
             "'default' had stopped sending before the last fault (delete every pod of worker (force)): load "
             "'default' has completed at an earlier step (wait for load 'default' to complete); inject the fault "
             "while the load runs, or start a load after it"),
    BadInput("a-recovery-wait-of-zero-seconds", """
        Given a mocker agg deployment
        When the worker pod is deleted
        And the deployment recovers within 0 seconds <<
        """, "a recovery timeout must be a number of seconds more than 0 and at most 3600 (1 hour), got 0.0"),
    BadInput("a-recovery-check-of-zero-seconds", """
        Given a mocker agg deployment
        When the worker pod is deleted
        Then the deployment recovered within 0 seconds <<
        """, "a recovery time must be a number of seconds more than 0 and at most 3600 (1 hour), got 0.0"),
    BadInput("requests-succeeding-again-within-zero-seconds", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 30 seconds
        And the worker pod is deleted
        Then requests succeed again within 0 seconds of the fault <<
        """, "the time for requests to succeed again must be a number of seconds more than 0 and at most 3600 "
             "(1 hour), got 0.0"),
    BadInput("inf-seconds-pass", """
        Given a mocker agg deployment
        When inf seconds pass <<
        """, "a wait must be a number of seconds from 0 to 3600 (1 hour), got inf"),
    BadInput("negative-seconds-pass", """
        Given a mocker agg deployment
        When -5 seconds pass <<
        """, "a wait must be a number of seconds from 0 to 3600 (1 hour), got -5.0"),
    BadInput("a-load-of-a-billion-requests", """
        Given a mocker agg deployment
        When a load of 1000000000 requests at concurrency 4 is started <<
        """, "load request_count must be a whole number from 1 to 100000, got 1000000000"),
    BadInput("a-concurrency-of-a-hundred-thousand", """
        Given a mocker agg deployment
        When a load of 100 requests at concurrency 100000 is started <<
        """, "load concurrency must be a whole number from 1 to 512, got 100000"),
    BadInput("a-load-table-with-an-infinite-rate", """
        Given a mocker agg deployment
        When a load is started with: <<
          | concurrency      | 4   |
          | duration_seconds | 10  |
          | request_rate     | inf |
        """, "load request_rate must be a number more than 0 and at most 10000 requests per second, got inf"),
    BadInput("a-load-completing-within-inf-seconds", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        And the load completes within inf seconds <<
        """, "the time to wait for a load to complete must be a number of seconds more than 0 and at most 3600 "
             "(1 hour), got inf"),
    BadInput("a-recovery-wait-of-a-billion-seconds", """
        Given a mocker agg deployment
        When the worker pod is deleted
        And the deployment recovers within 1e9 seconds <<
        """, "a recovery timeout must be a number of seconds more than 0 and at most 3600 (1 hour), got 1000000000.0"),
    BadInput("a-log-wait-of-inf-seconds", """
        Given a mocker agg deployment
        When the worker log shows "ready" within inf seconds <<
        """, "a log wait's timeout must be a number of seconds more than 0 and at most 3600 (1 hour), got inf"),
    BadInput("a-migration-limit-of-a-million", """
        Given a mocker agg deployment
        And request migration is enabled with a limit of 1000000 <<
        """, "the migration limit must be a whole number from 0 to 100, got 1000000"),
    BadInput("an-error-budget-beyond-any-load", """
        Given a mocker agg deployment
        When a load of 10 requests at concurrency 2 is started
        Then errors are at most 1000000 <<
        """, "the maximum number of errors must be a whole number from 0 to 100000, got 1000000"),
    BadInput("a-check-asking-for-more-successes-than-requests-sent", """
        Given a mocker agg deployment
        When a load of 100 requests at concurrency 2 is started
        Then at least 200 requests succeed <<
        """, "this check (at least 200 successful requests in load 'default') can never pass: load 'default' sends "
             "100 requests in all; ask for at most 100"),
    BadInput("a-check-asking-for-more-failures-than-requests-sent", """
        Given a mocker agg deployment
        When a load "burst" of 10 requests at concurrency 2 is started
        Then at least 11 requests of load "burst" fail <<
        """, "this check (at least 11 failed requests in load 'burst') can never pass: load 'burst' sends 10 requests "
             "in all; ask for at most 10"),
    BadInput("a-load-completing-before-its-duration", """
        Given a mocker agg deployment
        When a load at concurrency 2 is started for 30 seconds
        And the load completes within 10 seconds <<
        """, "load 'default' runs for 30 s, so it cannot complete within 10 s; give it more than 30 s"),
    BadInput("an-environment-variable-with-a-bad-name", """
        Given a mocker agg deployment
        And the worker service has the environment variable "1BAD-NAME" set to "x" <<
        """, "'1BAD-NAME' is not a valid environment variable name (letters, digits and _, not starting with a digit)"),
]


KUBERNETES = ["-D", "platform=kubernetes", "-D", "image=reg/dynamo:1.6.1"]
OPTIONS = "platform, namespace, image, storage_class, skip_service_restart, kube_context, allow_namespace, " \
          "load_image, keep_resources, kube_log_tee, client_type, output_dir, dry_run, seed"
BAD_OPTIONS = [  # (id, -D options, the one message): each stops the run before any scenario, exit code 2
    ("an-unknown-option", ["-D", "foo=bar"], f"unknown option -D foo; allowed: {OPTIONS}"),
    ("a-mistyped-option", ["-D", "platfrom=local"], f"unknown option -D platfrom (did you mean -D platform?); "
                                                    f"allowed: {OPTIONS}"),
    ("a-bool-option-given-another-word", ["-D", "keep_resources=maybe"],
     "option keep_resources takes true or false, got 'maybe'"),
    ("an-unknown-platform", ["-D", "platform=docker"], "unknown platform 'docker'; allowed: local, kubernetes"),
    ("an-unknown-client", ["-D", "client_type=wrk"], "unknown client_type 'wrk'; allowed: aiperf, legacy"),
    ("a-negative-seed", ["-D", "seed=-1"], "option seed takes a whole number from 0 to 4294967295, got '-1'"),
    ("a-seed-beyond-its-range", ["-D", "seed=4294967296"],
     "option seed takes a whole number from 0 to 4294967295, got '4294967296'"),
    ("an-empty-output-dir", ["-D", "output_dir="], "output_dir must not be empty"),
    ("a-namespace-kubernetes-refuses", [*KUBERNETES, "-D", "namespace=Fault_Tests"],
     "-D namespace=Fault_Tests: Kubernetes refuses this name; give a DNS-1123 label: lower-case letters, digits and "
     "'-', starting and ending with a letter or digit, at most 63 characters"),
    ("a-storage-class-kubernetes-refuses", [*KUBERNETES, "-D", "storage_class=nfs rwx"],
     "-D storage_class=nfs rwx: Kubernetes refuses this name; give a DNS-1123 subdomain: lower-case letters, digits, "
     "'-' and '.', each part starting and ending with a letter or digit, at most 253 characters"),
    ("a-protected-namespace", [*KUBERNETES, "-D", "namespace=kube-system"],
     "namespace 'kube-system' is refused: the suite creates and deletes deployments, Jobs and PVCs there. Use a "
     "namespace of its own (kubectl create namespace ft; -D namespace=ft), or name it explicitly with "
     "-D allow_namespace=kube-system"),
    ("the-legacy-client-in-a-load-job-that-installs-only-aiperf", [*KUBERNETES, "-D", "client_type=legacy", "-D",
                                                                    "load_image=pip-install"],
     "-D load_image=pip-install installs aiperf only, but -D client_type=legacy runs dynamo-ft's own client in the "
     "load Job: give -D load_image=<an image with dynamo-ft installed>, or use -D client_type=aiperf"),
    ("kubernetes-without-an-image-for-its-load-jobs", ["-D", "platform=kubernetes"],
     "-D platform=kubernetes runs each load as a Job, which needs an image with aiperf 0.13.0: set -D "
     "load_image=<image> (or -D image=<image> for every service and the load, or -D load_image=pip-install to pip "
     "install it in python:3.12-slim, which needs egress to PyPI)"),
]


def _feature_folder(root: Path, cases: list[BadInput], name: str = "bad") -> Path:
    """A behave folder with the project's hooks and steps and one feature file per case."""
    folder = root / name
    folder.mkdir()
    (folder / "environment.py").symlink_to(REPO_ROOT / "features" / "environment.py")
    (folder / "steps").symlink_to(REPO_ROOT / "steps")
    for case in cases:
        (folder / f"{case.id}.feature").write_text(case.feature())
    return folder


def _behave(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """behave in ``root`` (no behave.ini there: plain formatter, no Allure)."""
    return subprocess.run([*BEHAVE, "-f", "plain", "--no-color", *args], cwd=root, capture_output=True, text=True,
                          timeout=300, env=env)


def _plan_errors(output: str) -> dict[str, str]:
    """Each scenario's plan error, from behave's plain output."""
    errors = {}
    for block in re.split(r"\n  Scenario: ", output)[1:]:
        name = block.splitlines()[0].strip()
        found = re.search(r"HOOK-ERROR in before_scenario: SpecError: (.*)", block)
        errors[name] = found.group(1) if found else block
    return errors


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, str], Path, float]:
    root = tmp_path_factory.mktemp("bad_inputs")
    _feature_folder(root, CASES)
    started = time.monotonic()
    result = _behave(root, "bad", "-D", "dry_run=true", "-D", f"output_dir={root / 'out'}")
    return result, _plan_errors(result.stdout), root, time.monotonic() - started


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_bad_input_fails_in_the_plan_with_its_exact_message(dry_run, case):
    _, errors, _, _ = dry_run

    assert errors[case.id] == case.expected("bad")


def test_the_whole_catalogue_fails_fast_and_behave_exits_non_zero(dry_run):
    result, errors, root, seconds = dry_run

    assert result.returncode != 0
    assert f"{len(CASES)} hook_error" in result.stdout
    assert seconds < 60
    assert not [p for p in (root / "out").iterdir() if p.name != "allure-results"] if (root / "out").exists() else True


@pytest.mark.parametrize("options, message", [case[1:] for case in BAD_OPTIONS], ids=[case[0] for case in BAD_OPTIONS])
def test_each_bad_option_stops_the_run_before_any_scenario_with_its_exact_message(tmp_path, options, message):
    _feature_folder(tmp_path, CASES[:1])
    defaults = ["-D", f"output_dir={tmp_path / 'out'}"] if "output_dir=" not in options else []

    result = _behave(tmp_path, "bad", "-D", "dry_run=true", *defaults, *options)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"dynamo-ft: {message}"]
    assert "Scenario" not in result.stdout


def test_an_undefined_step_is_reported_alone_not_as_an_error_of_the_steps_before_it(tmp_path):
    case = BadInput("undefined", """
        Given a mocker agg deployment
        And the worker service has 2 replicas
        When the moon is full <<
        Then there are no errors
        """, "")
    _feature_folder(tmp_path, [case])

    result = _behave(tmp_path, "bad", "-D", "dry_run=true", "-D", f"output_dir={tmp_path / 'out'}")

    assert result.returncode != 0
    assert "HOOK-ERROR" not in result.stdout + result.stderr
    assert "already has a deployment" not in result.stdout + result.stderr
    assert "When the moon is full ... undefined" in result.stdout
    assert "1 undefined" in result.stdout
    assert "2 steps passed, 0 failed, 1 skipped, 1 undefined" in result.stdout


@pytest.mark.parametrize("given, problem", [("file", "is a file, not a folder"),
                                            ("file/below", "is a file, not a folder"),
                                            ("/proc/dynamo-ft-evidence", "cannot write evidence into")])
def test_an_output_dir_that_cannot_hold_evidence_stops_behave_naming_the_option(tmp_path, given, problem):
    _feature_folder(tmp_path, CASES[:1])
    (tmp_path / "file").write_text("not a folder")
    output_dir = given if given.startswith("/") else str(tmp_path / given)

    result = _behave(tmp_path, "bad", "-D", f"output_dir={output_dir}")

    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert f"-D output_dir={output_dir}: " in shown  # behave may print it as a hook error or on its own
    assert problem in shown


@pytest.mark.parametrize("given, problem", [
    ("file", "{tmp}/file is a file, not a folder; give a folder for the evidence (it is created if missing)"),
    ("file/below", "{tmp}/file is a file, not a folder; give a folder for the evidence (it is created if missing)"),
    ("/proc/dynamo-ft-evidence", "cannot write evidence into /proc/dynamo-ft-evidence (No such file or directory); "
                                 "give a folder that can be created and written")],
    ids=["a-file", "under-a-file", "cannot-be-created"])
def test_with_the_allure_formatter_a_bad_output_dir_is_one_line_and_exit_2_not_a_traceback(tmp_path, given, problem):
    _feature_folder(tmp_path, CASES[:1])
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")  # the project's formatter: Allure
    (tmp_path / "file").write_text("not a folder")
    output_dir = given if given.startswith("/") else str(tmp_path / given)

    result = subprocess.run([*BEHAVE, "bad", "-D", f"output_dir={output_dir}"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"dynamo-ft: -D output_dir={output_dir}: {problem.format(tmp=tmp_path)}"]
    assert "Traceback" not in result.stdout


def test_a_dry_run_creates_nothing_in_the_output_dir(tmp_path):
    _feature_folder(tmp_path, CASES[:1])
    (tmp_path / "behave.ini").symlink_to(REPO_ROOT / "behave.ini")

    result = subprocess.run([*BEHAVE, "bad", "-D", "dry_run=true", "-D", f"output_dir={tmp_path / 'out'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert "given-after-when" in result.stdout, result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


REAL_RUN = ["given-after-when", "a-load-name-started-twice", "stopping-a-completed-load",
            "a-recovery-wait-with-no-fault", "a-frontend-process-named-in-a-worker", "zero-worker-replicas",
            "a-freeze-of-a-billion-seconds", "inf-seconds-pass", "more-requests-in-flight-than-the-load-runs-at-once",
            "a-load-too-short-for-any-client-to-send-a-request", "a-recovery-check-of-zero-seconds"]


def test_without_dry_run_a_bad_scenario_deploys_nothing_and_behave_exits_non_zero(tmp_path):
    cases = [case for case in CASES if case.id in REAL_RUN]
    _feature_folder(tmp_path, cases)
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "sitecustomize.py").write_text(RECORD_POPEN)
    popen_log = tmp_path / "popen.log"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "hooks"), FT_POPEN_LOG=str(popen_log))
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-c", "import subprocess; subprocess.run(['true'])"], env=env, check=True)
    assert popen_log.read_text() == '["true"]\n'  # the recorder works in a child Python
    popen_log.unlink()

    started = time.monotonic()
    result = _behave(tmp_path, "bad", "-D", f"output_dir={out}", env=env)

    assert result.returncode != 0
    assert _plan_errors(result.stdout) == {case.id: case.expected("bad") for case in cases}
    assert time.monotonic() - started < 60
    assert [p.name for p in out.iterdir()] == []  # no evidence folder: nothing was deployed
    started_processes = [json.loads(line) for line in popen_log.read_text().splitlines()] if popen_log.exists() else []
    assert started_processes == []
