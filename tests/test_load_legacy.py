"""The legacy load client: prompts and records without a network, the runner against a fake
frontend on loopback, and two end-to-end runs against a real local mocker deployment. (The
stream parsing it relies on is tested in test_load_openai_stream.py.)"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp import web

from ftlib.errors import LoadError
from ftlib.load.config import LoadConfig
from ftlib.load.legacy import SUMMARY_FILE, LegacyLoad, error_of, make_prompt, make_record
from ftlib.load.results import RECORDS_FILE, LoadResults, RequestRecord
from tests.test_load_openai_stream import CUT_STREAM, MODEL, chunk, tally_of, usage


# -- prompts ------------------------------------------------------------------------------
def test_prompts_are_seeded_words_of_the_tiny_vocabulary():
    first, again = make_prompt(random.Random(42), 64), make_prompt(random.Random(42), 64)
    words = first.split()
    assert first == again and len(words) == 64
    assert all(w.startswith("w") and 3 <= int(w[1:]) <= 31_999 for w in words)
    assert make_prompt(random.Random(43), 64) != first


# -- records ------------------------------------------------------------------------------
def test_a_complete_stream_becomes_a_successful_aiperf_record():
    tally = tally_of(f"data: {chunk(' w5')}\n\ndata: {usage(64)}\n\ndata: [DONE]\n\n")
    record = make_record(0, "id", 1_000_000_000, 1_250_000_000, "profiling", tally)
    assert record["metadata"]["benchmark_phase"] == "profiling" and record["metadata"]["was_cancelled"] is False
    assert record["metrics"]["request_latency"] == {"value": 250.0, "unit": "ms"}
    assert record["metrics"]["output_sequence_length"] == {"value": 64, "unit": "tokens"}
    parsed = RequestRecord.from_aiperf(json.loads(json.dumps(record)), 64, True)
    assert parsed.ok and parsed.output_tokens == 64 and parsed.latency_ms == 250.0


def test_a_cut_stream_becomes_a_failed_record_with_a_stream_error():
    tally = tally_of(CUT_STREAM)
    error = {"type": "stream error", "message": tally.error}
    record = make_record(3, "id", 1, 2, "profiling", tally, error)
    assert record["metrics"] == {} and record["metadata"]["partial_output_tokens"] == 2
    parsed = RequestRecord.from_aiperf(record, 64, True)
    assert not parsed.ok and parsed.failure == "stream error"


def test_an_http_error_keeps_its_status_as_the_code():
    record = make_record(0, "id", 1, 2, "profiling", None,
                         {"code": 503, "type": "Service Unavailable", "message": "{}"})
    assert RequestRecord.from_aiperf(record, 64, True).failure == "503 Service Unavailable"


def test_timeouts_and_client_errors_are_named_by_their_type():
    assert error_of(TimeoutError(), 30)["type"] == "TimeoutError"
    assert error_of(aiohttp.ClientPayloadError("cut"), 30) == {"type": "ClientPayloadError", "message": "cut"}
    assert error_of(aiohttp.ServerTimeoutError("read"), 30)["type"] == "ServerTimeoutError"


# -- the runner against a fake frontend on loopback ---------------------------------------
class FakeFrontend:
    """An OpenAI-like streaming server in its own thread. A request's ``fake`` field picks its
    behaviour: ok, cut (an error event inside the 200 stream), short, http503, reset, hang."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-frontend", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.release = asyncio.Event()
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.release.set)
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request, body, body.get("fake", "ok"), body["max_tokens"])
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict, mode: str, tokens: int) -> web.StreamResponse:
        if mode == "http503":
            return web.json_response({"message": "Service temporarily unavailable"}, status=503)
        if not body["stream"]:
            return web.json_response({"choices": [{"index": 0, "message": {"content": "w5 " * tokens}}],
                                      "usage": {"prompt_tokens": 8, "completion_tokens": tokens}})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sent = 3 if mode in ("cut", "short", "reset") else tokens
        for i in range(sent):
            await response.write(f"data: {chunk(f' w{i + 3}')}\n\n".encode())
            await asyncio.sleep(body.get("fake_delay", 0.001))
        if mode == "hang":
            await self.release.wait()
        if mode == "reset":
            request.transport.close()
            return response
        if mode == "cut":
            await response.write(b'data: {"error":{"message":"Service temporarily unavailable","code":503}}\n\n')
        else:
            await response.write(f"data: {usage(sent, len(body['messages'][0]['content'].split()))}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
def fake_frontend():
    server = FakeFrontend()
    yield server
    server.close()


def legacy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("legacy-load-")]


def connections_to(port: int) -> list:
    return [c for c in psutil.Process().net_connections("tcp") if c.raddr and c.raddr.port == port]


def run(url: str, tmp_path: Path, **config) -> tuple[LegacyLoad, LoadResults]:
    config.setdefault("concurrency", 4)
    config.setdefault("output_tokens_mean", 8)
    load = LegacyLoad("default", LoadConfig(**config), url, MODEL, "unused", tmp_path / "load")
    load.start()
    return load, load.wait(30)


def test_a_count_load_writes_one_successful_record_per_request_and_a_summary(fake_frontend, tmp_path):
    load, results = run(fake_frontend.url, tmp_path, request_count=12, input_tokens_mean=16)
    assert (results.total, results.succeeded, results.was_cancelled) == (12, 12, False)
    assert results.notes == []
    lines = (tmp_path / "load" / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == 12
    assert all(json.loads(line)["metrics"]["input_sequence_length"]["value"] == 16 for line in lines)
    summary = json.loads((tmp_path / "load" / SUMMARY_FILE).read_text())
    assert summary["was_cancelled"] is False and summary["requests_sent"] == 12 and summary == results.summary
    assert load.profiling_started_ns <= results.records[0].start_ns
    assert fake_frontend.max_in_flight <= 4
    assert len({b["messages"][0]["content"] for b in fake_frontend.bodies}) == 12
    assert legacy_threads() == [] and connections_to(fake_frontend.port) == []


@pytest.mark.parametrize("mode, failure", [("cut", "stream error"), ("http503", "503 Service Unavailable"),
                                           ("reset", "ClientPayloadError"), ("short", "stream cut (short output)")])
def test_every_kind_of_broken_request_is_counted_as_a_failure(fake_frontend, tmp_path, mode, failure):
    _, results = run(fake_frontend.url, tmp_path, request_count=3, extra_inputs={"fake": mode})
    assert results.failure_kinds() == {failure: 3}


def test_a_load_without_streaming_reads_the_output_length_from_usage(fake_frontend, tmp_path):
    _, results = run(fake_frontend.url, tmp_path, request_count=3, streaming=False)
    assert results.succeeded == 3 and {r.output_tokens for r in results.records} == {8}
    assert "stream_options" not in fake_frontend.bodies[0]


def test_a_request_past_its_timeout_fails_with_a_timeout_error(fake_frontend, tmp_path):
    _, results = run(fake_frontend.url, tmp_path, request_count=2, request_timeout_seconds=0.3,
                     extra_inputs={"fake": "hang"})
    assert results.failure_kinds() == {"TimeoutError": 2}


def test_stop_drops_the_requests_in_flight_and_marks_the_load_cancelled(fake_frontend, tmp_path):
    load = LegacyLoad("default", LoadConfig(concurrency=3, duration_seconds=30, output_tokens_mean=4,
                                            extra_inputs={"fake_delay": 0.05}),
                      fake_frontend.url, MODEL, "unused", tmp_path / "load")
    load.start()
    time.sleep(0.6)
    began = time.monotonic()
    results = load.stop()
    assert time.monotonic() - began < 2
    assert results.was_cancelled and load.stopped_early and results.failed == 0
    summary = json.loads((tmp_path / "load" / SUMMARY_FILE).read_text())
    assert summary["was_cancelled"] is True
    assert summary["requests_sent"] == results.total + summary["dropped_in_flight"]
    assert not load.running and legacy_threads() == [] and connections_to(fake_frontend.port) == []


def test_a_wait_that_times_out_stops_the_load_and_raises(fake_frontend, tmp_path):
    load = LegacyLoad("default", LoadConfig(concurrency=2, request_count=4, extra_inputs={"fake": "hang"}),
                      fake_frontend.url, MODEL, "unused", tmp_path / "load")
    load.start()
    with pytest.raises(LoadError, match="did not complete within 1 s"):
        load.wait(1)
    assert load.stopped_early and not load.running and legacy_threads() == []


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_duration_load_against_a_dead_port_gives_a_bounded_number_of_errors(tmp_path):
    port = dead_port()
    began = time.monotonic()
    _, results = run(f"http://127.0.0.1:{port}", tmp_path, duration_seconds=1.0, request_rate=10)
    assert time.monotonic() - began < 3
    assert 9 <= results.total <= 11
    assert set(results.failure_kinds()) == {"ClientConnectorError"}


def test_a_load_stopped_before_any_request_completed_raises_a_load_error(fake_frontend, tmp_path):
    load = LegacyLoad("default", LoadConfig(concurrency=2, request_count=2, extra_inputs={"fake": "hang"}),
                      fake_frontend.url, MODEL, "unused", tmp_path / "load")
    load.start()
    with pytest.raises(LoadError, match="legacy load 'default' produced no request records"):
        load.stop()
    assert not load.running and legacy_threads() == []


# -- end to end: a real local deployment ---------------------------------------------------
@pytest.fixture
def deploy(tmp_path):
    from ftlib.platform.local import LocalPlatform
    from ftlib.spec import get_deployment_spec

    deployments = []

    def make(replicas: int):
        spec = get_deployment_spec("mocker", "agg", replicas)
        platform = LocalPlatform()
        deployment = platform.deploy(spec, tmp_path / f"deploy{len(deployments)}")
        deployments.append(deployment)
        deployment.wait_ready(60)
        return spec, platform, deployment

    yield make
    for deployment in deployments:
        deployment.teardown()


@pytest.mark.e2e
def test_a_real_mocker_deployment_serves_twenty_streamed_requests(deploy, tmp_path):
    spec, platform, d = deploy(1)
    load = LegacyLoad("default", LoadConfig(concurrency=4, request_count=20), d.frontend_url, spec.model_name,
                      str(platform.model_card), tmp_path / "load")
    load.start()
    results = load.wait(60)
    assert (results.total, results.succeeded, results.was_cancelled) == (20, 20, False), results.describe()
    assert all(r.output_tokens == 64 and r.ttft_ms is not None for r in results.records)
    assert legacy_threads() == []


@pytest.mark.e2e
def test_streams_cut_by_a_killed_worker_are_counted_as_failures(deploy, tmp_path):
    spec, platform, d = deploy(2)
    load = LegacyLoad("default", LoadConfig(concurrency=4, duration_seconds=8, output_tokens_mean=200),
                      d.frontend_url, spec.model_name, str(platform.model_card), tmp_path / "load")
    load.start()
    time.sleep(3)
    pod = d.pods("decode")[0]
    main = next(p for p in d.processes(pod.name) if p.is_main)
    killed_ns = time.time_ns()
    d.signal_process(pod.name, main.pid, "SIGKILL")
    time.sleep(2)
    results = load.stop()
    cut = [r for r in results.records if r.failure == "stream error"]
    assert cut, f"no stream was cut by the kill; {results.describe()}"
    assert all(r.start_ns < killed_ns < r.end_ns for r in cut)
    assert all(r.output_tokens == 200 for r in results.records if r.ok)
    assert results.was_cancelled and legacy_threads() == []
