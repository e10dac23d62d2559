"""Reports and monitors: what a scenario recorded, written as files for people to read.

Reports run after the scenario finished (`Report.generate`); monitors run beside it, from
deploy to teardown (`Monitor.start`/`stop`). Each class's docstring is its documentation.
"""

from ftlib.reports.base import Monitor, Report
from ftlib.reports.fault_tolerance import FaultToleranceReport
from ftlib.reports.resources import ResourceHistory
from ftlib.reports.timeline_picture import TimelinePicture

__all__ = ["Report", "Monitor", "FaultToleranceReport", "ResourceHistory", "TimelinePicture"]
