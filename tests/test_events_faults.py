"""ftlib.events.faults: signal names and what a fault event accepts (nothing is signalled here)."""

from __future__ import annotations

import pytest

from ftlib.errors import SpecError
from ftlib.events.faults import SIGNAL_NAMES, DeletePod, TerminateProcess, normalize_signal


@pytest.mark.parametrize("name", ["SIGKILL", "KILL", "kill", "9", " sigkill ", "Kill"])
def test_every_spelling_of_sigkill_is_sigkill(name):
    assert normalize_signal(name) == "SIGKILL"


@pytest.mark.parametrize("name, expected", [("term", "SIGTERM"), ("15", "SIGTERM"), ("INT", "SIGINT"),
                                            ("2", "SIGINT"), ("stop", "SIGSTOP"), ("SIGCONT", "SIGCONT")])
def test_other_signals_normalize_to_their_sig_name(name, expected):
    assert normalize_signal(name) == expected


@pytest.mark.parametrize("name", ["SIGFOO", "boom", "0", "999", "", "-9"])
def test_an_unknown_signal_is_an_error_listing_the_allowed_ones(name):
    with pytest.raises(SpecError) as error:
        normalize_signal(name)
    message = str(error.value)
    assert message.startswith(f"unknown signal {name!r}; allowed: ")
    assert "SIGKILL" in message and "SIGTERM" in message and "SIGINT" in message


def test_realtime_signals_are_not_offered():
    assert not [name for name in SIGNAL_NAMES if name.startswith("SIGRT")]


def test_terminate_process_normalizes_its_signal_when_built():
    event = TerminateProcess(["decode worker"], "dynamo.vllm", "kill")

    assert event.signal == "SIGKILL"
    assert event.description == "send SIGKILL to 'dynamo.vllm' in decode worker"


def test_terminate_process_rejects_an_unknown_signal_when_built():
    with pytest.raises(SpecError, match="unknown signal 'SIGNOPE'"):
        TerminateProcess(["worker"], "dynamo.vllm", "SIGNOPE")


def test_terminate_process_needs_a_process_name():
    with pytest.raises(SpecError, match="a process name to match is required"):
        TerminateProcess(["worker"], "")


def test_delete_pod_describes_which_pods_it_deletes():
    assert DeletePod(["Frontend"]).description == "delete every pod of Frontend (force)"
    assert DeletePod(["decode", "prefill"], one_pod=True, force=False).description == \
        "delete one pod of decode, prefill"


def test_faults_are_marked_as_faults_for_recovery_waits():
    assert DeletePod.is_fault and TerminateProcess.is_fault
