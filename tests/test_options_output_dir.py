"""ftlib.options: ``-D output_dir`` is checked before anything runs, and the error names the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftlib.errors import SpecError
from ftlib.options import RunOptions


def test_a_missing_output_folder_is_created_and_returned(tmp_path):
    options = RunOptions(output_dir=str(tmp_path / "a" / "b"))

    assert options.check_output_dir(Path("/unused")) == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and not any((tmp_path / "a" / "b").iterdir())


def test_a_relative_output_folder_is_under_the_repository(tmp_path):
    assert RunOptions(output_dir="out").check_output_dir(tmp_path) == tmp_path / "out"


@pytest.mark.parametrize("below", ["", "sub"], ids=["the-file", "under-the-file"])
def test_an_output_dir_that_is_a_file_names_the_option_and_the_file(tmp_path, below):
    (tmp_path / "file").write_text("not a folder")
    given = str(tmp_path / "file" / below) if below else str(tmp_path / "file")

    with pytest.raises(SpecError) as error:
        RunOptions(output_dir=given).check_output_dir(tmp_path)

    assert str(error.value) == (f"-D output_dir={given}: {tmp_path / 'file'} is a file, not a folder; "
                                "give a folder for the evidence (it is created if missing)")


def test_an_output_dir_that_cannot_be_written_names_the_option_and_the_reason():
    with pytest.raises(SpecError) as error:
        RunOptions(output_dir="/proc/dynamo-ft-evidence").check_output_dir(Path("/"))

    assert str(error.value).startswith("-D output_dir=/proc/dynamo-ft-evidence: cannot write evidence into "
                                       "/proc/dynamo-ft-evidence (")
    assert str(error.value).endswith("); give a folder that can be created and written")


def test_a_run_that_only_plans_checks_the_output_folder_without_creating_it(tmp_path):
    options = RunOptions(output_dir=str(tmp_path / "a" / "b"))

    assert options.check_output_dir(Path("/unused"), create=False) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()


def test_a_run_that_only_plans_still_refuses_an_output_dir_under_a_file(tmp_path):
    (tmp_path / "file").write_text("not a folder")

    with pytest.raises(SpecError, match="is a file, not a folder"):
        RunOptions(output_dir=str(tmp_path / "file" / "sub")).check_output_dir(tmp_path, create=False)
