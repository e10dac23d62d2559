"""Waiting on logs: block until a service's log shows a pattern.

Patterns are regular expressions matched against log text with terminal colour codes removed
(Dynamo colours its log levels when run locally), so a pattern written from what a log shows
matches on every platform.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ftlib.errors import SpecError, TargetError
from ftlib import validate
from ftlib.events.base import Event

if TYPE_CHECKING:
    from ftlib.platform.base import Deployment
    from ftlib.scenario import ScenarioContext

POLL_SECONDS = 0.2
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def compile_pattern(pattern: str) -> re.Pattern:
    """``pattern`` as a multi-line regular expression; an invalid one is a `SpecError`."""
    if not pattern:
        raise SpecError("a log pattern must not be empty")
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as error:
        raise SpecError(f"{pattern!r} is not a valid regular expression: {error} "
                        f"(escape special characters such as ( [ . * + ? with a backslash)") from None


def plain(text: str) -> str:
    """Log text without terminal colour codes."""
    return _ANSI.sub("", text)


def pod_logs(deployment: "Deployment", service: str) -> dict[str, str]:
    """The whole log of every pod of ``service``, deleted pods included: for each pod its
    current log and, under ``<pod> (previous)``, the logs of its terminated containers."""
    logs: dict[str, str] = {}
    for pod in deployment.pods(service, include_deleted=True):
        for previous in (True, False):
            try:
                text = deployment.logs(pod.name, previous=previous)
            except TargetError:
                continue  # the pod vanished between listing and reading
            if text:
                logs[f"{pod.name} (previous)" if previous else pod.name] = text
    return logs


def first_match(regex: re.Pattern, logs: dict[str, str]) -> tuple[str, str] | None:
    """(where, matched line) of the first log that matches, or None."""
    for where, text in logs.items():
        text = plain(text)
        match = regex.search(text)
        if match:
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            return where, text[start:end if end >= 0 else len(text)]
    return None


@dataclass
class WaitForLogPattern(Event):
    """Wait until the log of any pod of ``service`` matches ``pattern`` (a regular expression).

    The whole log of every pod is searched, current and previous containers, including pods
    created after the wait began; the search repeats every 0.2 s. Records the pod it was found
    in (``found_in_pod``), the matching line and the seconds waited. Fails after ``timeout``
    seconds naming the pattern, the service and the pods searched.
    """

    service: str
    pattern: str
    timeout: float = 300.0
    found_in_pod: str | None = field(default=None, init=False)
    matched_line: str | None = field(default=None, init=False)
    found_after_seconds: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._regex = compile_pattern(self.pattern)
        self.timeout = validate.positive_seconds(self.timeout, "a log wait's timeout")

    def target_services(self) -> list[str]:
        return [self.service]

    def execute(self, ctx: "ScenarioContext") -> None:
        service = ctx.spec.resolve_service(self.service).name
        deadline = time.monotonic() + self.timeout
        searched: dict[str, int] = {}
        while True:
            logs = pod_logs(ctx.deployment, service)
            changed = {where: text for where, text in logs.items() if searched.get(where) != len(text)}
            searched.update({where: len(text) for where, text in logs.items()})
            found = first_match(self._regex, changed)
            if found:
                self.found_in_pod, self.matched_line = found
                self.found_after_seconds = (time.time_ns() - self.started_ns) / 1e9
                return
            if time.monotonic() > deadline:
                pods = [p.name for p in ctx.deployment.pods(service, include_deleted=True)]
                raise AssertionError(f"expected the {service} log to show {self.pattern!r} within {self.timeout:g} s; "
                                     f"it did not. Pods searched (current and previous logs): "
                                     f"{', '.join(pods) or 'none (the service had no pods)'}")
            time.sleep(POLL_SECONDS)

    @property
    def description(self) -> str:
        return f"wait up to {self.timeout:g} s for the {self.service} log to show {self.pattern!r}"
