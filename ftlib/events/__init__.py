"""Events: the timeline of a scenario (load, waits, faults). One class per event."""

from ftlib.events.base import Event
from ftlib.events.faults import DeletePod, Fault, FreezeProcess, TerminateProcess, normalize_signal
from ftlib.events.load import StartLoad, StopLoad, WaitForLoadCompletion
from ftlib.events.logs import WaitForLogPattern
from ftlib.events.time import Wait, WaitForRecovery
from ftlib.events.upgrade import RollingUpgrade

__all__ = ["Event", "Fault", "StartLoad", "StopLoad", "WaitForLoadCompletion", "Wait", "WaitForRecovery", "DeletePod",
           "TerminateProcess", "normalize_signal", "FreezeProcess", "RollingUpgrade", "WaitForLogPattern"]
