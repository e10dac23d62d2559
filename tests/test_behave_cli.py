"""ftlib.behave_cli: behave as ./run starts it (the real runs are in tests/test_console.py, "the end of a run")."""

from __future__ import annotations

import behave.__main__ as behave_main

from ftlib import behave_cli


def test_behaves_summary_is_left_out_unless_the_command_line_chooses():
    assert behave_cli.behave_arguments(["--tags", "@smoke"]) == ["--tags", "@smoke", "--no-summary"]
    assert behave_cli.behave_arguments(["--summary"]) == ["--summary"]
    assert behave_cli.behave_arguments(["--no-summary", "-f", "plain"]) == ["--no-summary", "-f", "plain"]


def test_only_the_runner_line_is_left_out_of_what_behaves_main_prints(capsys, monkeypatch):
    monkeypatch.setattr(behave_main, "print", behave_cli._print_all_but_the_runner_line, raising=False)

    behave_main.print("USING RUNNER: behave.runner:Runner")
    behave_main.print("ConfigError: No steps directory in '/x/features'")

    assert capsys.readouterr().out == "ConfigError: No steps directory in '/x/features'\n"
