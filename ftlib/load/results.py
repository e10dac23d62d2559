"""Honest counting of a load's requests from aiperf's per-request records.

aiperf 0.13 records a stream that a dying worker cuts off (HTTP 200, then an error event inside
the stream) as a success, and writes no summary JSON after SIGTERM or when every request
failed. So ``profile_export.jsonl`` is the source of truth: a request failed if it has an
``error``, was cancelled, or (its output length being deterministic) returned fewer output
tokens than requested or none at all.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ftlib.errors import LoadError

RECORDS_FILE = "profile_export.jsonl"
SUMMARY_FILE = "profile_export_aiperf.json"
READY_FILE = ".aiperf_results_ready.json"


@dataclass(frozen=True)
class RequestRecord:
    """One request: when it ran (epoch ns), whether it succeeded and, if not, why."""

    start_ns: int
    end_ns: int
    ok: bool
    failure: str = ""
    output_tokens: int | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    request_id: str = ""  # the client's X-Request-Id (aiperf's x_request_id), as the frontend logs it

    @classmethod
    def from_aiperf(cls, raw: dict, expected_output_tokens: int | None, streaming: bool) -> "RequestRecord":
        meta = raw.get("metadata") or {}
        metrics = raw.get("metrics") or {}
        start = int(meta.get("request_start_ns") or meta.get("credit_issued_ns") or 0)
        end = int(meta.get("request_end_ns") or start)
        osl = _value(metrics, "output_sequence_length")
        failure = ""
        if raw.get("error"):
            error = raw["error"]
            code = f"{error.get('code')} " if error.get("code") else ""
            failure = f"{code}{error.get('type') or 'error'}".strip()
        elif meta.get("was_cancelled"):
            failure = "cancelled by the client"
        elif osl is None and (streaming or expected_output_tokens):
            failure = "stream cut (no output)" if streaming else "no output"
        elif expected_output_tokens and osl is not None and osl < expected_output_tokens:
            failure = "stream cut (short output)" if streaming else "short output"
        return cls(start, end, not failure, failure, None if osl is None else int(osl),
                   _value(metrics, "request_latency"), _value(metrics, "time_to_first_token"),
                   str(meta.get("x_request_id") or ""))


def _value(metrics: dict, name: str) -> float | None:
    metric = metrics.get(name)
    if isinstance(metric, dict):
        return metric.get("value")
    return metric if isinstance(metric, (int, float)) else None


@dataclass
class LoadResults:
    """What a load did: every request record, the client's summary if it wrote one, and whether
    it was stopped before it finished (``was_cancelled``)."""

    name: str
    records: list[RequestRecord]
    was_cancelled: bool
    summary: dict | None = None
    return_code: int | None = None
    directory: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(r.ok for r in self.records)

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.records)

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def success_rate(self) -> float:
        return 100.0 * self.succeeded / self.total if self.total else 0.0

    def failure_kinds(self) -> Counter:
        return Counter(r.failure for r in self.records if not r.ok)

    def describe(self) -> str:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in self.failure_kinds().most_common())
        text = f"load {self.name!r}: {self.total} requests, {self.succeeded} succeeded, {self.failed} failed"
        text += f" ({kinds})" if kinds else ""
        return text + (", cancelled" if self.was_cancelled else "")

    @classmethod
    def from_aiperf_dir(cls, name: str, directory: Path, expected_output_tokens: int | None, streaming: bool,
                        stopped_early: bool, return_code: int | None = None) -> "LoadResults":
        """Read aiperf's artifact directory. Raise `LoadError` if it holds no request at all."""
        directory = Path(directory)
        records, notes = [], []
        path = directory / RECORDS_FILE
        if path.exists():
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError:
                    notes.append(f"{RECORDS_FILE} line {number} is not JSON (a record cut by the stop?)")
                    continue
                if (raw.get("metadata") or {}).get("benchmark_phase", "profiling") != "profiling":
                    continue
                records.append(RequestRecord.from_aiperf(raw, expected_output_tokens, streaming))
        summary = _read_json(directory / SUMMARY_FILE)
        ready = _read_json(directory / READY_FILE)
        if summary is not None and "was_cancelled" in summary:
            was_cancelled = bool(summary["was_cancelled"])
        elif ready is not None and "was_cancelled" in ready:
            was_cancelled = bool(ready["was_cancelled"])
        else:
            was_cancelled = stopped_early
            notes.append("aiperf wrote no summary; was_cancelled is taken from whether the load was stopped early")
        if not records:
            raise LoadError(f"load {name!r} produced no request records (aiperf exit code {return_code}); "
                            f"see {directory}/logs/aiperf.log and {directory}/aiperf.out")
        records.sort(key=lambda r: r.start_ns)
        return cls(name, records, was_cancelled, summary, return_code, directory, notes)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
