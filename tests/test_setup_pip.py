"""What ./run setup shows of pip (scripts/setup_pip.py): pip's text on captured output and a fake
pip, never a real install."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("setup_pip", REPO_ROOT / "scripts" / "setup_pip.py")
setup_pip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setup_pip)

# what `pip install -e '.[test]'` printed on a fresh machine (CI's log of ./run setup)
FRESH_MACHINE = """\
  /tmp/pip-build-env-el_vdt07/overlay/lib/python3.11/site-packages/setuptools/command/editable_wheel.py:354: BuildBackendWarning: Editable installation.
  !!
          Please be careful with folders in your working directory with the same
          name as your package as they may take precedence during imports.
  !!
    with strategy, WheelFile(wheel_path, "w") as wheel_obj:
ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. This behaviour is the source of the following dependency conflicts.
ai-dynamo 1.6.1 requires aisimulate==0.13.0; python_version >= "3.11" and python_version < "3.14", which is not installed.
"""
LOG = Path(".venv/setup.log")


def test_the_skipped_aisimulate_pin_is_one_note_in_plain_words_and_no_error_line():
    lines = setup_pip.console_lines(FRESH_MACHINE, LOG)

    assert lines == [setup_pip.SKIPPED_PIN_NOTE.format(log=LOG)]
    assert "ERROR" not in lines[0] and "aisimulate==0.13.0" in lines[0] and ".venv/setup.log" in lines[0]


def test_pip_build_warnings_stay_out_of_the_console():
    assert setup_pip.console_lines(FRESH_MACHINE.split("ERROR:")[0], LOG) == []


def test_any_other_conflict_is_shown_as_pip_wrote_it_after_the_note():
    output = FRESH_MACHINE + "aiperf 0.13.0 requires orjson>=3.10, but you have orjson 3.9.1 which is incompatible.\n"

    lines = setup_pip.console_lines(output, LOG)

    assert lines == [setup_pip.SKIPPED_PIN_NOTE.format(log=LOG), "pip: dependency conflict: aiperf 0.13.0 requires "
                     "orjson>=3.10, but you have orjson 3.9.1 which is incompatible."]


def test_another_error_line_of_pip_is_shown():
    output = "ERROR: Could not find a version that satisfies the requirement behave==9.9\n"
    assert setup_pip.console_lines(output, LOG) == [f"pip: {output.strip()}"]


def fake_pip(text: str, code: int = 0) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.stdout.write({text!r}); sys.exit({code})"]


def test_a_successful_install_keeps_pips_own_words_in_the_setup_log_and_says_the_note_once(tmp_path, capsys):
    log = tmp_path / "setup.log"

    code = setup_pip.run_pip(["install", "-e", ".[test]"], log, pip=fake_pip(FRESH_MACHINE))
    setup_pip.run_pip(["install", "--no-deps", "ai-dynamo==1.6.1"], log, pip=fake_pip("Successfully installed\n"))

    assert code == 0
    assert capsys.readouterr().err.splitlines() == [setup_pip.SKIPPED_PIN_NOTE.format(log=log)]
    kept = log.read_text()
    assert "$ pip install -e .[test]\n" in kept and "ERROR: pip's dependency resolver" in kept
    assert "aisimulate==0.13.0; python_version" in kept and "$ pip install --no-deps ai-dynamo==1.6.1\n" in kept


def test_a_failed_install_says_so_with_its_exit_code_and_last_lines(tmp_path, capsys):
    log = tmp_path / "setup.log"
    output = "".join(f"line {n}\n" for n in range(30)) + "ERROR: No matching distribution found for behave==9.9\n"

    code = setup_pip.run_pip(["install", "behave==9.9"], log, pip=fake_pip(output, 1))

    shown = capsys.readouterr().err.splitlines()
    assert code == 1
    assert shown[0] == f"pip install behave==9.9 failed (exit code 1); its last lines (all of them: {log}):"
    assert shown[-1] == "  ERROR: No matching distribution found for behave==9.9" and len(shown) == 21
    assert "line 0\n" in log.read_text()


def test_every_pip_install_of_run_setup_goes_through_the_filter():
    run = (REPO_ROOT / "run").read_text()
    installs = re.findall(r"^\s*(.*pip install.*|.*-- install.*)$", run, re.MULTILINE)

    assert len(installs) == 3
    assert all(line.startswith('"$PY" scripts/setup_pip.py "$SETUP_LOG" -- install ') for line in installs)
