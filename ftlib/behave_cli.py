"""behave as ``./run`` starts it: ``python -m ftlib.behave_cli [behave arguments]``.

behave's own command line, with two things left out so the scenarios' lines and the run's
summary are what a person reads last:

- behave's ``USING RUNNER: behave.runner:Runner`` line (printed before every run);
- behave's summary, which counts every feature, scenario and step the selection left out
  (``2 scenarios passed, 0 failed, 67 skipped``): the hooks end the run with their own
  (`ftlib.console.run_summary`). ``--summary`` on the command line brings behave's back.

Plain ``behave`` keeps both.
"""

from __future__ import annotations

import sys

import behave.__main__ as behave_main

RUNNER_LINE = "USING RUNNER: "


def _print_all_but_the_runner_line(*args, **kwargs) -> None:
    if args and str(args[0]).startswith(RUNNER_LINE):
        return
    print(*args, **kwargs)


def behave_arguments(args: list[str]) -> list[str]:
    """``args`` with ``--no-summary`` unless they choose ``--summary`` or ``--no-summary`` themselves."""
    return args if {"--summary", "--no-summary"} & set(args) else [*args, "--no-summary"]


def main(argv: list[str] | None = None) -> int:
    # behave's main module prints the runner line with the builtin print: this name, looked up in
    # that module's globals first, takes its place there only
    behave_main.print = _print_all_but_the_runner_line
    return behave_main.main(behave_arguments(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
