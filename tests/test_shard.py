"""The shard runner: choosing N, splitting ports, ordering scenarios, and running real behave
children on a small feature folder of its own (no deployment: its steps only pass, fail or sleep)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from ftlib.shard import (Selected, batches, collect, default_jobs, estimate_seconds, output_dir, port_ranges,
                         split_paths)

REPO = Path(__file__).resolve().parents[1]
BEHAVE = [sys.executable, "-m", "behave"]


def test_default_jobs_is_one_per_core_within_the_memory():
    assert default_jobs(cores=2, available_gb=23) == 2
    assert default_jobs(cores=8, available_gb=6) == 4
    assert default_jobs(cores=1, available_gb=0.5) == 1


def test_port_ranges_are_disjoint_and_stay_below_32768():
    ranges = port_ranges(4)
    assert len(ranges) == 4
    for (low, high), (next_low, _) in zip(ranges, ranges[1:]):
        assert low < high < next_low
    assert ranges[0][0] == 20000 and ranges[-1][1] <= 32767


def test_estimate_reads_the_load_duration_and_the_waits():
    assert estimate_seconds(["a vllm agg deployment", "a load at concurrency 4 is started for 25 seconds"]) == 37
    assert estimate_seconds(["a load at concurrency 4 is started for 2 minutes"]) == 132
    assert estimate_seconds(["a load of 50 requests at concurrency 4 is started"]) == 30
    assert estimate_seconds(["6 seconds pass", "4 seconds pass"]) == 22


def test_batches_put_scenarios_sharing_an_evidence_name_together_longest_first():
    items = [Selected("a.feature:3", "short", 10), Selected("b.feature:4", "long", 50),
             Selected("c.feature:5", "short", 10)]
    groups = batches(items)
    assert [[i.location for i in g] for g in groups] == [["b.feature:4"], ["a.feature:3", "c.feature:5"]]


def test_serial_scenarios_come_last_and_run_alone(tmp_path):
    from ftlib.shard import ShardRunner

    items = [Selected("a.feature:3", "alone", 90, serial=True), Selected("b.feature:4", "beside", 10)]
    groups = batches(items)
    assert [g[0].name for g in groups] == ["beside", "alone"]
    runner = ShardRunner([], [], 2, tmp_path)
    assert runner._may_start(groups[0]) and runner._may_start(groups[1])
    runner.running[0] = (None, groups[0], 0.0, tmp_path)
    assert not runner._may_start(groups[1])  # something runs: the serial one waits
    runner.running = {0: (None, groups[1], 0.0, tmp_path)}
    assert not runner._may_start(groups[0])  # a serial one runs: nothing starts beside it


def test_split_paths_keeps_option_values_apart_from_feature_paths():
    options, paths = split_paths(["--tags", "@smoke", "features/x.feature", "-D", "a=b", "-n", "kill", "--stop"])
    assert paths == ["features/x.feature"]
    assert options == ["--tags", "@smoke", "-D", "a=b", "-n", "kill", "--stop"]


def test_output_dir_follows_the_option(tmp_path):
    assert output_dir(["-D", "output_dir=/x/y"], tmp_path) == Path("/x/y")
    assert output_dir(["--tags", "@smoke"], tmp_path) == tmp_path / "test_outputs"


def test_collect_lists_the_repository_smoke_scenarios_without_deploying(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    selected = collect(BEHAVE, ["--tags", "@smoke", "-D", f"output_dir={tmp_path}"])
    assert [s.location for s in selected] == ["features/smoke.feature:8", "features/smoke.feature:17"]
    assert not list(tmp_path.iterdir())  # the dry run wrote into its own scratch folder


STEPS = """
import time
from behave import step

@step("it passes")
def passes(context):
    pass

@step("it fails")
def fails(context):
    raise AssertionError("failed on purpose")

@step("it records its time as {name}")
def records(context, name):
    start = time.time()
    time.sleep(1.5)
    with open(f"span-{name}", "w") as f:
        f.write(f"{start} {time.time()}")


@step("it sleeps {seconds:d} seconds")
def sleeps(context, seconds):
    with open(f"pid-{__import__('os').getpid()}", "w") as f:
        f.write("x")
    time.sleep(seconds)
"""

FEATURE = """
Feature: shard runner sample
  Scenario: one passes
    Given it passes

  Scenario: one fails
    Given it fails

  Scenario: another passes
    Given it passes
"""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    (tmp_path / "features" / "steps").mkdir(parents=True)
    (tmp_path / "features" / "steps" / "sample.py").write_text(textwrap.dedent(STEPS))
    (tmp_path / "features" / "sample.feature").write_text(textwrap.dedent(FEATURE))
    return tmp_path


def _shard(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "ftlib.shard", *args], cwd=folder, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)


def test_shards_run_every_scenario_and_close_with_the_counts(sample):
    done = _shard(sample, "-j", "2", "-D", f"output_dir={sample / 'out'}")
    assert done.returncode == 1, done.stdout
    assert done.stdout.splitlines()[-1] == "scenarios: 2 passed, 1 failed"
    assert "FAILED" in done.stdout and "one fails" in done.stdout
    assert "failed on purpose" not in done.stdout  # no traceback or message dump, only the summary lines
    assert (sample / "out" / "shards.json").exists()


def test_a_selection_of_no_scenario_is_an_error(sample):
    done = _shard(sample, "-j", "2", "-n", "no such scenario", "-D", f"output_dir={sample / 'out'}")
    assert done.returncode == 2
    assert done.stdout.splitlines() == ["dynamo-ft: no scenario matches -n no such scenario (of 3 scenarios in 1 "
                                        "feature files); nothing to run"]
    assert not (sample / "out" / "shard-logs").exists()


@pytest.mark.parametrize("bad", [["-D", "foo=bar"], ["-D", "dry_run=maybe"], ["--tags", "@no_such_tag"],
                                 ["-D", "output_dir=/proc/dynamo-ft-shards"]],
                         ids=["unknown-option", "bad-value", "no-scenario-selected", "output-dir-cannot-be-created"])
def test_a_bad_argument_with_shards_is_the_same_single_message_and_exit_2_as_without(tmp_path, bad):
    args = ["-D", f"output_dir={tmp_path / 'out'}", *bad]
    env = dict(os.environ, PYTHONPATH=str(REPO))

    sharded = subprocess.run([sys.executable, "-m", "ftlib.shard", "-j", "2", *args], cwd=REPO, env=env, text=True,
                             capture_output=True, timeout=120)
    alone = subprocess.run([*BEHAVE, "-f", "null", *args], cwd=REPO, env=env, text=True, capture_output=True,
                           timeout=120)

    assert (sharded.returncode, alone.returncode) == (2, 2)
    assert sharded.stderr.splitlines() == alone.stderr.splitlines()
    assert len(sharded.stderr.splitlines()) == 1 and sharded.stderr.startswith("dynamo-ft: ")
    assert sharded.stdout == ""  # no child started, no "FAILED", no closing line
    assert not (tmp_path / "out" / "shard-logs").exists()


def test_a_bad_job_count_names_what_is_allowed(sample):
    done = _shard(sample, "-j", "zero")
    assert done.returncode == 2 and "whole number from 1 to 16" in done.stdout


def test_sigterm_stops_the_children_and_leaves_none(sample):
    (sample / "features" / "slow.feature").write_text("Feature: slow\n  Scenario: sleeps\n    Given it sleeps 60 seconds\n"
                                                     "  Scenario: sleeps too\n    Given it sleeps 60 seconds\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, "-m", "ftlib.shard", "-j", "2", "features/slow.feature",
                               "-D", f"output_dir={sample / 'out'}"], cwd=sample, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while len(list(sample.glob("pid-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    children = [int(p.name.split("-")[1]) for p in sample.glob("pid-*")]
    assert len(children) == 2
    parent.send_signal(signal.SIGTERM)
    output, _ = parent.communicate(timeout=30)
    assert parent.returncode == 130, output
    assert "interrupted" in output
    assert not [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_child_past_its_deadline_is_stopped_so_the_queue_never_waits_forever(sample, monkeypatch):
    from ftlib import shard

    (sample / "features" / "slow.feature").write_text("Feature: slow\n  Scenario: sleeps\n"
                                                     "    Given it sleeps 60 seconds\n")
    monkeypatch.chdir(sample)
    monkeypatch.setattr(shard, "CHILD_MIN_SECONDS", 2.0)
    monkeypatch.setattr(shard, "CHILD_ESTIMATE_FACTOR", 0)
    monkeypatch.setattr(shard, "STOP_GRACE_SECONDS", 5.0)
    runner = shard.ShardRunner(BEHAVE, ["features/slow.feature"], 1, sample)
    started = time.monotonic()

    (outcome,) = runner.run([[Selected("features/slow.feature:2", "sleeps", 60.0)]])

    assert time.monotonic() - started < 20
    assert outcome.code != 0


def test_a_serial_scenario_runs_with_no_other_beside_it(sample):
    (sample / "features" / "timed.feature").write_text(
        "Feature: timed\n  Scenario: first\n    Given it records its time as a\n"
        "  @serial\n  Scenario: alone\n    Given it records its time as s\n"
        "  Scenario: second\n    Given it records its time as b\n")
    done = _shard(sample, "-j", "3", "features/timed.feature", "-D", f"output_dir={sample / 'out'}")
    assert done.returncode == 0, done.stdout
    spans = {name: tuple(map(float, (sample / f"span-{name}").read_text().split())) for name in "asb"}
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]  # the other two ran side by side
    assert all(spans["s"][0] >= spans[n][1] or spans["s"][1] <= spans[n][0] for n in "ab")  # the serial one alone


# -- names, counts and results ---------------------------------------------------------------------------

def test_outline_rows_are_grouped_by_the_folder_named_from_the_outline_and_their_values(monkeypatch):
    from ftlib.shard import refuse_bad_arguments

    monkeypatch.chdir(REPO)
    args = ["--tags", "@matrix", "-D", "dry_run=true"]
    selected = collect(BEHAVE, args, refuse_bad_arguments(args).folder_names)

    names = [item.evidence_name for item in selected]
    assert "mocker_agg_x1_the_decode_engine_is_killed_under_load" in names
    assert len(set(names)) == len(names) == len(batches(selected))  # every row a folder of its own, a child of its own
    assert not [name for name in names if "--" in name or "matrix" in name]  # no example group's title


def test_two_scenarios_whose_folders_would_share_a_name_run_in_one_child():
    items = [Selected("a.feature:3", "x -- @1.1 first group", 10, folder_name="x"),
             Selected("a.feature:9", "x -- @2.1 second group", 10, folder_name="x")]
    assert [[i.location for i in g] for g in batches(items)] == [["a.feature:3", "a.feature:9"]]


def test_a_child_whose_scenario_an_error_stopped_counts_as_failed_and_errored(tmp_path):
    from ftlib.shard import ShardRunner, tally_of

    log = tmp_path / "child.log"
    log.write_text("features/x.feature  \n  error in 1.2 s: no errors — could not judge | evidence: out/x\nE\n"
                   "0 scenarios passed, 0 failed, 1 error, 3 skipped\n")
    outcome = ShardRunner._outcome(1, [Selected("features/x.feature:2", "x", 10)], 1.5, log)

    assert (outcome.passed, outcome.failed, outcome.errored) == (0, 1, 1)
    tally = tally_of([outcome])
    assert tally.closing_line() == "scenarios: 0 passed, 1 failed (1 errored)"
    assert tally.not_passed == ["error  features/x.feature:2  x"]


def test_shards_end_with_the_wall_time_the_evidence_the_report_and_the_counts(sample):
    done = _shard(sample, "-j", "2", "-D", f"output_dir={sample / 'out'}")
    lines = done.stdout.splitlines()

    assert lines[-6].startswith("wall time ") and lines[-6].endswith(" s with 2 worker processes")
    assert lines[-5] == "evidence: out/<scenario>/ (one folder per scenario; Allure results in out/allure-results)"
    assert lines[-4].startswith(f"report: ./run report {sample / 'out' / 'allure-results'} (renders them into ")
    assert lines[-3:] == ["did not pass:", "  failed  features/sample.feature:6  one fails",
                          "scenarios: 2 passed, 1 failed"]


def _earlier_results(sample: Path) -> Path:
    results = sample / "out" / "allure-results"
    results.mkdir(parents=True)
    (results / "earlier-result.json").write_text("{}")
    return results / "earlier-result.json"


def test_shards_clear_the_earlier_results_only_once_scenarios_are_to_run(sample, monkeypatch):
    monkeypatch.setenv("FT_FRESH_RESULTS", "1")  # as ./run asks
    earlier = _earlier_results(sample)

    assert _shard(sample, "-j", "2", "-n", "no such scenario", "-D", f"output_dir={sample / 'out'}").returncode == 2
    assert _shard(sample, "-j", "2", "-D", "platfrom=local", "-D", f"output_dir={sample / 'out'}").returncode == 2
    assert earlier.exists()
    done = _shard(sample, "-j", "2", "-D", f"output_dir={sample / 'out'}")
    assert not earlier.exists(), done.stdout
    assert f"allure results: removed 1 files of earlier runs from {earlier.parent}" in done.stdout
