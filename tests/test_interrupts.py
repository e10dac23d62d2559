"""Ctrl-C and SIGTERM: cleanup is never abandoned, and interrupted runs leave nothing behind.

The unit tests send real signals to this process; the end-to-end ones interrupt real behave runs
(scripts/interrupted_runs.py, which also runs the 20-run measurement)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from ftlib import interrupts


@pytest.fixture
def handlers():
    saved = {sig: signal.getsignal(sig) for sig in interrupts.SIGNALS}
    interrupts.install()
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    interrupts._state["interrupted"] = False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_raises_keyboard_interrupt_and_marks_the_run_interrupted(handlers, sig):
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
        signal.sigtimedwait([], 0)  # let the handler run here
    assert interrupts.interrupted()


def test_signals_during_cleanup_wait_until_it_is_done_then_stop_the_run(handlers, capfd):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred("cleanup"):
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("evidence kept")
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("torn down")
    assert steps == ["evidence kept", "torn down"]
    assert "SIGINT received during cleanup; finishing the cleanup first" in capfd.readouterr().err


def test_nested_cleanup_defers_until_the_outermost_block_ends(handlers):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                steps.append("inner done")
            steps.append("outer done")
    assert steps == ["inner done", "outer done"]


def test_a_cleanup_without_signals_changes_nothing(handlers):
    with interrupts.deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is interrupts._raise_keyboard_interrupt
    assert not interrupts.interrupted()


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["sigint", "sigterm", "run-sigterm", "double-sigint", "sigkill-clean"])
def test_an_interrupted_run_leaves_nothing_and_keeps_its_timeline(kind, tmp_path):
    from interrupted_runs import interrupted_run

    outcome = interrupted_run(kind, tmp_path / "out")
    assert outcome.left == [], outcome
    assert outcome.kept == ["events.txt", "timeline.json"], outcome
    if kind == "double-sigint":
        assert outcome.deferred_message, "the second Ctrl-C was deferred until cleanup ended"
