"""Then steps that write reports (the @report tag asks for the same reports without a step)."""

from behave import then

from ftlib.reports import FaultToleranceReport


@then("a fault tolerance report is written")
def fault_tolerance_report_written(context):
    """Write fault_tolerance_report.md/.json now, from what was recorded so far (requests before
    and after each fault, latency, startup and recovery times). The report is written again
    after teardown, so it exists even when an earlier Then step failed."""
    context.ft.write_report(FaultToleranceReport())
