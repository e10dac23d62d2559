"""Ctrl-C and SIGTERM: the first one stops the scenario, none ever abandons its cleanup.

`install` makes SIGINT and SIGTERM raise `KeyboardInterrupt` (so a CI timeout or ``kill`` takes
the same path as Ctrl-C) and remembers that the run was interrupted (`interrupted`). Inside
`deferred` (the scenario's finish: stopping loads, keeping evidence, tearing down), a further
SIGINT or SIGTERM does not interrupt: it prints that cleanup is finishing first, and is
delivered once the block is over, so the run then stops with its cleanup done.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"interrupted": False, "depth": 0}


def _raise_keyboard_interrupt(signum, frame) -> None:  # noqa: ARG001 - a signal handler
    _state["interrupted"] = True
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    """SIGINT and SIGTERM raise `KeyboardInterrupt` (even when a parent started us with SIGINT
    ignored, as scripts do for background jobs)."""
    for sig in SIGNALS:
        signal.signal(sig, _raise_keyboard_interrupt)


def interrupted() -> bool:
    """Whether SIGINT or SIGTERM reached this run (through `install`'s handler or `deferred`)."""
    return _state["interrupted"]


@contextlib.contextmanager
def deferred(what: str = "cleanup") -> Iterator[None]:
    """Run the block to its end whatever SIGINT or SIGTERM arrive meanwhile (main thread only;
    nested blocks defer until the outermost ends). A deferred signal is delivered after it."""
    if threading.current_thread() is not threading.main_thread() or _state["depth"]:
        _state["depth"] += 1
        try:
            yield
        finally:
            _state["depth"] -= 1
        return
    pending: list[int] = []

    def postpone(signum, frame) -> None:  # noqa: ARG001 - a signal handler
        _state["interrupted"] = True
        pending.append(signum)
        print(f"\ndynamo-ft: {signal.Signals(signum).name} received during {what}; finishing the {what} first "
              "(evidence, teardown), then stopping", file=sys.__stderr__, flush=True)

    previous = {sig: signal.signal(sig, postpone) for sig in SIGNALS}
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])
