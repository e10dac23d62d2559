"""Then steps that write reports (the @report tag asks for the same reports without a step)."""

from behave import then

from ftlib.errors import SpecError
from ftlib.reports import FaultToleranceReport


@then("a fault tolerance report is written")
def fault_tolerance_report_written(context):
    """Write fault_tolerance_report.md/.json now, from what was recorded so far (requests before
    and after each fault, latency, startup and recovery times). The report is written again
    after teardown, so it exists even when an earlier Then step failed."""
    reports = context.ft_reports
    if not any(isinstance(r, FaultToleranceReport) for r in reports):
        reports.append(FaultToleranceReport())
    ft = context.ft
    ft.plan.append("then: write the fault tolerance report")
    if not ft.execute:
        return
    if ft.ctx is None or ft.ctx.deployment is None:
        raise SpecError("nothing was deployed in this scenario, so there is nothing to report on")
    ft.ctx.settle()
    for report in reports:
        if isinstance(report, FaultToleranceReport):
            written = report.generate(ft.ctx)
            assert all(path.exists() for path in written), f"the report files were not written: {written}"
