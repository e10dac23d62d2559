"""ftlib.load.openai_stream: the request body, server-sent events however the bytes are split,
and what a response stream said (output length, an error inside a 200 stream)."""

from __future__ import annotations

import json
import random
import time

from ftlib.load.config import LoadConfig
from ftlib.load.openai_stream import SseEvent, SseParser, StreamTally, request_body

MODEL = "tiny"


def chunk(content: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]})


def usage(completion: int, prompt: int = 8) -> str:
    return json.dumps({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}})


CUT_STREAM = (f"data: {chunk(' w5')}\n\ndata: {chunk(' w6')}\n\n"
              'data: {"error":{"message":"Service temporarily unavailable","type":"service_unavailable","code":503}}'
              "\n\ndata: [DONE]\n\n")


def tally_of(text: str) -> StreamTally:
    tally, parser = StreamTally(), SseParser()
    for event in parser.feed(text.encode()) + parser.close():
        tally.add(event, time.time_ns())
    return tally


# -- SSE parsing --------------------------------------------------------------------------
def test_sse_events_are_the_same_however_the_bytes_are_split():
    text = (f"data: {chunk(' w5')}\n\n: keep-alive\n\nevent: error\ndata: first\ndata: second\n\n"
            "data: [DONE]\r\n\r\n").encode()
    whole = SseParser().feed(text)
    rng = random.Random(7)
    for _ in range(20):
        parser, events, rest = SseParser(), [], text
        while rest:
            cut = rng.randint(1, 9)
            events += parser.feed(rest[:cut])
            rest = rest[cut:]
        assert events == whole
    assert whole == [SseEvent(chunk(" w5")), SseEvent("first\nsecond", "error"), SseEvent("[DONE]")]


def test_a_last_event_without_its_blank_line_is_kept_when_the_stream_closes():
    parser = SseParser()
    assert parser.feed(b"data: [DONE]") == []
    assert parser.close() == [SseEvent("[DONE]")]


def test_the_output_length_is_the_servers_completion_token_count():
    tally = tally_of(f"data: {chunk(' w5 w6')}\n\ndata: {chunk(' w7')}\n\ndata: {usage(3, 12)}\n\ndata: [DONE]\n\n")
    assert (tally.output_tokens, tally.content_chunks, tally.prompt_tokens) == (3, 2, 12)
    assert tally.done and tally.error is None and tally.first_content_ns is not None


def test_without_usage_the_output_length_is_the_number_of_content_chunks():
    tally = tally_of(f"data: {chunk(' w5')}\n\ndata: {chunk('')}\n\ndata: {chunk(' w6')}\n\ndata: [DONE]\n\n")
    assert tally.output_tokens == 2


def test_an_error_event_inside_a_200_stream_is_an_error():
    tally = tally_of(CUT_STREAM)
    assert tally.content_chunks == 2
    assert json.loads(tally.error) == {"message": "Service temporarily unavailable",
                                       "type": "service_unavailable", "code": 503}


def test_an_sse_error_event_and_unparseable_data_are_errors():
    assert tally_of("event: error\ndata: boom\n\n").error == "boom"
    assert tally_of("data: {not json\n\n").error.startswith("unparseable event data")


# -- payload ------------------------------------------------------------------------------
def test_the_payload_asks_for_exactly_the_output_length_and_takes_extra_inputs():
    config = LoadConfig(concurrency=1, request_count=1, output_tokens_mean=17, temperature=0.5,
                        extra_inputs={"top_p": 0.9, "temperature": 0.7})
    body = request_body(config, MODEL, "w5 w6")
    assert body["max_tokens"] == body["min_tokens"] == 17
    assert body["ignore_eos"] is True and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["top_p"] == 0.9 and body["temperature"] == 0.7
    assert body["messages"] == [{"role": "user", "content": "w5 w6"}] and body["model"] == MODEL
