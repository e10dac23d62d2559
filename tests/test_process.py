"""ftlib.process with real short-lived children: a reaped process is never signalled."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from ftlib.process import ProcessGroup, kill_group, spawn
from tests.procfs import process_state as _state


@pytest.fixture
def signals_sent(monkeypatch) -> list[tuple]:
    """Every kill, killpg and pidfd signal the code under test sends (still sent for real)."""
    sent: list[tuple] = []
    for module, name in ((os, "kill"), (os, "killpg"), (signal, "pidfd_send_signal")):
        real = getattr(module, name)

        def record(*args, _real=real, _name=name):
            sent.append((_name, *args))
            return _real(*args)

        monkeypatch.setattr(module, name, record)
    return sent


def test_a_child_that_exited_is_never_signalled_again(tmp_path, signals_sent):
    child = spawn(["sh", "-c", "exit 3"], dict(os.environ), tmp_path / "out.log")
    assert child.wait(timeout=10) == 3
    signals_sent.clear()

    assert child.send_signal(signal.SIGTERM) is False
    assert child.signal_group(signal.SIGKILL) is False
    assert kill_group(child) is False
    child.kill()
    child.terminate()
    assert child.stop(grace_seconds=1) == 3
    assert signals_sent == []


def test_the_group_is_emptied_before_the_leader_is_reaped(tmp_path, signals_sent):
    pid_file = tmp_path / "helper.pid"
    child = spawn(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; exit 0"], dict(os.environ), tmp_path / "out.log")
    assert child.wait(timeout=10) == 0
    helper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _state(helper) not in ("gone", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(helper) in ("gone", "Z"), "the helper left in the group was killed with the group"
    assert signals_sent == [("killpg", child.pid, signal.SIGKILL)], "one group kill, before the reap"


def test_stop_terminates_then_kills_and_reaps(tmp_path):
    child = spawn(["sh", "-c", "trap '' TERM; sleep 60"], dict(os.environ), tmp_path / "out.log")
    time.sleep(0.2)
    started = time.monotonic()
    assert child.stop(grace_seconds=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert _state(child.pid) == "gone", "reaped: no zombie of ours is left"


def test_a_graceful_stop_ends_with_the_leaders_own_exit(tmp_path):
    child = spawn(["sleep", "60"], dict(os.environ), tmp_path / "out.log")
    assert child.stop(grace_seconds=5) == -signal.SIGTERM


def test_a_child_reaped_by_someone_else_is_not_signalled(tmp_path, signals_sent):
    child = spawn(["sh", "-c", "exit 0"], dict(os.environ), tmp_path / "out.log")
    os.waitpid(child.pid, 0)  # someone else reaps it: its number may be reused from now on
    signals_sent.clear()
    assert child.poll() == 0
    assert child.signal_group(signal.SIGKILL) is False
    assert signals_sent == []


def test_the_leader_is_signalled_through_a_pidfd(tmp_path, signals_sent):
    child = spawn(["sleep", "60"], dict(os.environ), tmp_path / "out.log")
    assert child.send_signal(signal.SIGTERM) is True
    assert child.wait(timeout=10) == -signal.SIGTERM
    assert [call[0] for call in signals_sent] == ["pidfd_send_signal", "killpg"]


def test_output_is_appended_to_the_log_file(tmp_path):
    log = tmp_path / "out.log"
    log.write_text("before\n")
    spawn(["echo", "after"], dict(os.environ), log).wait(timeout=10)
    assert log.read_text() == "before\nafter\n"


def test_a_plain_popen_group_is_never_signalled(signals_sent):
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    assert kill_group(child) is False
    assert signals_sent == []
    assert issubclass(ProcessGroup, subprocess.Popen), "a ProcessGroup is used wherever a Popen was"


def test_one_member_of_the_group_is_signalled_only_while_it_is_in_the_group(tmp_path):
    pid_file = tmp_path / "helper.pid"
    child = spawn(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], dict(os.environ), tmp_path / "out.log")
    deadline = time.monotonic() + 5
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    helper = int(pid_file.read_text())
    assert child.signal_member(os.getpid(), signal.SIGTERM) is False, "a process outside the group is refused"
    assert child.signal_member(helper, signal.SIGKILL) is True
    assert child.wait(timeout=10) == 0  # the shell's wait returns once its helper is gone
    assert child.signal_member(helper, signal.SIGKILL) is False, "nothing is sent once the leader is reaped"
