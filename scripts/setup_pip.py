"""pip as ``./run setup`` runs it: pip's own output goes to the setup log, the console gets what a person needs.

    python scripts/setup_pip.py LOG -- install -e '.[test]'

Runs ``python -m pip ARGS`` with this interpreter (the virtualenv's), appends everything pip
prints to ``LOG`` and shows on the console only:

- the one dependency "conflict" every machine has, ``ai-dynamo 1.6.1 requires aisimulate==0.13.0,
  which is not installed``, as one note in plain words: that pin is skipped on purpose
  (`SKIPPED_PIN_NOTE`), instead of pip's ``ERROR: pip's dependency resolver …`` block;
- any other conflict pip reports, and any other ``ERROR:`` line, as pip wrote them;
- when pip fails: that it failed, its exit code and the last lines of its output.

Standard library only: it runs before the project's dependencies are installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

RESOLVER_HEADER = "ERROR: pip's dependency resolver does not currently take into account"
# a conflict line of that block: "<name> <version> requires <requirement>, which is not installed." or "…, but you have …"
_CONFLICT = re.compile(r"^\S+ \S+ (requires|has requirement) .+(which is not installed|but you have .+)\.$")
_SKIPPED_PIN = re.compile(r"^ai-dynamo \S+ requires aisimulate\b.*, which is not installed\.$")
SKIPPED_PIN_NOTE = ("note: ai-dynamo 1.6.1 pins aisimulate==0.13.0, a package that cannot be installed here and that "
                    "the suite does not use: ai-dynamo is installed without its pins, and its real requirements come "
                    "from pyproject.toml. pip calls this a dependency conflict; its words are in {log}")
TAIL_LINES = 20


def console_lines(output: str, log: Path) -> list[str]:
    """What the console shows of pip's ``output``: the skipped pin as one note, every other
    conflict and ``ERROR:`` line as pip wrote it; nothing else."""
    shown, skipped_pin, in_resolver_block = [], False, False
    for line in output.splitlines():
        if line.startswith(RESOLVER_HEADER):
            in_resolver_block = True
            continue
        if in_resolver_block and _CONFLICT.match(line):
            if _SKIPPED_PIN.match(line):
                skipped_pin = True
            else:
                shown.append(f"pip: dependency conflict: {line}")
            continue
        in_resolver_block = False
        if line.startswith("ERROR:"):
            shown.append(f"pip: {line}")
    return ([SKIPPED_PIN_NOTE.format(log=log)] if skipped_pin else []) + shown


def failure_lines(args: list[str], code: int, output: str, log: Path) -> list[str]:
    """What the console shows when pip exits with ``code``: the command, the code, its last lines."""
    tail = output.splitlines()[-TAIL_LINES:]
    return [f"pip {' '.join(args)} failed (exit code {code}); its last lines (all of them: {log}):",
            *(f"  {line}" for line in tail)]


def run_pip(args: list[str], log: Path, pip: list[str] | None = None) -> int:
    """``pip args`` with its output appended to ``log``; the console lines on stderr; pip's exit code."""
    command = pip or [sys.executable, "-m", "pip"]
    done = subprocess.run([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", stdin=subprocess.DEVNULL)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ pip {' '.join(args)}\n{done.stdout}\n(exit code {done.returncode})\n\n")
    lines = failure_lines(args, done.returncode, done.stdout, log) if done.returncode else console_lines(done.stdout, log)
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    return done.returncode


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python scripts/setup_pip.py LOG -- PIP ARGUMENTS", file=sys.stderr)
        return 2
    return run_pip(argv[2:], Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
