"""LoadConfig: what load to send, independent of the client that sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftlib import validate
from ftlib.errors import SpecError
from ftlib.validate import MAX_CONCURRENCY, MAX_REQUEST_RATE, MAX_REQUESTS, MAX_SECONDS, MAX_TOKENS

DEFAULT_RATE_PER_CONCURRENCY = 2.0
# the shortest duration load every client sends requests in (measured on the local platform at concurrency 2:
# aiperf sent 1 request in 0.25 s and 0.5 s, 2-4 in 1 s, none in 0.001 s; the legacy client 1 in 0.001 s, 4 in 1 s)
MIN_LOAD_SECONDS = 1.0


@dataclass
class LoadConfig:
    """The load a scenario sends to the frontend.

    Give either ``request_count`` (a fixed number of requests) or a duration
    (``duration_seconds`` or ``duration_minutes``). Duration loads are paced: ``request_rate``
    defaults to ``concurrency`` x 2 requests per second, so a dead frontend yields a bounded number
    of errors instead of an error storm. Output lengths are made deterministic (``ignore_eos``,
    ``min_tokens`` = ``max_tokens`` = ``output_tokens_mean``) so a cut stream can be recognised.
    """

    concurrency: int = 8
    request_count: int | None = None
    duration_minutes: float | None = None
    duration_seconds: float | None = None
    input_tokens_mean: int = 128
    output_tokens_mean: int = 64
    streaming: bool = True
    request_rate: float | None = None
    model_name: str | None = None
    tokenizer: str | None = None
    request_timeout_seconds: float = 30.0
    warmup_requests: int | None = None
    temperature: float = 0.0
    ignore_eos: bool = True
    random_seed: int | None = None  # None: the scenario chooses one and records it (see StartLoad)
    extra_inputs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def duration(self) -> float | None:
        """The load's duration in seconds, or None for a request-count load."""
        if self.duration_seconds is not None:
            return float(self.duration_seconds)
        if self.duration_minutes is not None:
            return float(self.duration_minutes) * 60
        return None

    @property
    def effective_request_rate(self) -> float | None:
        if self.request_rate is not None:
            return self.request_rate
        return self.concurrency * DEFAULT_RATE_PER_CONCURRENCY if self.duration is not None else None

    @property
    def max_in_flight(self) -> int:
        """The most requests the load can have in flight at once: its concurrency, or fewer
        requests in all."""
        return min(self.concurrency, self.request_count or self.concurrency)

    @property
    def in_flight_limit(self) -> str:
        """Why `max_in_flight` is what it is, for messages: ``concurrency 2`` or ``3 requests in all``."""
        if self.request_count is not None and self.request_count < self.concurrency:
            return f"{self.request_count} requests in all"
        return f"concurrency {self.concurrency}"

    @property
    def expected_seconds(self) -> float:
        """A generous estimate of how long the load runs, for timeouts."""
        if self.duration is not None:
            return self.duration
        per_request = 0.5 + self.output_tokens_mean * 0.02
        return self.request_count * per_request / max(1, self.concurrency) + 10

    def hard_timeout(self, start_seconds: float) -> float:
        """How long a client may take in all before it is stopped whatever happens: the
        ``start_seconds`` its start may take, twice `expected_seconds`, one request's timeout and
        a minute. Every load client (aiperf, legacy, the Kubernetes load Job) uses this bound."""
        return start_seconds + self.expected_seconds * 2 + self.request_timeout_seconds + 60

    def validate(self) -> None:
        for name, high in (("concurrency", MAX_CONCURRENCY), ("input_tokens_mean", MAX_TOKENS),
                           ("output_tokens_mean", MAX_TOKENS)):
            validate.count(getattr(self, name), f"load {name}", low=1, high=high)
        durations = [d for d in (self.duration_minutes, self.duration_seconds) if d is not None]
        if (self.request_count is None) == (not durations) or len(durations) > 1:
            raise SpecError("a load needs exactly one of request_count, duration_seconds or duration_minutes; got "
                            f"request_count={self.request_count}, duration_seconds={self.duration_seconds}, "
                            f"duration_minutes={self.duration_minutes}")
        if self.request_count is not None:
            validate.count(self.request_count, "load request_count", low=1, high=MAX_REQUESTS)
        if self.duration_seconds is not None:
            validate.seconds(self.duration_seconds, "load duration_seconds", low=MIN_LOAD_SECONDS)
        if self.duration_minutes is not None:
            minutes = validate.number(self.duration_minutes, "load duration_minutes", low=0, low_included=False,
                                      high=MAX_SECONDS / 60, unit=" minutes (1 hour)")
            if minutes * 60 < MIN_LOAD_SECONDS:
                raise SpecError(f"load duration_minutes must be at least {MIN_LOAD_SECONDS / 60:.4g} minutes "
                                f"({MIN_LOAD_SECONDS:g} s, the shortest load every client sends requests in), "
                                f"got {self.duration_minutes!r}")
        if self.request_rate is not None:
            validate.number(self.request_rate, "load request_rate", low=0, low_included=False, high=MAX_REQUEST_RATE,
                            unit=" requests per second")
        self._validate_sends_requests()
        validate.positive_seconds(self.request_timeout_seconds, "load request_timeout_seconds")
        if self.random_seed is not None:
            validate.count(self.random_seed, "load random_seed (or unset)", high=validate.MAX_SEED)
        if self.warmup_requests is not None:
            validate.count(self.warmup_requests, "load warmup_requests (or unset)", low=1, high=MAX_REQUESTS)
        validate.number(self.temperature, "load temperature", low=0, high=2)
        if self.input_tokens_mean + self.output_tokens_mean > MAX_TOKENS:
            raise SpecError(f"load input_tokens_mean + output_tokens_mean must be at most {MAX_TOKENS} (the model's "
                            f"context holds prompt and output), got {self.input_tokens_mean} + "
                            f"{self.output_tokens_mean} = {self.input_tokens_mean + self.output_tokens_mean}")
        if not isinstance(self.extra_inputs, dict):
            raise SpecError(f"load extra_inputs must be a mapping of field to value (a JSON object), "
                            f"got {self.extra_inputs!r}")

    def _validate_sends_requests(self) -> None:
        """A duration load paced at ``request_rate`` must be due to send at least one request."""
        rate, duration = self.effective_request_rate, self.duration
        if rate is None or duration is None or rate * duration >= 1:
            return
        raise SpecError(f"a load of {duration:g} s at {rate:g} requests per second is due to send {rate * duration:g} "
                        f"requests, so possibly none; give it at least {1 / rate:g} s or a request_rate of at least "
                        f"{1 / duration:g}")
