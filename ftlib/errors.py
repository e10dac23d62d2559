"""Errors raised by dynamo-ft. Each message names what was wrong and what is allowed.

`FtError` and its subclasses are *errors* (the run could not judge the system: bad input, a fault
that did not take effect, a load with no results). A check that judges the system and finds it
wanting raises `AssertionError` instead, so behave and Allure show it as *failed*, not *broken*.
"""


class FtError(Exception):
    """Base class of every dynamo-ft error."""


class SpecError(FtError):
    """The deployment, a service, a backend or a number in the scenario is invalid."""


class TargetError(FtError):
    """A fault or wait named a service, pod or process that does not exist."""


class FaultNotEffective(FtError):
    """A fault was sent but the platform shows it did not take effect."""


class PlatformError(FtError):
    """The platform failed to deploy, keep or tear down the graph."""


class LoadError(FtError):
    """The load generator failed to start or produced no results."""


class InFlightShortfall(FtError):
    """A fault step asked for more requests in flight than the load reached within the wait's
    bound, so the fault was not injected."""
