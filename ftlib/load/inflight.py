"""Requests in flight: waiting until enough are before a fault, and counting, from the recorded
requests, those a fault hit and how each one ended.

A fault tests what happens to requests cut mid-flight only if some are in flight when it hits.
`wait_for_in_flight` polls a live count (the frontend's ``dynamo_frontend_inflight_requests``)
until it reaches a number, for a bounded time; `in_flight_at` and `outcome` judge afterwards
from the per-request records, which are the evidence of record.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from ftlib.load.results import RequestRecord

SUCCEEDED = "succeeded"
CUT = "cut"  # the response had begun (a first token, a stream, a body) and ended early
REJECTED = "rejected"  # an HTTP error status before any output (503 while not ready…)
FAILED_OTHERWISE = "failed otherwise"  # no status and no output: connection refused or reset, timeout, cancelled
POLL_SECONDS = 0.05


@dataclass
class InFlightWait:
    """What a fault step's wait for requests in flight saw: how many it wanted, how long it
    waited, the last and the highest count read (None: the frontend never answered), and
    whether the count was reached before the bound."""

    wanted: int
    timeout_seconds: float
    waited_seconds: float = 0.0
    last_seen: int | None = None
    most_seen: int | None = None
    reached: bool = False

    def describe(self) -> str:
        seen = "the frontend never answered" if self.most_seen is None else \
            f"the frontend reported {self.last_seen} in flight (at most {self.most_seen})"
        if self.reached:
            return f"waited {self.waited_seconds:.2f} s for {self.wanted} requests in flight: {seen}"
        return (f"fewer than {self.wanted} requests in flight after waiting {self.waited_seconds:.2f} s "
                f"(bound {self.timeout_seconds:g} s): {seen}")



def wait_for_in_flight(read: Callable[[], int | None], wanted: int, timeout: float, poll: float = POLL_SECONDS,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> InFlightWait:
    """Read the count until it is at least ``wanted`` or ``timeout`` seconds have passed (the
    count is read at least once). A read that raises counts as no answer."""
    started = clock()
    wait = InFlightWait(wanted, timeout)
    while True:
        try:
            count = read()
        except Exception:  # noqa: BLE001 - a frontend that does not answer is "no answer"
            count = None
        wait.waited_seconds = clock() - started
        if count is not None:
            wait.last_seen = count
            wait.most_seen = count if wait.most_seen is None else max(wait.most_seen, count)
            if count >= wanted:
                wait.reached = True
                return wait
        if wait.waited_seconds >= timeout:
            return wait
        sleep(poll)


def in_flight_at(records: Iterable[RequestRecord], ns: int) -> list[RequestRecord]:
    """The requests in flight at ``ns``: started before it and ended after it."""
    return [r for r in records if r.start_ns < ns < r.end_ns]


CUT_FAILURES = ("stream", "short output", "no output", "ClientPayloadError")


def outcome(record: RequestRecord) -> str:
    """How a request ended: `SUCCEEDED`; `CUT` when its response had begun (a stream cut or
    short output, an error inside the stream, a body that stopped short — aiperf's
    ``ClientPayloadError`` when the frontend dies mid-stream — or a first token before the
    error); `REJECTED` for an HTTP error status before any output; else `FAILED_OTHERWISE`
    (connection refused or reset, timeout, cancelled)."""
    if record.ok:
        return SUCCEEDED
    if record.failure.startswith(CUT_FAILURES) or record.ttft_ms is not None or record.output_tokens:
        return CUT
    if record.failure[:3].isdigit():
        return REJECTED
    return FAILED_OTHERWISE


def outcomes(records: Iterable[RequestRecord]) -> Counter:
    """How many requests ended each way (keys: the `outcome` names)."""
    return Counter(outcome(r) for r in records)


def describe_in_flight(records: list[RequestRecord]) -> str:
    """``3 in flight (1 succeeded, 2 cut)``: the count and how they ended."""
    counts = outcomes(records)
    ended = ", ".join(f"{counts[kind]} {kind}" for kind in (SUCCEEDED, CUT, REJECTED, FAILED_OTHERWISE)
                      if counts[kind])
    return f"{len(records)} in flight" + (f" ({ended})" if ended else "")
