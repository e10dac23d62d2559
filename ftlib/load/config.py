"""LoadConfig: what load to send, independent of the client that sends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftlib.errors import SpecError

DEFAULT_RATE_PER_CONCURRENCY = 2.0


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
    random_seed: int = 42
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
    def expected_seconds(self) -> float:
        """A generous estimate of how long the load runs, for timeouts."""
        if self.duration is not None:
            return self.duration
        per_request = 0.5 + self.output_tokens_mean * 0.02
        return self.request_count * per_request / max(1, self.concurrency) + 10

    def validate(self) -> None:
        bounds = {"concurrency": 1, "input_tokens_mean": 1, "output_tokens_mean": 1}
        for name, low in bounds.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise SpecError(f"load {name} must be a whole number >= {low}, got {value!r}")
        durations = [d for d in (self.duration_minutes, self.duration_seconds) if d is not None]
        if (self.request_count is None) == (not durations) or len(durations) > 1:
            raise SpecError("a load needs exactly one of request_count, duration_seconds or duration_minutes; got "
                            f"request_count={self.request_count}, duration_seconds={self.duration_seconds}, "
                            f"duration_minutes={self.duration_minutes}")
        if self.request_count is not None and (type(self.request_count) is not int or self.request_count < 1):
            raise SpecError(f"load request_count must be a whole number >= 1, got {self.request_count!r}")
        if durations and not durations[0] > 0:
            raise SpecError(f"load duration must be more than 0, got {durations[0]!r}")
        for name in ("request_rate", "request_timeout_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SpecError(f"load {name} must be more than 0, got {value!r}")
        if not isinstance(self.extra_inputs, dict):
            raise SpecError(f"load extra_inputs must be a mapping of field to value (a JSON object), "
                            f"got {self.extra_inputs!r}")
        if self.warmup_requests is not None and self.warmup_requests < 1:
            raise SpecError(f"load warmup_requests must be >= 1 or unset, got {self.warmup_requests!r}")
