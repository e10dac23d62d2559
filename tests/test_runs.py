"""ftlib.runs: a run records what it creates; what a killed run left is reported and cleaned.

Each test runs the "earlier run" as a real Python child process (killed with SIGKILL), with the
registry in ``tmp_path`` (``FT_RUNS_DIR``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftlib import runs
from tests.procfs import gone

KILLED_RUN = """
import os, signal, subprocess, sys
from pathlib import Path
from ftlib import runs
record = runs.start_run()
(Path(record.temp_root) / "aiperf_mmap_x").mkdir()
helper = subprocess.Popen(["sleep", "60"], start_new_session=True)
print(record.run, record.temp_root, helper.pid, flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""


@pytest.fixture
def registry(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    monkeypatch.setenv("FT_RUNS_DIR", str(folder))
    return folder


def earlier_run(how: str) -> tuple[subprocess.Popen, str, Path, int]:
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "TMPDIR": "/tmp"})
    run, root, helper = child.stdout.readline().split()
    return child, run, Path(root), int(helper)


def alive(pid: int) -> bool:
    return not gone(pid)


def test_a_killed_runs_folder_and_processes_are_reported_then_cleaned(registry, capsys):
    child, run, root, helper = earlier_run("die")
    child.wait(timeout=30)
    try:
        found = runs.report_leftovers()
        assert [leftover.record.run for leftover in found] == [run]
        assert found[0].paths == [root] and found[0].pids == [helper]
        shown = capsys.readouterr().err
        assert f"run {run}" in shown and str(root) in shown and "./run clean" in shown

        lines = runs.clean()
        assert f"removed {root}" in lines and any(str(helper) in line for line in lines)
        assert not root.exists() and not alive(helper)
        assert list(registry.iterdir()) == [] and runs.leftovers() == []
    finally:
        if alive(helper):
            os.kill(helper, signal.SIGKILL)


def test_a_live_run_is_never_reported_or_cleaned(registry):
    child, run, root, helper = earlier_run("live")
    try:
        assert runs.leftovers() == []
        runs.clean()
        assert root.exists() and alive(helper)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        os.kill(helper, signal.SIGKILL)
    assert not root.exists(), "a run that ends normally removes its folder"
    assert list(registry.iterdir()) == []


def test_a_record_pointing_outside_the_temporary_folder_removes_nothing(registry, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    registry.mkdir()
    record = runs.RunRecord("20260101T000000-abcdef", 999999999, 1, "then", [], str(precious), [str(precious)])
    record.save()
    lines = runs.clean()
    assert precious.exists()
    assert any("refusing to remove" in line for line in lines)
    assert record.path.exists(), "the record stays while something it names could not be removed"


def test_the_run_record_is_written_before_its_folder_exists(registry, monkeypatch):
    made = []
    real_mkdir = Path.mkdir

    def watch(path, *args, **kwargs):
        if path.name.startswith(runs.TEMP_PREFIX):
            made.append([json.loads(p.read_text())["temp_root"] for p in registry.glob("*.json")])
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(runs, "_current", None)
    monkeypatch.setattr(Path, "mkdir", watch)
    record = runs.start_run()
    try:
        assert made == [[record.temp_root]]
        assert os.environ["TMPDIR"] == record.temp_root and os.environ[runs.RUN_ENV] == record.run
    finally:
        runs.finish_run()
    assert not Path(record.temp_root).exists() and not record.path.exists()
    assert os.environ.get(runs.RUN_ENV) is None
