"""What every load runner (aiperf, the legacy client) shares: waiting with a hard timeout."""

from __future__ import annotations

import logging
import time

from ftlib.errors import LoadError
from ftlib.load.results import LoadResults

log = logging.getLogger("ftlib.load")


class WaitWithTimeout:
    """Mixin: `wait` for a runner that has `name`, `hard_timeout`, `_started_at`, `stop()`,
    `results()` and `_join(seconds) -> bool` (True once the load has finished on its own)."""

    def wait(self, timeout: float | None = None) -> LoadResults:
        """Wait for the load to finish on its own. Past ``timeout`` it is stopped and the wait
        fails; past the runner's hard timeout it is stopped and its results are returned."""
        budget = timeout if timeout is not None else self.hard_timeout - (time.monotonic() - self._started_at)
        if not self._join(max(1.0, budget)):
            log.warning("load %r still running after %.0f s: stopping it", self.name, budget)
            try:
                self.stop()
            except LoadError:
                if timeout is None:
                    raise
            if timeout is not None:
                raise LoadError(f"load {self.name!r} did not complete within {timeout:g} s; it was stopped")
        return self.results()
