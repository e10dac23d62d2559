"""dynamo-ft: fault-tolerance scenarios for NVIDIA Dynamo inference graphs.

A scenario is a deployment (`DeploymentSpec`), a timeline of `events` (load, waits, faults)
and `checks` on what happened; `run_scenario` runs one from Python, the behave steps in
``steps/`` run them from Gherkin.
"""

from ftlib.checks import (Check, FaultHitInFlight, MaxErrors, MinFailures, MinRequests, NoFailuresOutsideFaultWindow, RecoveredWithin,
                          RequestsSucceedAgainWithin, ServiceLogContains, ServiceLogNotContains, SuccessRate,
                          WasCancelled, ZeroErrors)
from ftlib.errors import (FaultNotEffective, FtError, InFlightShortfall, LoadError, PlatformError, SpecError,
                          TargetError)
from ftlib.events import (DeletePod, Event, Fault, FreezeProcess, RollingUpgrade, StartLoad, StopLoad, TerminateProcess, Wait,
                          WaitForLoadCompletion, WaitForLogPattern, WaitForRecovery)
from ftlib.load import LoadConfig, LoadResults
from ftlib.scenario import ScenarioContext, run_scenario
from ftlib.spec import DeploymentSpec, ServiceSpec, get_deployment_spec
from ftlib.verdicts import CheckFailed, Verdict

__all__ = [
    "Check", "MaxErrors", "MinFailures", "MinRequests", "WasCancelled", "ZeroErrors",
    "FaultNotEffective", "FtError", "LoadError", "PlatformError", "SpecError", "TargetError",
    "DeletePod", "Event", "StartLoad", "StopLoad", "TerminateProcess", "Wait", "WaitForLoadCompletion",
    "WaitForRecovery", "LoadConfig", "LoadResults", "ScenarioContext", "run_scenario",
    "DeploymentSpec", "ServiceSpec", "get_deployment_spec",
    "ServiceLogContains", "ServiceLogNotContains", "SuccessRate", "RecoveredWithin", "RequestsSucceedAgainWithin",
    "NoFailuresOutsideFaultWindow", "FreezeProcess", "RollingUpgrade", "WaitForLogPattern",
    "CheckFailed", "Verdict", "Fault", "FaultHitInFlight", "InFlightShortfall",
]
