"""The OpenAI chat-completions wire format as a streaming client sees it: the request body for a
`LoadConfig`, an incremental server-sent-events parser, and the tally of what a response stream
said (content chunks, usage, an error inside a 200 stream).

The built-in ``legacy`` load client (`ftlib.load.legacy`) sends requests and keeps records; what
the bytes of a response mean is decided here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ftlib.load.config import LoadConfig


# -- requests -----------------------------------------------------------------------------
def request_body(config: LoadConfig, model: str, prompt: str) -> dict[str, Any]:
    """The chat-completions payload for one request of ``config``."""
    osl = config.output_tokens_mean
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}],
                            "max_tokens": osl, "min_tokens": osl, "temperature": config.temperature,
                            "stream": config.streaming}
    if config.ignore_eos:
        body["ignore_eos"] = True
    if config.streaming:
        body["stream_options"] = {"include_usage": True}
    body.update(config.extra_inputs)
    return body


# -- server-sent events -------------------------------------------------------------------
@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its ``event:`` field (empty if none) and its joined ``data:`` lines."""

    data: str
    event: str = ""


class SseParser:
    """Incremental SSE parser: feed it bytes as they arrive, get back the complete events."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        events = []
        while True:
            cut = self._buffer.find(b"\n")
            if cut < 0:
                return events
            line, self._buffer = self._buffer[:cut].rstrip(b"\r").decode("utf-8", "replace"), self._buffer[cut + 1:]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def close(self) -> list[SseEvent]:
        """The events still pending when the stream ends (a last event without its blank line)."""
        events = self.feed(b"\n") if self._buffer else []
        event = self._line("")
        return events + ([event] if event is not None else [])

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data and not self._event:
                return None
            event, self._data, self._event = SseEvent("\n".join(self._data), self._event), [], ""
            return event
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


@dataclass
class StreamTally:
    """What a response stream said so far: content chunks, usage, and any error inside it.

    Dynamo answers a request whose worker dies mid-stream with HTTP 200, part of the stream, then
    ``data: {"error": {...}}`` and ``data: [DONE]``. That event makes the request a failure here.
    """

    content_chunks: int = 0
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    first_content_ns: int | None = None
    error: str | None = None
    done: bool = False

    def add(self, event: SseEvent, now_ns: int) -> None:
        if self.error is not None:
            return
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return
        if event.event == "error":
            self.error = data or "error event without data"
            return
        if not data:
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            self.error = f"unparseable event data: {data[:200]}"
            return
        self.add_chunk(chunk, now_ns)

    def add_chunk(self, chunk: Any, now_ns: int) -> None:
        """One decoded chunk (a streamed delta, or a whole non-streaming response)."""
        if not isinstance(chunk, dict):
            self.error = f"unexpected event data: {json.dumps(chunk)[:200]}"
            return
        if chunk.get("error"):
            self.error = json.dumps(chunk["error"]) if not isinstance(chunk["error"], str) else chunk["error"]
            return
        for choice in chunk.get("choices") or []:
            part = choice.get("delta") or choice.get("message") or {}
            if part.get("content") or part.get("reasoning_content"):
                self.content_chunks += 1
                if self.first_content_ns is None:
                    self.first_content_ns = now_ns
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            if usage.get("completion_tokens") is not None:
                self.completion_tokens = int(usage["completion_tokens"])
            if usage.get("prompt_tokens") is not None:
                self.prompt_tokens = int(usage["prompt_tokens"])

    @property
    def output_tokens(self) -> int | None:
        """The server's completion token count if it sent usage, else the number of content chunks."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        return self.content_chunks or None
