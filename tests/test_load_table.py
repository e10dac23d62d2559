"""ftlib.load.table: a LoadConfig from a two-column Gherkin table."""

from __future__ import annotations

import pytest
from behave.model import Table

from ftlib.errors import SpecError
from ftlib.load.table import TABLE_FIELDS, load_config_from_rows, load_config_from_table


def test_rows_become_a_load_config_with_typed_values():
    config = load_config_from_rows([
        ["concurrency", "4"], ["duration_seconds", "30"], ["streaming", "no"], ["request_rate", "2.5"],
        ["model_name", " Qwen/Qwen3-0.6B "], ["extra_inputs", '{"top_p": 0.9}'], ["ignore_eos", "TRUE"],
    ])

    assert (config.concurrency, config.duration, config.streaming, config.request_rate) == (4, 30.0, False, 2.5)
    assert config.model_name == "Qwen/Qwen3-0.6B"
    assert config.extra_inputs == {"top_p": 0.9}
    assert config.ignore_eos is True


@pytest.mark.parametrize("heading", [["field", "value"], ["name", "value"]])
def test_a_heading_row_is_skipped(heading):
    config = load_config_from_rows([heading, ["request_count", "10"]])

    assert config.request_count == 10


def test_an_unknown_field_is_an_error_listing_the_allowed_fields():
    with pytest.raises(SpecError) as error:
        load_config_from_rows([["request_count", "10"], ["concurency", "4"]])
    assert str(error.value) == f"unknown load field 'concurency'; allowed: {', '.join(TABLE_FIELDS)}"


def test_a_field_the_table_does_not_offer_is_unknown_even_if_load_config_has_it():
    with pytest.raises(SpecError, match="unknown load field 'tokenizer'"):
        load_config_from_rows([["request_count", "1"], ["tokenizer", "/some/path"]])


def test_a_field_given_twice_is_an_error():
    with pytest.raises(SpecError, match="load field 'concurrency' is given twice"):
        load_config_from_rows([["concurrency", "4"], ["request_count", "10"], ["concurrency", "2"]])


@pytest.mark.parametrize("field, text, kind", [
    ("concurrency", "four", "int"),
    ("request_count", "1.5", "int"),
    ("request_rate", "fast", "float"),
    ("streaming", "maybe", "bool"),
    ("extra_inputs", "{not json", "dict"),
])
def test_a_value_of_the_wrong_type_is_an_error_naming_field_type_and_value(field, text, kind):
    with pytest.raises(SpecError) as error:
        load_config_from_rows([["request_count", "1"] if field != "request_count" else ["concurrency", "1"],
                               [field, text]])
    assert str(error.value) == f"load field {field} takes {kind} values, got {text!r}"


def test_extra_inputs_must_be_a_json_object():
    with pytest.raises(SpecError, match="extra_inputs"):
        load_config_from_rows([["request_count", "1"], ["extra_inputs", "[1, 2]"]])


def test_a_row_with_three_cells_is_an_error():
    with pytest.raises(SpecError, match=r"a load table has two columns \(field, value\); got \['a', 'b', 'c'\]"):
        load_config_from_rows([["a", "b", "c"]])


def test_table_values_are_still_validated_by_load_config():
    with pytest.raises(SpecError, match="exactly one of request_count"):
        load_config_from_rows([["concurrency", "4"]])


def test_a_behave_table_counts_its_heading_as_the_first_row():
    table = Table(["request_count", "20"], rows=[["concurrency", "2"]])

    config = load_config_from_table(table)

    assert (config.request_count, config.concurrency) == (20, 2)


def test_a_missing_table_is_an_error_saying_what_the_step_needs():
    with pytest.raises(SpecError, match="needs a two-column table of LoadConfig fields"):
        load_config_from_table(None)
