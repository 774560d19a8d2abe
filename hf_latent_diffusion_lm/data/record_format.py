"""The record text format: ``{age: 39, workclass: State-gov, city: "Paris, TX", note: }`` (``keyed``), or the
same values without their column names, ``{39, State-gov, "Paris, TX", }`` (``compact``: fewer tokens per row).

In the spirit of DiffLM's ``{col: value, ...}``, compact because generation cost grows with tokens:
- columns always in the schema's order, each written ``name: value`` (``keyed``) or ``value`` (``compact``) and
  separated by ``, ``;
- a missing value is written as nothing (``note: ,``);
- numbers as their shortest exact decimal (``64``, ``0.1``, ``-3.25``; never an exponent), so floats round-trip;
- text bare when that is unambiguous, else as a JSON string: quoting is needed for the empty string, text holding
  ``,`` ``}`` or control characters (newlines), text starting with ``"`` and text with surrounding whitespace;
- timestamps in ISO 8601 (``2014-01-01`` or ``2014-01-01 05:00:00``); those of a zone-aware column in UTC (the
  schema keeps the zone they are shown in).
Parsing is led by the schema (it knows which column comes next), so names and bare values need no escaping.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Sequence

import pandas as pd

NAME_SEPARATOR = ": "
FIELD_SEPARATOR = ", "
OPEN, CLOSE = "{", "}"
RECORD_FORMATS = ("keyed", "compact")
BARE_FORBIDDEN = re.compile(r"[,}\x00-\x1f\x7f]")
BARE_VALUE = re.compile(r"[^,}\x00-\x1f\x7f]*")
NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|-?inf|nan")
INTEGER = re.compile(r"-?\d+")


class RecordParseError(ValueError):
    """A text is not a record of the schema; says where (character position) and in which column."""

    def __init__(self, message: str, position: int, column: str | None, text: str):
        where = f" (column {column!r})" if column is not None else ""
        excerpt = text[max(0, position - 20) : position + 20]
        super().__init__(f"At character {position}{where}: {message}. Near {excerpt!r}.")
        self.position, self.column = position, column


def format_number(value: int | float) -> str:
    """Shortest decimal text that reads back as exactly ``value``: ``64.0`` -> ``64``, ``1e-05`` -> ``0.00001``."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return repr(float(value))
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_string(value: str) -> str:
    """``value`` bare when the parser reads it back unchanged, else as a JSON string (non-ASCII kept as is)."""
    bare = value and not BARE_FORBIDDEN.search(value) and value[0] != '"'
    if bare and not value[0].isspace() and not value[-1].isspace():
        return value
    return json.dumps(value, ensure_ascii=False)


def format_timestamp(value: pd.Timestamp) -> str:
    """ISO 8601, the date alone at midnight."""
    return value.date().isoformat() if value == value.normalize() else value.isoformat(sep=" ")


def category_text(value) -> str:
    """The text a category is written as (before quoting): ``True``, ``3``, ``0.5``, ``Private``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def format_value(column, value) -> str:
    """The text of one cell: nothing for a missing value, else the column's own spelling (``column.value_text``)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return column.value_text(value)


def field_prefix(column, record_format: str = "keyed") -> str:
    """What precedes a column's value: ``name: `` in keyed records, nothing in compact ones."""
    return column.name + NAME_SEPARATOR if record_format == "keyed" else ""


def format_record(columns: Sequence, row: dict, record_format: str = "keyed") -> str:
    """The record text of ``row``: every column of ``columns``, in order."""
    absent = [column.name for column in columns if column.name not in row]
    extra = [name for name in row if name not in {column.name for column in columns}]
    if absent or extra:
        raise ValueError(f"The row does not match the schema: absent columns {absent}, unknown columns {extra}.")
    fields = (field_prefix(column, record_format) + format_value(column, row[column.name]) for column in columns)
    return OPEN + FIELD_SEPARATOR.join(fields) + CLOSE


def read_string(text: str, position: int, column: str) -> tuple[str | None, int]:
    """A bare or JSON-quoted string at ``position`` (of column ``column``, named in errors); ``None`` for an empty
    bare value (missing)."""
    if text.startswith('"', position):
        try:
            value, end = json.JSONDecoder().raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise RecordParseError(f"bad quoted string ({error.msg})", error.pos, column, text) from None
        return value, end
    end = BARE_VALUE.match(text, position).end()
    return (text[position:end] or None), end


def _expect(text: str, position: int, literal: str, column: str | None) -> int:
    if not text.startswith(literal, position):
        ending = ", but the text ends" if position >= len(text) else ""
        raise RecordParseError(f"expected {literal!r}{ending}", position, column, text)
    return position + len(literal)


def parse_record(columns: Sequence, text: str, record_format: str = "keyed") -> dict:
    """The row ``text`` holds; :class:`RecordParseError` at the first character that breaks the format."""
    row, position = {}, _expect(text, 0, OPEN, columns[0].name)
    for index, column in enumerate(columns):
        if index:
            position = _expect(text, position, FIELD_SEPARATOR, columns[index - 1].name)
        position = _expect(text, position, field_prefix(column, record_format), column.name)
        row[column.name], position = column.read_value(text, position)
    position = _expect(text, position, CLOSE, columns[-1].name)
    if position != len(text):
        raise RecordParseError("unexpected text after the record's closing '}'", position, None, text)
    return row
