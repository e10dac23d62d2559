"""The README's step catalogue is generated from the step definitions and must not drift."""

from pathlib import Path

from ftlib.catalogue import BEGIN, END, render

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_step_catalogue_matches_the_step_definitions():
    text = README.read_text()
    section = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    assert section == render(), "README step catalogue is stale: run `.venv/bin/python -m ftlib.catalogue --write README.md`"


def test_every_step_definition_has_a_docstring():
    catalogue = render()
    undocumented = [line for line in catalogue.splitlines() if line.startswith("- ") and line.endswith(": ")]
    assert not undocumented, f"step definitions without a docstring: {undocumented}"


def test_catalogue_lists_the_contract_sentences():
    catalogue = render()
    for sentence in ("Given a {backend} {topology} deployment", "When the {service} pod is deleted",
                     'When the "{process}" process of one {service} pod receives {signal}',
                     "Then errors are at most {n}", "When the deployment recovers within {t} seconds"):
        assert f"`{sentence}`" in catalogue
