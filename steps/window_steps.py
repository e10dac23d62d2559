"""Then steps that measure a fault against time: how fast the deployment and its clients
recovered, and whether requests failed outside the fault's window."""

from behave import then

from ftlib.checks import NoFailuresOutsideFaultWindow, RecoveredWithin, RequestsSucceedAgainWithin


@then("the deployment recovered within {t:g} seconds")
def deployment_recovered_within(context, t):
    """From the start of the last fault to the first moment the platform saw the deployment
    ready again with every replica took at most t seconds."""
    context.ft.check(RecoveredWithin(t))


@then("requests succeed again within {t:g} seconds of the fault")
@then('requests of load "{name}" succeed again within {t:g} seconds of the fault')
def requests_succeed_again(context, t, name="default"):
    """A request that started after the last fault succeeded at most t seconds after the fault
    started (client side, measured to the end of that request)."""
    context.ft.check(RequestsSucceedAgainWithin(t, name=name))


@then("no request fails outside the fault window")
@then('no request of load "{name}" fails outside the fault window')
def no_failures_outside_window(context, name="default"):
    """Every failed request ended between the start of the first fault and the recovery from
    the last one."""
    context.ft.check(NoFailuresOutsideFaultWindow(name=name))
