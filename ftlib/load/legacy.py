"""The ``legacy`` load client: a small streaming OpenAI chat client built into dynamo-ft.

It has the same interface and results as `ftlib.load.aiperf.AiperfLoad`, and writes the same
``profile_export.jsonl`` records, so everything downstream (`LoadResults`, checks, reports) reads
its runs unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import aiohttp

from ftlib import evidence
from ftlib.errors import LoadError
from ftlib.load.config import LoadConfig
from ftlib.load.openai_stream import SseParser, StreamTally, request_body
from ftlib.load.results import RECORDS_FILE, LoadResults
from ftlib.load.runner import WaitWithTimeout

log = logging.getLogger(__name__)

SUMMARY_FILE = "legacy_summary.json"
START_TIMEOUT = 30.0
STOP_GRACE = 15.0
DURATION_GRACE = 5.0  # after a duration load ends, in-flight requests get this long to finish (as aiperf's default)
FIRST_WORD_ID, LAST_WORD_ID = 3, 31_999  # w3..w31999: one token each in the project's word-level tokenizer
MAX_ERROR_BODY = 2_000


# -- prompts ------------------------------------------------------------------------------
def make_prompt(rng: random.Random, words: int) -> str:
    """``words`` random vocabulary words (``w<id>``); each is exactly one token of the model card."""
    return " ".join(f"w{rng.randint(FIRST_WORD_ID, LAST_WORD_ID)}" for _ in range(words))


# -- records ------------------------------------------------------------------------------
def _metric(value: float | int, unit: str) -> dict:
    return {"value": value, "unit": unit}


def make_record(number: int, request_id: str, start_ns: int, end_ns: int, phase: str,
                tally: StreamTally | None = None, error: dict | None = None) -> dict:
    """One request as an aiperf ``profile_export.jsonl`` record (``error`` and empty metrics on failure)."""
    metadata = {"session_num": number, "x_request_id": request_id, "request_start_ns": start_ns,
                "request_end_ns": end_ns, "worker_id": "legacy", "benchmark_phase": phase, "was_cancelled": False}
    if error is not None:
        if tally is not None and tally.output_tokens is not None:
            metadata["partial_output_tokens"] = tally.output_tokens
        return {"metadata": metadata, "metrics": {}, "error": error}
    metrics = {"request_latency": _metric((end_ns - start_ns) / 1e6, "ms")}
    if tally is not None:
        if tally.first_content_ns is not None:
            metrics["time_to_first_token"] = _metric((tally.first_content_ns - start_ns) / 1e6, "ms")
        osl = tally.output_tokens
        if osl is not None:
            metrics["output_sequence_length"] = _metric(osl, "tokens")
            if tally.first_content_ns is not None and osl > 1:
                metrics["inter_token_latency"] = _metric((end_ns - tally.first_content_ns) / 1e6 / (osl - 1), "ms")
        if tally.prompt_tokens is not None:
            metrics["input_sequence_length"] = _metric(tally.prompt_tokens, "tokens")
    return {"metadata": metadata, "metrics": metrics}


def error_of(exc: BaseException, timeout: float) -> dict:
    """An aiperf-style ``error`` for a request that raised ``exc``."""
    if isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError):
        return {"type": "TimeoutError", "message": f"no complete response within {timeout:g} s"}
    return {"type": type(exc).__name__, "message": str(exc) or repr(exc)}


# -- the runner ---------------------------------------------------------------------------
@dataclass
class LegacyLoad(WaitWithTimeout):
    """A small built-in streaming client: the ``legacy`` choice of ``client_type``.

    It sends OpenAI chat completions (``POST {url}/v1/chat/completions``, streamed, with usage in
    the last chunk) from a background thread with its own asyncio loop, so the load goes on
    while synchronous behave steps inject faults. Prompts are ``input_tokens_mean`` random words
    ``w<id>`` (exactly one token each with the project's model card) drawn from
    ``config.random_seed``; ``max_tokens`` = ``min_tokens`` = ``output_tokens_mean`` with
    ``ignore_eos``, so a cut stream is recognisable; ``extra_inputs`` are merged into the body.

    At most ``concurrency`` requests are in flight. A duration load is paced at
    ``config.effective_request_rate`` requests/s at constant intervals (a dead frontend then gives
    a bounded number of errors), stops sending after the duration and gives in-flight requests
    5 s to finish. A request-count load sends exactly ``request_count`` requests (paced too if
    ``request_rate`` is set). Each request has ``request_timeout_seconds`` to complete.

    A request fails on a connection error, an HTTP error (the status becomes the error's
    ``code``), a broken or timed-out stream, or an error event inside a 200 stream (type
    ``stream error``), which is what Dynamo sends when a worker dies mid-stream and what aiperf
    0.13 records as a success. Records are appended to ``output_dir/profile_export.jsonl`` in
    aiperf's format as each request completes. `stop` cancels the requests in flight and drops
    them, as aiperf does; the run is then cancelled (``was_cancelled``). The client does not
    write aiperf's summary file: ``was_cancelled`` comes from whether `stop` ended the load
    (``stopped_early``), and ``legacy_summary.json`` holds the counts and the config.

    Pick ``legacy`` when start-up time and memory matter: requests flow within milliseconds of
    `start` (aiperf needs 4 s on an idle machine, 10-20 s on a busy 2-core one) and it runs as
    one thread of the test process (about 25 MB for aiohttp; aiperf runs seven processes of about
    820 MB). It also sees in-stream errors itself. Pick ``aiperf`` (the default) for the
    reference client: its richer metrics and summary (``profile_export_aiperf.json``), Poisson
    arrivals, and results comparable with other Dynamo benchmarks.
    """

    name: str
    config: LoadConfig
    url: str
    model: str
    tokenizer: str  # unused: prompts are built from the word-level vocabulary directly
    output_dir: Path
    profiling_started_ns: int | None = field(default=None, init=False)
    stopped_early: bool = field(default=False, init=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _main: asyncio.Task | None = field(default=None, init=False, repr=False)
    _flowing: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _failure: BaseException | None = field(default=None, init=False, repr=False)
    _results: LoadResults | None = field(default=None, init=False, repr=False)
    _counts: dict = field(default_factory=lambda: {"sent": 0, "recorded": 0, "dropped": 0}, init=False, repr=False)
    _started_at: float = field(default=0.0, init=False, repr=False)
    _start_ns: int = field(default=0, init=False, repr=False)
    _final_summary: dict | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.url = self.url.rstrip("/")

    @property
    def hard_timeout(self) -> float:
        return self.config.hard_timeout(START_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the client thread and return once the first request is being sent."""
        if self._thread is not None:
            raise LoadError(f"load {self.name!r} was already started")
        evidence.write_text(self.output_dir / RECORDS_FILE, "")  # checked to lie inside the evidence
        self._started_at, self._start_ns = time.monotonic(), time.time_ns()
        self._thread = threading.Thread(target=self._thread_main, name=f"legacy-load-{self.name}", daemon=True)
        self._thread.start()
        if not self._flowing.wait(START_TIMEOUT):
            self.stop()
            raise LoadError(f"legacy load {self.name!r} sent no request within {START_TIMEOUT:g} s")
        if self._failure is not None:
            self._thread.join(STOP_GRACE)
            raise LoadError(f"legacy load {self.name!r} failed to start: {self._failure!r}") from self._failure
        log.info("legacy load %r: requests flowing %.3f s after start", self.name,
                 (self.profiling_started_ns - self._start_ns) / 1e9 if self.profiling_started_ns else -1)

    def _join(self, seconds: float) -> bool:
        if self._thread is not None:
            self._thread.join(seconds)
            return not self._thread.is_alive()
        return True

    def stop(self) -> LoadResults:
        """Stop early: cancel the requests in flight (they are dropped) and return the results."""
        if self.running:
            self.stopped_early = True
            loop, main = self._loop, self._main
            if loop is not None and main is not None:
                try:
                    loop.call_soon_threadsafe(main.cancel)
                except RuntimeError:
                    pass  # the loop closed meanwhile: the load just finished
            self._thread.join(STOP_GRACE)
            if self._thread.is_alive():
                log.error("legacy load %r did not stop within %.0f s", self.name, STOP_GRACE)
        return self.results()

    def results(self) -> LoadResults:
        if self._results is None:
            if self.running:
                raise LoadError(f"load {self.name!r} is still running; wait for it or stop it first")
            try:
                results = LoadResults.from_aiperf_dir(self.name, self.output_dir, self.config.output_tokens_mean,
                                                      self.config.streaming, self.stopped_early, None)
            except LoadError:
                raise LoadError(f"legacy load {self.name!r} produced no request records "
                                f"({self._counts['sent']} sent); see {self.output_dir}") from self._failure
            results.notes = [n for n in results.notes if not n.startswith("aiperf wrote no summary")]
            dropped = self._counts["dropped"]
            if dropped and not self.stopped_early:
                results.notes.append(f"{dropped} requests still in flight {DURATION_GRACE:g} s after the duration "
                                     "were dropped (not counted)")
            if self._failure is not None:
                results.notes.append(f"the legacy client failed before the load ended: {self._failure!r}")
            results.summary = self._final_summary or self._summary()
            self._results = results
        return self._results

    # -- the client thread ----------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._run())
        except asyncio.CancelledError:
            pass  # stopped
        except BaseException as error:  # noqa: BLE001 - reported by start() / results()
            self._failure = error
            log.exception("legacy load %r failed", self.name)
        finally:
            self._loop = self._main = None
            self._write_summary()
            self._flowing.set()

    async def _run(self) -> None:
        self._loop, self._main = asyncio.get_running_loop(), asyncio.current_task()
        config = self.config
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(10.0, config.request_timeout_seconds))
        connector = aiohttp.TCPConnector(limit=config.concurrency, force_close=False)
        rng = random.Random(config.random_seed)
        in_flight: set[asyncio.Task] = set()
        with evidence.open_file(self.output_dir / RECORDS_FILE, "a", buffering=1) as records:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                try:
                    number = 0
                    if config.warmup_requests:
                        await self._send_many(session, records, rng, in_flight, "warmup", config.warmup_requests,
                                              None, None, number)
                        await asyncio.gather(*in_flight, return_exceptions=True)
                        number = config.warmup_requests
                    await self._send_many(session, records, rng, in_flight, "profiling", config.request_count,
                                          config.duration, config.effective_request_rate, number)
                    if in_flight:
                        grace = DURATION_GRACE if config.duration is not None else None
                        _, late = await asyncio.wait(set(in_flight), timeout=grace)
                        if late:
                            log.warning("legacy load %r: %d requests still in flight %g s after the duration; "
                                        "dropping them", self.name, len(late), DURATION_GRACE)
                finally:
                    for task in in_flight:
                        task.cancel()
                    if in_flight:
                        await asyncio.gather(*in_flight, return_exceptions=True)

    async def _send_many(self, session: aiohttp.ClientSession, records: TextIO, rng: random.Random,
                         in_flight: set[asyncio.Task], phase: str, count: int | None, duration: float | None,
                         rate: float | None, number: int) -> None:
        slots = asyncio.Semaphore(self.config.concurrency)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        end = begin + duration if duration is not None else None
        next_at = begin
        sent = 0
        while count is None or sent < count:
            await slots.acquire()
            now = loop.time()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            if end is not None and loop.time() >= end:
                slots.release()
                return
            if phase == "profiling" and self.profiling_started_ns is None:
                self.profiling_started_ns = time.time_ns()
                self._flowing.set()
            prompt = make_prompt(rng, self.config.input_tokens_mean)
            task = asyncio.create_task(self._one(session, records, number + sent, phase, prompt))
            in_flight.add(task)
            task.add_done_callback(lambda t: (in_flight.discard(t), slots.release()))
            sent += 1
            self._counts["sent"] += 1
            if rate:  # at constant intervals; no burst to catch up after waiting for a free slot
                next_at = max(next_at + 1.0 / rate, loop.time())

    async def _one(self, session: aiohttp.ClientSession, records: TextIO, number: int, phase: str,
                   prompt: str) -> None:
        config = self.config
        body = request_body(config, self.model, prompt)
        request_id = str(uuid.uuid4())
        tally = StreamTally()
        error: dict | None = None
        start_ns = time.time_ns()
        try:
            async with asyncio.timeout(config.request_timeout_seconds):
                async with session.post(f"{self.url}/v1/chat/completions", json=body,
                                        headers={"X-Request-Id": request_id}) as response:
                    if response.status != 200:
                        text = (await response.text(errors="replace"))[:MAX_ERROR_BODY]
                        error = {"code": response.status, "type": response.reason or "HTTP error", "message": text}
                    elif config.streaming:
                        parser = SseParser()
                        async for chunk in response.content.iter_any():
                            now = time.time_ns()
                            for event in parser.feed(chunk):
                                tally.add(event, now)
                        for event in parser.close():
                            tally.add(event, time.time_ns())
                    else:
                        tally.add_chunk(await response.json(content_type=None), time.time_ns())
        except asyncio.CancelledError:
            self._counts["dropped"] += 1
            raise  # stopped: dropped, as aiperf drops the requests a stop cancels
        except Exception as exc:  # noqa: BLE001 - whatever broke the request makes it a failed record
            error = error_of(exc, config.request_timeout_seconds)
        if error is None and tally.error is not None:
            error = {"type": "stream error", "message": tally.error}
        elif error is None and config.streaming and not tally.done:
            error = {"type": "stream error", "message": "the stream ended without [DONE]"}
        record = make_record(number, request_id, start_ns, time.time_ns(), phase, tally, error)
        records.write(json.dumps(record) + "\n")
        self._counts["recorded"] += 1

    def _summary(self) -> dict:
        return {"client": "legacy", "was_cancelled": self.stopped_early,
                "is_complete": not self.stopped_early and self._failure is None,
                "requests_sent": self._counts["sent"], "records_written": self._counts["recorded"],
                "dropped_in_flight": self._counts["dropped"],
                "start_time_ns": self._start_ns, "profiling_started_ns": self.profiling_started_ns,
                "end_time_ns": time.time_ns(), "url": self.url, "model": self.model,
                "failure": repr(self._failure) if self._failure is not None else None,
                "config": asdict(self.config)}

    def _write_summary(self) -> None:
        self._final_summary = self._summary()
        try:
            evidence.write_text(self.output_dir / SUMMARY_FILE, json.dumps(self._final_summary, indent=2, default=str) + "\n")
        except OSError as error:
            log.warning("legacy load %r: could not write %s: %s", self.name, SUMMARY_FILE, error)
