"""The EBNF grammar (xgrammar's dialect) of the records a schema allows, optionally with some cells fixed.

Every text the grammar accepts parses with :func:`.record_format.parse_record` and passes ``schema.validate``:
column order, category sets, numeric ranges with the column's integer-ness and precision, missing values only in
columns that had some, and text no longer than the longest seen.
"""

from __future__ import annotations

import calendar
import json

import pandas as pd

from .range_grammar import fixed_width_range
from .record_format import CLOSE, FIELD_SEPARATOR, OPEN, field_prefix, format_value

# The record format's bare text: no ',', '}' or control characters, not starting with '"'. Surrogate code
# points are excluded everywhere: a negated class would otherwise let their (invalid) UTF-8 bytes through.
BARE_FIRST = r'[^,}"\x00-\x1f\x7f\ud800-\udfff]'
BARE_NEXT = r"[^,}\x00-\x1f\x7f\ud800-\udfff]"
QUOTED_CHAR = (
    r'([^"\\\x00-\x1f\ud800-\udfff] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] | [dD] [0-7]) [0-9a-fA-F]{3}))'
)


def literal(text: str) -> str:
    """An EBNF string literal (JSON escapes are also xgrammar's)."""
    return json.dumps(text, ensure_ascii=False)


def text_grammar(max_length: int) -> str:
    """Text of at most ``max_length`` characters, bare or JSON-quoted as :func:`.record_format.format_string` writes it."""
    quoted = f'"\\"" {QUOTED_CHAR}{{0,{max_length}}} "\\""'
    bare = BARE_FIRST + (f" {BARE_NEXT}{{0,{max_length - 1}}}" if max_length > 1 else "")
    return f"({bare} | {quoted})" if max_length else quoted


def _date(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """Calendar dates ``YYYY-MM-DD`` from ``first`` to ``last``: one alternative per month."""
    options, month = [], first.replace(day=1)
    while month <= last:
        low = first.day if (month.year, month.month) == (first.year, first.month) else 1
        high = calendar.monthrange(month.year, month.month)[1]
        high = last.day if (month.year, month.month) == (last.year, last.month) else high
        days = fixed_width_range(f"{low:02d}", f"{high:02d}")
        options.append(f'"{month.year:04d}-{month.month:02d}-" {days}')
        month += pd.offsets.MonthBegin(1)
    return "(" + " | ".join(options) + ")"


def datetime_grammar(column) -> str:
    """Timestamps of a :class:`~.table_columns.DatetimeColumn`, in its range (whole days)."""
    first, last = pd.Timestamp(column.minimum), pd.Timestamp(column.maximum)
    if not column.has_time:
        return _date(first, last)
    # Whole days only: a partial first or last day would need a bound on the time of day too.
    first_day = first.normalize() if first == first.normalize() else first.normalize() + pd.Timedelta(days=1)
    last_whole = last.normalize() + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) == last
    last_day = last.normalize() if last_whole else last.normalize() - pd.Timedelta(days=1)
    if first_day > last_day:
        return "(" + " | ".join(literal(format_value(column, v)) for v in (first, last)) + ")"
    clock = '" " ([0-1] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9]'
    return f"{_date(first_day, last_day)} ({clock})?"


def schema_grammar(schema, fixed_values: dict | None = None) -> str:
    """EBNF of ``schema``'s records; the cells in ``fixed_values`` ({column: value}) are written exactly."""
    fixed_values = fixed_values or {}
    unknown = [name for name in fixed_values if name not in schema.names]
    if unknown:
        raise ValueError(f"fixed_values names unknown columns {unknown}; the schema's columns are {schema.names}.")
    rules, fields = [], []
    for index, column in enumerate(schema.columns):
        opening = literal((FIELD_SEPARATOR if index else OPEN) + field_prefix(column, schema.record_format))
        if column.name in fixed_values:
            value = column.canonical(fixed_values[column.name])
            problems = schema.cell_problems({column.name: value})
            if problems:
                raise ValueError(f"fixed_values breaks the schema: {problems[0]}.")
            expression = literal(format_value(column, value)) if value is not None else ""
        else:
            expression = column.value_grammar()
            if column.nullable:
                expression = f"({expression})?"
        rules.append(f"value{index} ::= {expression or literal('')}")
        fields.append(f"{opening} value{index}")
    root = f"root ::= {' '.join(fields)} {literal(CLOSE)}"
    return "\n".join([root, *rules])
