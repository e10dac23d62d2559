"""A LoadConfig from a two-column Gherkin table (``| field | value |``)."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Iterable, Sequence

from ftlib.errors import SpecError
from ftlib.load.config import LoadConfig

TABLE_FIELDS = ("concurrency", "request_count", "duration_minutes", "duration_seconds", "input_tokens_mean",
                "output_tokens_mean", "streaming", "request_rate", "model_name", "request_timeout_seconds",
                "warmup_requests", "temperature", "ignore_eos", "extra_inputs")


def _convert(name: str, kind: str, text: str):
    text = text.strip()
    try:
        if "bool" in kind:
            lowered = text.lower()
            if lowered not in ("true", "false", "yes", "no"):
                raise ValueError
            return lowered in ("true", "yes")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
        if kind.startswith("dict"):
            return json.loads(text)
        return text
    except ValueError:
        raise SpecError(f"load field {name} takes {kind.split('[')[0].split(' ')[0]} values, got {text!r}") from None


def load_config_from_rows(rows: Iterable[Sequence[str]]) -> LoadConfig:
    kinds = {f.name: str(f.type) for f in fields(LoadConfig)}
    values = {}
    for row in rows:
        if len(row) != 2:
            raise SpecError(f"a load table has two columns (field, value); got {list(row)}")
        name, text = row[0].strip(), row[1]
        if name in ("field", "name") and text.strip() == "value":
            continue  # a heading row
        if name not in TABLE_FIELDS:
            raise SpecError(f"unknown load field {name!r}; allowed: {', '.join(TABLE_FIELDS)}")
        if name in values:
            raise SpecError(f"load field {name!r} is given twice")
        values[name] = _convert(name, kinds[name], text)
    return LoadConfig(**values)


def load_config_from_table(table) -> LoadConfig:
    """behave's table: its heading row counts as a row too (tables here have no real heading)."""
    if table is None:
        raise SpecError("'a load is started with:' needs a two-column table of LoadConfig fields below it")
    return load_config_from_rows([list(table.headings)] + [list(row.cells) for row in table.rows])
