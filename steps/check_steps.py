"""Then steps: verdicts on what the scenario recorded."""

from behave import then

from ftlib.checks import MaxErrors, MinFailures, MinRequests, SuccessRate, WasCancelled, ZeroErrors


@then("there are no errors")
@then('load "{name}" has no errors')
def no_errors(context, name="default"):
    """No request failed (errors, cut streams and short outputs all count as failures)."""
    context.ft.check(ZeroErrors(name=name))


@then("errors are at most {n:d}")
@then('errors of load "{name}" are at most {n:d}')
def errors_at_most(context, n, name="default"):
    """At most n requests failed."""
    context.ft.check(MaxErrors(n, name=name))


@then("at least {n:d} requests succeed")
@then('at least {n:d} requests of load "{name}" succeed')
def requests_succeed(context, n, name="default"):
    """At least n requests succeeded."""
    context.ft.check(MinRequests(n, name=name))


@then("at least {n:d} requests fail")
@then('at least {n:d} requests of load "{name}" fail')
def requests_fail(context, n, name="default"):
    """At least n requests failed: the fault is visible to clients."""
    context.ft.check(MinFailures(n, name=name))


@then("the load was cancelled")
@then('load "{name}" was cancelled')
def load_cancelled(context, name="default"):
    """The load was stopped before it finished."""
    context.ft.check(WasCancelled(cancelled=True, name=name))


@then("the load was not cancelled")
@then('load "{name}" was not cancelled')
def load_not_cancelled(context, name="default"):
    """The load ran to its end."""
    context.ft.check(WasCancelled(cancelled=False, name=name))


@then("the success rate is at least {p:g} percent")
@then('the success rate of load "{name}" is at least {p:g} percent')
def success_rate_at_least(context, p, name="default"):
    """At least p percent of the requests succeeded."""
    context.ft.check(SuccessRate(p, name=name))
