"""When steps that inject faults. Each fault verifies that it took effect."""

from behave import when

from ftlib.events import DeletePod, FreezeProcess, TerminateProcess


@when("the {service} pod is deleted")
def pod_deleted(context, service):
    """Force-delete every pod of the service; each is replaced by a new pod."""
    context.ft.event(DeletePod([service]))


@when("one {service} pod is deleted")
def one_pod_deleted(context, service):
    """Force-delete exactly one pod of the service."""
    context.ft.event(DeletePod([service], one_pod=True))


@when('the "{process}" process of the {service} is killed')
def process_killed(context, process, service):
    """SIGKILL every matching process in every pod of the service."""
    context.ft.event(TerminateProcess([service], process, "SIGKILL"))


@when('the "{process}" process of one {service} pod is killed')
def process_killed_in_one_pod(context, process, service):
    """SIGKILL every matching process in one pod of the service."""
    context.ft.event(TerminateProcess([service], process, "SIGKILL", one_pod=True))


@when('the "{process}" process of the {service} receives {signal:w}')
def process_signalled(context, process, service, signal):
    """Send a signal (SIGKILL, SIGTERM, SIGINT…) to every matching process of the service."""
    context.ft.event(TerminateProcess([service], process, signal))


@when('the "{process}" process of one {service} pod receives {signal:w}')
def process_signalled_in_one_pod(context, process, service, signal):
    """Send a signal to every matching process in one pod of the service."""
    context.ft.event(TerminateProcess([service], process, signal, one_pod=True))


@when('the "{process}" process of the {service} is frozen for {d:g} seconds')
def process_frozen(context, process, service, d):
    """SIGSTOP every matching process in every pod of the service, SIGCONT after d seconds.
    The step lasts the d seconds; the processes are resumed even if the scenario is aborted."""
    context.ft.event(FreezeProcess([service], process, d))
