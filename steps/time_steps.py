"""When steps that let time pass or wait for the deployment."""

from behave import when

from ftlib.bdd import seconds
from ftlib.events import Wait, WaitForRecovery


@when("{d:g} {unit:w} pass")
@when("{d:g} {unit:w} passes")
def time_passes(context, d, unit):
    """Let d seconds (or minutes) pass while the load keeps running."""
    context.ft.event(Wait(seconds(d, unit)))


@when("the deployment recovers within {t:g} seconds")
def deployment_recovers(context, t):
    """Wait until the deployment, having lost readiness or a pod after the last fault, is ready
    again with every replica; fail if that takes more than t seconds."""
    context.ft.event(WaitForRecovery(timeout=t))
