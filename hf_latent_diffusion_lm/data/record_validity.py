"""Whether texts hold valid records of a schema: the row each parses to and why it breaks the schema (no grammar
machinery: a record is checked after it is written, by any decoder)."""

from __future__ import annotations

from typing import Sequence

from .record_format import RecordParseError


def checked_records(schema, texts: Sequence[str]) -> list[tuple[dict | None, list[str]]]:
    """For each text, the row it holds (``None`` if it does not parse) and why it is not a valid record of
    ``schema`` (parse error or broken rules; ``[]`` if valid)."""
    checked = []
    for text in texts:
        try:
            row = schema.parse(text)
        except RecordParseError as error:
            checked.append((None, [str(error)]))
            continue
        checked.append((row, schema.validate(row)))
    return checked


def record_problems(schema, texts: Sequence[str]) -> list[list[str]]:
    """For each text, why it is not a valid record of ``schema`` (parse error or broken rules); ``[]`` if valid."""
    return [problems for _, problems in checked_records(schema, texts)]


def validity_rate(schema, texts: Sequence[str]) -> float:
    """Share of ``texts`` that parse and satisfy ``schema`` (the validity metric of the evaluation)."""
    if not texts:
        raise ValueError("validity_rate needs at least one text.")
    return sum(not found for found in record_problems(schema, texts)) / len(texts)
