"""When steps that roll a new revision of a service out."""

from behave import when

from ftlib.events import RollingUpgrade


@when("the {service} service is rolling-upgraded")
@when("the {service} service is rolling-upgraded while at least {n:d} requests are in flight")
def service_rolling_upgraded(context, service, n=None):
    """Roll a new revision of the service out (a changed TEST_ROLLING_UPDATE_TRIGGER variable):
    its pods are replaced one at a time, each new pod ready before an old one is deleted
    gracefully. The step ends when no old pod is left and every new pod is ready; it fails if
    no pod was replaced or the new revision is not ready within 10 minutes."""
    context.ft.event(RollingUpgrade([service], min_in_flight=n))
