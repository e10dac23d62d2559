"""Waiting in tests for something a real component does in its own time (a controller, the node
agent, the API server): poll until the answer is truthy, fail with the last answer."""

from __future__ import annotations

import time


def eventually(check, timeout: float = 30.0, every: float = 0.2, what: str | None = None):
    """``check()``'s first truthy answer within ``timeout`` seconds; an AssertionError naming
    ``what`` (or the check) and its last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or check.__doc__ or check}; last answer: {answer!r}")
        time.sleep(every)
