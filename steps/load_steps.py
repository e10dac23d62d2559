"""When steps that start, stop and wait for load."""

from behave import when

from ftlib.events import StartLoad, StopLoad, WaitForLoadCompletion
from ftlib.bdd import seconds
from ftlib.load.config import LoadConfig
from ftlib.load.table import load_config_from_table


@when("a load of {n:d} requests at concurrency {c:d} is started")
@when('a load "{name}" of {n:d} requests at concurrency {c:d} is started')
def load_of_requests(context, n, c, name="default"):
    """Start a load of n requests, c at a time."""
    context.ft.event(StartLoad(LoadConfig(concurrency=c, request_count=n), name=name))


@when("a load at concurrency {c:d} is started for {d:g} {unit:w}")
@when('a load "{name}" at concurrency {c:d} is started for {d:g} {unit:w}')
def load_for_duration(context, c, d, unit, name="default"):
    """Start a load that runs for d seconds (or minutes), c requests at a time."""
    config = LoadConfig(concurrency=c, duration_seconds=seconds(d, unit))
    context.ft.event(StartLoad(config, name=name))


@when("a load is started with:")
@when('a load "{name}" is started with:')
@when("a load is started with")
@when('a load "{name}" is started with')
def load_from_table(context, name="default"):
    """Start a load described by a two-column table of LoadConfig fields."""
    context.ft.event(StartLoad(load_config_from_table(context.table), name=name))


@when("the load completes")
@when('load "{name}" completes')
def load_completes(context, name="default"):
    """Wait for the load to finish on its own."""
    context.ft.event(WaitForLoadCompletion(name=name))


@when("the load completes within {t:g} seconds")
@when('load "{name}" completes within {t:g} seconds')
def load_completes_within(context, t, name="default"):
    """Wait at most t seconds for the load to finish; past that it is stopped and the step fails."""
    context.ft.event(WaitForLoadCompletion(name=name, timeout=t))


@when("the load is stopped")
@when('load "{name}" is stopped')
def load_stopped(context, name="default"):
    """Stop the load early; its results are kept and marked cancelled."""
    context.ft.event(StopLoad(name=name))
