"""Log patterns: validated when the scenario is planned, searched over whole logs of every pod
(previous containers and pods created after the wait began included), colour codes ignored."""

from __future__ import annotations

import threading

import pytest

from fake_deployment import FakeDeployment, context_with
from ftlib.checks import ServiceLogContains, ServiceLogNotContains
from ftlib.errors import SpecError
from ftlib.events import WaitForLogPattern
from ftlib.events.logs import compile_pattern, first_match, plain

COLOURED = "\x1b[2m2026-01-01T00:00:00Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mdynamo_llm::mocker\x1b[0m: engine ready\n"


@pytest.mark.parametrize("make", [
    lambda p: WaitForLogPattern("decode", p, timeout=1),
    lambda p: ServiceLogContains("decode", p),
    lambda p: ServiceLogNotContains("decode", p),
])
def test_an_invalid_regular_expression_is_a_spec_error_when_the_step_is_built(make):
    with pytest.raises(SpecError, match="not a valid regular expression"):
        make("request (completed")


def test_an_empty_pattern_is_a_spec_error():
    with pytest.raises(SpecError):
        compile_pattern("")


def test_colour_codes_do_not_hide_a_match():
    assert plain(COLOURED).startswith("2026-01-01T00:00:00Z  INFO dynamo_llm::mocker: engine ready")
    assert first_match(compile_pattern(r"INFO dynamo_llm::mocker: engine ready$"), {"pod": COLOURED}) == (
        "pod", "2026-01-01T00:00:00Z  INFO dynamo_llm::mocker: engine ready")


def test_the_wait_finds_a_line_already_in_the_previous_log(tmp_path):
    deployment = FakeDeployment()
    pod = deployment.pods("decode")[0].name
    deployment.log_text[(pod, True)] = "boot\nKV cache exhausted\n"
    event = WaitForLogPattern("decode worker", r"KV cache \w+", timeout=2)
    context_with(deployment, tmp_path).run_event(event)
    assert event.found_in_pod == f"{pod} (previous)" and event.matched_line == "KV cache exhausted"


def test_the_wait_sees_pods_created_after_it_began(tmp_path):
    deployment = FakeDeployment()

    def new_pod_logs_it():
        pod = deployment.add_pod("decode").name
        deployment.log_text[(pod, False)] = COLOURED

    threading.Timer(0.3, new_pod_logs_it).start()
    event = WaitForLogPattern("decode", "engine ready", timeout=5)
    context_with(deployment, tmp_path).run_event(event)
    assert event.found_in_pod.startswith("decode-") and 0.2 < event.found_after_seconds < 5


def test_a_wait_that_times_out_names_the_pattern_the_service_and_the_pods(tmp_path):
    deployment = FakeDeployment()
    pod = deployment.pods("prefill")[0].name
    deployment.log_text[(pod, False)] = "nothing of interest\n"
    with pytest.raises(AssertionError, match=rf"prefill log to show 'panicked at'.*{pod}"):
        context_with(deployment, tmp_path).run_event(WaitForLogPattern("prefill", "panicked at", timeout=0.3))


def _saved_logs(tmp_path):
    directory = tmp_path / "decode"
    directory.mkdir()
    (directory / "mocker-disagg-decode-abcde_20260101T000000.log").write_text(COLOURED)
    (directory / "mocker-disagg-decode-abcde_20260101T000000.previous.log").write_text("thread 'main' panicked at x\n")
    (directory / "mocker-disagg-decode-abcde_20260101T000000.metrics.log").write_text("requests_total 3\n")
    return directory


def test_log_checks_read_the_saved_logs_after_teardown(tmp_path):
    _saved_logs(tmp_path)
    ctx = context_with(FakeDeployment(), tmp_path)
    ctx.deployment = None  # torn down: only the evidence on disk is left
    ServiceLogContains("decode", r"panicked at").validate(ctx)
    ServiceLogContains("decode", r"engine ready").validate(ctx)
    with pytest.raises(AssertionError, match="requests_total"):
        ServiceLogContains("decode", r"requests_total").validate(ctx)  # metrics are not the log


def test_a_log_that_must_not_contain_a_pattern_lists_the_lines_that_do(tmp_path):
    _saved_logs(tmp_path)
    ctx = context_with(FakeDeployment(), tmp_path)
    ctx.deployment = None
    ServiceLogNotContains("decode", r"\bERROR\b").validate(ctx)
    with pytest.raises(AssertionError, match=r"1 lines match in 2 logs — FAILED\n  the first ones:\n  mocker-disagg-decode-abcde \(previous\): thread"):
        ServiceLogNotContains("decode", "panicked at").validate(ctx)


def test_log_checks_also_read_logs_only_the_platform_still_holds(tmp_path):
    deployment = FakeDeployment()
    pod = deployment.pods("decode")[0].name
    deployment.remove_pod(pod)
    deployment.log_text[(pod, False)] = "graceful shutdown complete\n"
    ServiceLogContains("decode", "graceful shutdown").validate(context_with(deployment, tmp_path))


def test_log_checks_ignore_files_an_earlier_run_left_in_the_same_directory(tmp_path):
    _saved_logs(tmp_path)  # pod mocker-disagg-decode-abcde is not this deployment's
    deployment = FakeDeployment()
    pod = deployment.pods("decode")[0].name
    deployment.timeline.add("pod_created", pod, "decode")
    (tmp_path / "decode" / f"{pod}_20260102T000000.log").write_text("our line\n")
    ctx = context_with(deployment, tmp_path)
    ServiceLogContains("decode", "our line").validate(ctx)
    ServiceLogNotContains("decode", "panicked at").validate(ctx)
