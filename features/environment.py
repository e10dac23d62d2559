"""behave hooks: options, the plan pass, evidence and teardown. Steps live in ../steps."""

import logging
import signal
import sys
import time
from pathlib import Path

from behave.model_core import Status

from ftlib.bdd import GherkinScenario
from ftlib.options import RunOptions

REPO_ROOT = Path(__file__).resolve().parent.parent


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def before_all(context):
    # SIGTERM (CI timeouts, Kubernetes Jobs) takes the same path as Ctrl-C, so teardown runs.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    context.ft_options = RunOptions.from_userdata(context.config.userdata)
    context.config.setup_logging()


def before_scenario(context, scenario):
    options = context.ft_options
    context.ft = GherkinScenario(scenario.name, options, REPO_ROOT, execute=False)
    if not _plan(context, scenario):
        return  # an undefined step: behave reports it and fails the scenario
    if options.dry_run:
        print(f"\nPLAN {scenario.name}\n{context.ft.describe_plan()}", file=sys.__stdout__, flush=True)
        scenario.skip("dry run: planned, nothing deployed")
        return
    context.ft = GherkinScenario(scenario.name, options, REPO_ROOT, execute=True)
    context.ft_started = time.monotonic()
    context.ft.output_dir.mkdir(parents=True, exist_ok=True)
    context.ft_log = logging.FileHandler(context.ft.output_dir / "scenario.log")
    context.ft_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("ftlib").addHandler(context.ft_log)


def _plan(context, scenario) -> bool:
    """Run every step of the scenario against a planning-only GherkinScenario."""
    registry = context._runner.step_registry
    for step in scenario.all_steps:
        match = registry.find_match(step)
        if match is None:
            return False
        context.table, context.text = step.table, step.text
        match.run(context)
    return True


def after_scenario(context, scenario):
    ft = getattr(context, "ft", None)
    if ft is None or not ft.execute:
        return
    problems = ft.finish(aborted=scenario.status != Status.passed)
    seconds = time.monotonic() - context.ft_started
    print(f"\n  evidence: {ft.output_dir} ({seconds:.1f} s)", file=sys.__stdout__, flush=True)
    logging.getLogger("ftlib").removeHandler(context.ft_log)
    context.ft_log.close()
    if problems:
        raise RuntimeError("teardown problems: " + "; ".join(problems))
