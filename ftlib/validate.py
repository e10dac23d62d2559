"""The rules every number and name from a scenario obeys, and their bounds: one place, one wording.

Each rule returns the value it accepted (as the type it stands for) or raises `SpecError`
naming what was wrong, what was given, and what is allowed, bounds included. Bounds are what a
sane scenario on one machine needs: a duration or timeout up to an hour, up to 16 replicas of a
service, 100 000 requests at up to 512 at a time. Infinity, NaN and booleans are never numbers
here (``for inf seconds`` would hang forever).
"""

from __future__ import annotations

import math
import re
import signal as signals

from ftlib.errors import SpecError

MAX_SEED = 2**32 - 1  # a load's random seed: 0 to 2**32 - 1 (numpy's range)

MAX_SECONDS = 3600.0  # any duration, wait or timeout: one hour
MAX_REPLICAS = 16  # pods of one service
MAX_REQUESTS = 100_000  # requests of one load (and every count of requests a check names)
MAX_CONCURRENCY = 512  # requests in flight at once
MAX_TOKENS = 8192  # prompt or output tokens of one request: the context of the project's model card
MAX_REQUEST_RATE = 10_000.0  # requests per second
MAX_MIGRATION_LIMIT = 100  # times the frontend may move one request to another worker
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _number(value: object) -> float | None:
    """``value`` as a finite float, or None if it is not a real, finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _span(low: float, high: float, low_included: bool, unit: str) -> str:
    above = f"from {low:g}" if low_included else f"more than {low:g} and"
    to = "to" if low_included else "at most"
    return f"{above} {to} {high:g}{unit}"


def seconds(value: object, what: str, *, low: float = 0.0, low_included: bool = True,
            high: float = MAX_SECONDS) -> float:
    """A number of seconds within ``low`` (included or not) and ``high``."""
    number = _number(value)
    if number is None or number < low or (number == low and not low_included) or number > high:
        hour = " (1 hour)" if high == 3600 else ""
        raise SpecError(f"{what} must be a number of seconds {_span(low, high, low_included, '')}{hour}, got {value!r}")
    return number


def positive_seconds(value: object, what: str, high: float = MAX_SECONDS) -> float:
    """A duration or timeout: more than 0 seconds, at most ``high``."""
    return seconds(value, what, low=0.0, low_included=False, high=high)


def count(value: object, what: str, *, low: int = 0, high: int = MAX_REQUESTS) -> int:
    """A whole number from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    return value


def number(value: object, what: str, *, low: float, high: float, low_included: bool = True, unit: str = "") -> float:
    """A number (not necessarily whole) within ``low`` (included or not) and ``high``."""
    found = _number(value)
    if found is None or found < low or (found == low and not low_included) or found > high:
        raise SpecError(f"{what} must be a number {_span(low, high, low_included, unit)}, got {value!r}")
    return found


def env_name(name: object) -> str:
    """An environment variable name: letters, digits and _, not starting with a digit."""
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        raise SpecError(f"{name!r} is not a valid environment variable name "
                        "(letters, digits and _, not starting with a digit)")
    return name


SIGNAL_NAMES = sorted(s.name for s in signals.Signals if not s.name.startswith("SIGRT"))


def normalize_signal(name: str) -> str:
    """``SIGKILL``, ``KILL``, ``kill`` or ``9`` -> ``SIGKILL``; anything else is an error."""
    text = str(name).strip().upper()
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name
        except ValueError:
            pass
    text = text if text.startswith("SIG") else "SIG" + text
    if text not in SIGNAL_NAMES:
        raise SpecError(f"unknown signal {name!r}; allowed: {', '.join(SIGNAL_NAMES)}")
    return text
