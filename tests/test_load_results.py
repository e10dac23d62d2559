"""ftlib.load.results: honest counting of aiperf's per-request records.

The recorded run (tests/data) is a real aiperf 0.13 load against a mocker deployment in which one
of two workers was SIGKILLed: 45 records, 42 succeeded, 2 streams cut with no output (HTTP 200,
so aiperf counts them as successes) and 1 error 503.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ftlib.errors import LoadError
from ftlib.load.results import READY_FILE, RECORDS_FILE, SUMMARY_FILE, LoadResults, RequestRecord

CUT_LINES = (20, 23)  # 1-based line numbers of the cut streams in the recorded file
ERROR_LINE = 28  # the 503


def _write_run(directory: Path, lines: list[str], summary: dict | None = None, ready: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RECORDS_FILE).write_text("".join(line + "\n" for line in lines))
    if summary is not None:
        (directory / SUMMARY_FILE).write_text(json.dumps(summary))
    if ready is not None:
        (directory / READY_FILE).write_text(json.dumps(ready))
    return directory


def _read(directory: Path, stopped_early: bool = False, streaming: bool = True, expected: int | None = 64):
    return LoadResults.from_aiperf_dir("default", directory, expected, streaming, stopped_early, return_code=0)


def _edited(line: str, **metadata) -> str:
    """A recorded line with some metadata fields changed (the rest verbatim)."""
    raw = json.loads(line)
    raw["metadata"].update(metadata)
    return json.dumps(raw)


def _with_output_length(line: str, tokens: int) -> str:
    raw = json.loads(line)
    raw["metrics"]["output_sequence_length"]["value"] = tokens
    return json.dumps(raw)


# -- the recorded worker kill -------------------------------------------------------------------

def test_recorded_worker_kill_counts_cut_streams_and_the_503_as_failures(recorded_run):
    results = _read(recorded_run)

    assert (results.total, results.succeeded, results.failed) == (45, 42, 3)
    assert results.failure_kinds() == Counter({"stream cut (no output)": 2, "503 Service Unavailable": 1})
    assert results.success_rate == pytest.approx(100 * 42 / 45)


def test_recorded_summary_counts_the_cut_streams_as_successes_which_is_why_records_rule(recorded_run):
    results = _read(recorded_run)

    assert results.summary["request_count"]["avg"] == 44  # aiperf's own count: cut streams "succeeded"
    assert results.summary["error_request_count"]["avg"] == 1
    assert results.succeeded == 42


def test_recorded_run_was_cancelled_according_to_its_summary(recorded_run):
    results = _read(recorded_run, stopped_early=False)

    assert results.was_cancelled is True
    assert results.notes == []
    assert results.directory == recorded_run and results.return_code == 0


def test_records_are_sorted_by_start_time(recorded_run):
    starts = [r.start_ns for r in _read(recorded_run).records]

    assert starts == sorted(starts)
    assert starts[0] == 1795715508026686003


def test_a_successful_record_keeps_its_timing_and_output_length(recorded_lines):
    record = RequestRecord.from_aiperf(json.loads(recorded_lines[0]), 64, True)

    assert record.ok and record.failure == ""
    assert (record.start_ns, record.end_ns) == (1795715508026686003, 1795715508440228239)
    assert record.output_tokens == 64
    assert record.latency_ms == pytest.approx(413.542236)
    assert record.ttft_ms == pytest.approx(32.635015)


def test_a_cut_stream_has_latency_but_no_output_length(recorded_lines):
    record = RequestRecord.from_aiperf(json.loads(recorded_lines[CUT_LINES[1] - 1]), 64, True)

    assert not record.ok
    assert record.failure == "stream cut (no output)"
    assert record.output_tokens is None
    assert record.latency_ms == pytest.approx(150.497833)


def test_an_http_error_record_is_named_by_code_and_type(recorded_lines):
    record = RequestRecord.from_aiperf(json.loads(recorded_lines[ERROR_LINE - 1]), 64, True)

    assert not record.ok
    assert record.failure == "503 Service Unavailable"
    assert record.start_ns == record.end_ns == 1795715513135269413


def test_describe_names_the_counts_the_failure_kinds_and_the_cancellation(recorded_run):
    assert _read(recorded_run).describe() == (
        "load 'default': 45 requests, 42 succeeded, 3 failed "
        "(stream cut (no output) x2, 503 Service Unavailable x1), cancelled")


# -- runs without a summary ---------------------------------------------------------------------

def test_a_run_where_every_request_failed_still_yields_results(tmp_path, recorded_lines):
    failed = [recorded_lines[n - 1] for n in (*CUT_LINES, ERROR_LINE)]
    results = _read(_write_run(tmp_path / "run", failed), stopped_early=False)

    assert (results.total, results.succeeded, results.failed) == (3, 0, 3)
    assert results.summary is None
    assert results.success_rate == 0.0


@pytest.mark.parametrize("stopped_early", [True, False])
def test_without_summary_or_ready_marker_was_cancelled_follows_stopped_early(tmp_path, recorded_lines, stopped_early):
    results = _read(_write_run(tmp_path / "run", recorded_lines[:5]), stopped_early=stopped_early)

    assert results.was_cancelled is stopped_early
    assert results.notes == ["aiperf wrote no summary; was_cancelled is taken from whether the load was stopped early"]


@pytest.mark.parametrize("cancelled", [True, False])
def test_after_sigterm_was_cancelled_comes_from_the_ready_marker(tmp_path, recorded_lines, cancelled):
    marker = {"ready": True, "was_cancelled": cancelled, "partial": False}  # as aiperf's write_ready_marker
    results = _read(_write_run(tmp_path / "run", recorded_lines[:5], ready=marker), stopped_early=not cancelled)

    assert results.was_cancelled is cancelled
    assert results.notes == []


def test_a_ready_marker_without_was_cancelled_falls_back_to_stopped_early(tmp_path, recorded_lines):
    results = _read(_write_run(tmp_path / "run", recorded_lines[:5], ready={"ready": True}), stopped_early=True)

    assert results.was_cancelled is True
    assert len(results.notes) == 1


def test_the_summary_wins_over_the_ready_marker(tmp_path, recorded_lines):
    run = _write_run(tmp_path / "run", recorded_lines[:5], summary={"was_cancelled": False},
                     ready={"ready": True, "was_cancelled": True})

    assert _read(run, stopped_early=True).was_cancelled is False


def test_a_half_written_summary_counts_as_no_summary(tmp_path, recorded_lines):
    run = _write_run(tmp_path / "run", recorded_lines[:5])
    (run / SUMMARY_FILE).write_text('{"was_cancelled": tr')

    results = _read(run, stopped_early=True)

    assert results.summary is None and results.was_cancelled is True


# -- what counts ------------------------------------------------------------------------------------

def test_warmup_records_are_ignored(tmp_path, recorded_lines):
    warmup = [_edited(line, benchmark_phase="warmup", phase_name="warmup", phase_kind="warmup")
              for line in (recorded_lines[0], recorded_lines[ERROR_LINE - 1])]
    results = _read(_write_run(tmp_path / "run", warmup + recorded_lines[1:4]))

    assert (results.total, results.succeeded, results.failed) == (3, 3, 0)


def test_a_short_output_counts_as_a_cut_stream(tmp_path, recorded_lines):
    short = _with_output_length(recorded_lines[0], 10)
    results = _read(_write_run(tmp_path / "run", [short] + recorded_lines[1:3]), expected=64)

    assert results.failed == 1
    assert results.failure_kinds() == Counter({"stream cut (short output)": 1})
    assert results.records[0].output_tokens == 10


def test_a_short_output_without_streaming_is_a_short_output():
    raw = {"metadata": {"request_start_ns": 1, "request_end_ns": 2},
           "metrics": {"output_sequence_length": {"value": 63, "unit": "tokens"}}}

    assert RequestRecord.from_aiperf(raw, 64, streaming=False).failure == "short output"


def test_output_length_is_not_judged_when_no_length_is_expected(recorded_lines):
    short = json.loads(_with_output_length(recorded_lines[0], 10))

    assert RequestRecord.from_aiperf(short, None, True).ok


def test_a_request_cancelled_by_the_client_counts_as_failed(recorded_lines):
    cancelled = json.loads(_edited(recorded_lines[0], was_cancelled=True))

    assert RequestRecord.from_aiperf(cancelled, 64, True).failure == "cancelled by the client"


def test_a_truncated_last_line_is_skipped_with_a_note(tmp_path, recorded_lines):
    run = tmp_path / "run"
    run.mkdir()
    (run / RECORDS_FILE).write_text("\n".join(recorded_lines[:5]) + "\n" + recorded_lines[5][:700])

    results = _read(run, stopped_early=True)

    assert results.total == 5
    assert f"{RECORDS_FILE} line 6 is not JSON (a record cut by the stop?)" in results.notes


def test_blank_lines_are_skipped_silently(tmp_path, recorded_lines):
    results = _read(_write_run(tmp_path / "run", [recorded_lines[0], "", "   ", recorded_lines[1]],
                               summary={"was_cancelled": False}))

    assert results.total == 2 and results.notes == []


def test_an_empty_directory_is_an_error_naming_the_load_and_the_directory(tmp_path):
    empty = tmp_path / "load" / "default"
    empty.mkdir(parents=True)

    with pytest.raises(LoadError) as error:
        LoadResults.from_aiperf_dir("steady", empty, 64, True, stopped_early=False, return_code=1)
    message = str(error.value)
    assert "load 'steady' produced no request records (aiperf exit code 1)" in message
    assert str(empty) in message


def test_an_empty_records_file_is_an_error_too(tmp_path):
    run = _write_run(tmp_path / "run", [], summary={"was_cancelled": True})

    with pytest.raises(LoadError, match="produced no request records"):
        _read(run)
