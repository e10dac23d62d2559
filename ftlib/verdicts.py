"""Verdicts: what a check expected, what it observed, and whether it passed.

Every check, passing or failing, produces a `Verdict` (see `ftlib.checks.Check.judge`). Its
`line` is what a reviewer reads on the console, in ``scenario.log`` and in the Allure step:
``errors ≤ 35: 5 of 152 failed (503 Service Unavailable ×5) — ok``. A scenario's verdicts are
kept in order in ``verdicts.json`` in its evidence folder, rewritten after each one.

A failed verdict is raised as `CheckFailed` by `raise_if_failed`, the one place a verdict turns
into an exception (never an ``assert``: ``python -O`` would remove it). A check that cannot
judge (no such load, a load without results) raises an `FtError`; its verdict is kept as
*could not judge* and the error goes on, so the scenario is broken, not failed.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ftlib import evidence
from ftlib.errors import FtError

if TYPE_CHECKING:
    from ftlib.checks import Check
    from ftlib.scenario import ScenarioContext

log = logging.getLogger("ftlib.verdicts")
VERDICTS_FILE = "verdicts.json"
OUTCOMES = {"passed": "ok", "failed": "FAILED", "broken": "could not judge"}


@dataclass(frozen=True)
class Verdict:
    """One check's verdict.

    check: the check's description (as in the plan); expected: the requirement in short
    (``errors ≤ 35``); observed: what the recorded data shows, with its numbers; details: more
    lines for a reader of a failure (the first offending requests or log lines); evidence: the
    file or folder the verdict was read from; status: ``passed``, ``failed`` or ``broken`` (the
    check could not judge; ``observed`` says why); note: how it was judged, if unusual.
    """

    check: str
    expected: str
    observed: str
    passed: bool
    evidence: str = ""
    details: str = ""
    broken: bool = False
    note: str = ""

    @property
    def status(self) -> str:
        return "broken" if self.broken else "passed" if self.passed else "failed"

    @property
    def line(self) -> str:
        """``expected: observed — outcome`` on one line."""
        return f"{self.expected}: {self.observed} — {OUTCOMES[self.status]}"

    def message(self) -> str:
        """The line, the details and the evidence path: what a failed step shows."""
        parts = [self.line]
        parts += [f"  {line}" for line in self.details.splitlines()]
        if self.note:
            parts.append(f"  ({self.note})")
        if self.evidence:
            parts.append(f"  evidence: {self.evidence}")
        return "\n".join(parts)

    def to_json(self) -> dict:
        return {"status": self.status, **asdict(self), "line": self.line}

    @classmethod
    def could_not_judge(cls, check: "Check", error: BaseException, evidence: str = "") -> "Verdict":
        return cls(check.description, _expected_of(check), f"{type(error).__name__}: {error}", False, evidence,
                   broken=True)


def _expected_of(check: "Check") -> str:
    try:
        return check.expected
    except Exception:  # noqa: BLE001 - a description is enough to name what could not be judged
        return check.description


class CheckFailed(AssertionError):
    """One or more checks judged the system and found it wanting (the scenario *failed*).
    The message lists each failed verdict with its numbers and evidence; no traceback is
    needed to read it."""

    def __init__(self, verdicts: list[Verdict]):
        self.verdicts = list(verdicts)
        if len(self.verdicts) == 1:
            text = self.verdicts[0].message()
        else:
            text = f"{len(self.verdicts)} checks failed:\n" + "\n".join(v.message() for v in self.verdicts)
        super().__init__(text)


def raise_if_failed(verdicts: Iterable[Verdict]) -> None:
    """Raise `CheckFailed` listing every failed verdict (broken ones are raised by their check)."""
    failed = [v for v in verdicts if v.status == "failed"]
    if failed:
        raise CheckFailed(failed)


def judge(check: "Check", ctx: "ScenarioContext", note: str = "") -> Verdict:
    """Judge ``check`` on what ``ctx`` recorded and keep the verdict (``ctx.verdicts``, logged,
    ``verdicts.json``). A check that cannot judge keeps a *could not judge* verdict, then its
    `FtError` is raised again."""
    try:
        verdict = check.judge(ctx)
    except FtError as error:
        keep(ctx, _with_note(Verdict.could_not_judge(check, error, str(ctx.output_dir)), note))
        raise
    return keep(ctx, _with_note(verdict, note))


def judge_remaining(checks: Iterable["Check"], ctx: "ScenarioContext", note: str) -> list[Verdict]:
    """Judge each of ``checks`` (a scenario's planned checks, in order) that has no verdict yet,
    on what was recorded: their steps did not run because the scenario stopped at an earlier one.
    ``note`` says so in each verdict. So ``verdicts.json`` holds every check; never raises."""
    judged = Counter(v.check for v in ctx.verdicts)
    added = []
    for check in checks:
        if judged[check.description] > 0:
            judged[check.description] -= 1
            continue
        try:
            added.append(judge(check, ctx, note))
        except FtError:
            added.append(ctx.verdicts[-1])
        except Exception as error:  # noqa: BLE001 - after teardown, a verdict never hides the scenario's
            added.append(keep(ctx, _with_note(Verdict.could_not_judge(check, error, str(ctx.output_dir)), note)))
    return added


def _with_note(verdict: Verdict, note: str) -> Verdict:
    if not note:
        return verdict
    return Verdict(**{**asdict(verdict), "note": note})


def keep(ctx: "ScenarioContext", verdict: Verdict) -> Verdict:
    ctx.verdicts.append(verdict)
    log.info("verdict: %s", verdict.message())
    try:
        write_verdicts(ctx.output_dir, ctx.verdicts)
    except OSError as error:
        log.error("writing %s: %s", VERDICTS_FILE, error)
    return verdict


def write_verdicts(directory: Path, verdicts: Iterable[Verdict]) -> Path:
    """``verdicts.json``: every verdict of the scenario, in the order they were judged."""
    verdicts = list(verdicts)
    payload = {"passed": all(v.passed for v in verdicts), "verdicts": [v.to_json() for v in verdicts]}
    return evidence.write_text(Path(directory) / VERDICTS_FILE, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def read_verdicts(directory: Path) -> list[Verdict]:
    """The verdicts a scenario kept in ``verdicts.json`` (none if it has no such file)."""
    path = Path(directory) / VERDICTS_FILE
    if not path.exists():
        return []
    fields = set(Verdict.__dataclass_fields__)
    return [Verdict(**{k: v for k, v in raw.items() if k in fields})
            for raw in json.loads(path.read_text())["verdicts"]]


__all__ = ["Verdict", "CheckFailed", "raise_if_failed", "judge", "judge_remaining", "keep", "write_verdicts", "read_verdicts",
           "VERDICTS_FILE"]
