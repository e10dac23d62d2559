"""When steps that inject faults, and the check that a fault hit requests in flight.

Each fault verifies that it took effect. While a load runs, each one first waits (at most 5 s)
until the frontend reports a request in flight; the ending ``while at least {n} requests are
in flight`` asks for n (and the step fails, injecting nothing, if the load never reaches n).
"""

from behave import then, when

from ftlib.checks import FaultHitInFlight
from ftlib.events import DeletePod, FreezeProcess, TerminateProcess

WHILE = " while at least {n:d} requests are in flight"


@when("the {service} pod is deleted")
@when("the {service} pod is deleted" + WHILE)
def pod_deleted(context, service, n=None):
    """Force-delete every pod of the service; each is replaced by a new pod."""
    context.ft.event(DeletePod([service], min_in_flight=n))


@when("one {service} pod is deleted")
@when("one {service} pod is deleted" + WHILE)
def one_pod_deleted(context, service, n=None):
    """Force-delete exactly one pod of the service."""
    context.ft.event(DeletePod([service], one_pod=True, min_in_flight=n))


@when('the "{process}" process of the {service} is killed')
@when('the "{process}" process of the {service} is killed' + WHILE)
def process_killed(context, process, service, n=None):
    """SIGKILL every matching process in every pod of the service."""
    context.ft.event(TerminateProcess([service], process, "SIGKILL", min_in_flight=n))


@when('the "{process}" process of one {service} pod is killed')
@when('the "{process}" process of one {service} pod is killed' + WHILE)
def process_killed_in_one_pod(context, process, service, n=None):
    """SIGKILL every matching process in one pod of the service."""
    context.ft.event(TerminateProcess([service], process, "SIGKILL", one_pod=True, min_in_flight=n))


@when('the "{process}" process of the {service} receives {signal:w}')
@when('the "{process}" process of the {service} receives {signal:w}' + WHILE)
def process_signalled(context, process, service, signal, n=None):
    """Send a signal (SIGKILL, SIGTERM, SIGINT…) to every matching process of the service."""
    context.ft.event(TerminateProcess([service], process, signal, min_in_flight=n))


@when('the "{process}" process of one {service} pod receives {signal:w}')
@when('the "{process}" process of one {service} pod receives {signal:w}' + WHILE)
def process_signalled_in_one_pod(context, process, service, signal, n=None):
    """Send a signal to every matching process in one pod of the service."""
    context.ft.event(TerminateProcess([service], process, signal, one_pod=True, min_in_flight=n))


@when('the "{process}" process of the {service} is frozen for {d:g} seconds')
@when('the "{process}" process of the {service} is frozen for {d:g} seconds' + WHILE)
def process_frozen(context, process, service, d, n=None):
    """SIGSTOP every matching process in every pod of the service, SIGCONT after d seconds.
    The step lasts the d seconds; the processes are resumed even if the scenario is aborted."""
    context.ft.event(FreezeProcess([service], process, d, min_in_flight=n))


@then("the fault hit at least {n:d} requests in flight")
@then('the fault hit at least {n:d} requests of load "{name}" in flight')
def fault_hit_in_flight(context, n, name="default"):
    """At least n requests were in flight when the last fault started, counted from the
    per-request records (started before the fault, ended after it)."""
    context.ft.check(FaultHitInFlight(n, name=name))
