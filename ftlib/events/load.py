"""Load events: start a named load, stop it early, or wait for it to finish."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ftlib.errors import SpecError
from ftlib import evidence, validate
from ftlib.events.base import Event
from ftlib.load.config import LoadConfig
from ftlib.load.results import LoadResults

log = logging.getLogger("ftlib.events")
SEED_FILE = "seed.txt"

if TYPE_CHECKING:
    from ftlib.plan import PlanValidator
    from ftlib.scenario import ScenarioContext
    from ftlib.spec import DeploymentSpec


@dataclass
class StartLoad(Event):
    """Start sending load to the frontend and return once requests are flowing.

    The load runs in the background while later events inject faults. Its results are
    collected when it completes, is stopped, or when the scenario settles (then it is waited
    for, as the reference framework does).
    """

    load_config: LoadConfig
    name: str = "default"
    results: LoadResults | None = field(default=None, init=False)
    runner: object | None = field(default=None, init=False, repr=False)
    failure: str | None = field(default=None, init=False)  # why the client never got going, if it did not

    def __post_init__(self) -> None:
        evidence.path_name(self.name, "load name")  # it becomes the folder load/<name>/ of the evidence

    def execute(self, ctx: "ScenarioContext") -> None:
        if ctx.find_load(self.name, active_only=True) is not None:
            raise SpecError(f"a load named {self.name!r} is already running; give the new load another name")
        self.load_config = self.seeded(ctx)
        runner = ctx.new_load_runner(self.name, self.load_config)
        try:
            runner.start()
        except Exception as error:
            self.failure = f"{type(error).__name__}: {error}"
            _discard(runner, self.name)
            raise
        finally:
            # a client that failed to start is not running (its error stopped the scenario): nothing for the
            # teardown to stop, so that error is not reported twice; after Ctrl-C during start the teardown stops it
            if self.failure is None:
                self.runner = runner
        evidence.write_text(ctx.output_dir / "load" / self.name / SEED_FILE, f"{self.load_config.random_seed}\n")

    def seeded(self, ctx: "ScenarioContext") -> LoadConfig:
        """The config with its random seed (prompts, request schedule) chosen: the one it names,
        else the scenario's seed (``-D seed=N``, or chosen at random once per scenario) plus the
        number of loads started before this one. Logged, so ``-D seed=N`` reproduces a run."""
        if self.load_config.random_seed is not None:
            return self.load_config
        if ctx.seed is None:
            ctx.seed = secrets.randbelow(2**31)
            log.info("random seed %d chosen for this scenario's loads (-D seed=%d reproduces them)", ctx.seed, ctx.seed)
        loads = ctx.loads()
        earlier = next((number for number, load in enumerate(loads) if load is self), len(loads))
        seed = (ctx.seed + earlier) % (validate.MAX_SEED + 1)
        log.info("load %r: random seed %d", self.name, seed)
        return replace(self.load_config, random_seed=seed)

    def target_services(self) -> list[str]:
        return []

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        validator.start_load(self.name, self.load_config)

    @property
    def active(self) -> bool:
        return self.runner is not None and self.results is None

    def collect(self, stop_early: bool, timeout: float | None = None) -> LoadResults:
        if self.results is None:
            self.results = self.runner.stop() if stop_early else self.runner.wait(timeout)
        return self.results

    def stop(self, ctx: "ScenarioContext") -> None:
        if self.active:
            self.collect(stop_early=False)

    def abort(self) -> None:
        """Stop at once (teardown after an error or Ctrl-C)."""
        if self.active:
            self.collect(stop_early=True)

    @property
    def description(self) -> str:
        c = self.load_config
        size = f"{c.request_count} requests" if c.request_count else f"{c.duration:g} s"
        rate = f", {c.effective_request_rate:g} req/s" if c.effective_request_rate else ""
        return f"start load {self.name!r}: {size} at concurrency {c.concurrency}{rate}"


def _discard(runner, name: str) -> None:
    """Stop what a client that failed to start may have left running; what that stop reports repeats
    the failure to start, so it goes to the scenario's log only."""
    try:
        runner.stop()
    except Exception as error:  # noqa: BLE001 - the start's own error is the one raised
        log.info("load %r failed to start; stopping what it left: %s", name, error)


@dataclass
class StopLoad(Event):
    """Stop a running load early; the client writes its results marked as cancelled."""

    name: str = "default"

    def execute(self, ctx: "ScenarioContext") -> None:
        ctx.require_load(self.name, active_only=True).collect(stop_early=True)

    def target_services(self) -> list[str]:
        return []

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        validator.end_load(self.name, "stop", self.description)

    @property
    def description(self) -> str:
        return f"stop load {self.name!r}"


@dataclass
class WaitForLoadCompletion(Event):
    """Wait until a load has sent all its requests (or run its duration), then collect results.

    With a timeout, a load still running when it expires is stopped and the event fails.
    """

    name: str = "default"
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None:
            self.timeout = validate.positive_seconds(self.timeout, "the time to wait for a load to complete")

    def execute(self, ctx: "ScenarioContext") -> None:
        ctx.require_load(self.name, active_only=True).collect(stop_early=False, timeout=self.timeout)

    def target_services(self) -> list[str]:
        return []

    def plan(self, validator: "PlanValidator", spec: "DeploymentSpec") -> None:
        config = validator.load_configs.get(self.name)
        validator.end_load(self.name, "wait for", self.description)
        if self.timeout is not None and config is not None and (config.duration or 0) >= self.timeout:
            raise SpecError(f"load {self.name!r} runs for {config.duration:g} s, so it cannot complete within "
                            f"{self.timeout:g} s; give it more than {config.duration:g} s")

    @property
    def description(self) -> str:
        within = f" within {self.timeout:g} s" if self.timeout else ""
        return f"wait for load {self.name!r} to complete{within}"
