"""One entry point for both kinds of record schema: flat tables (:class:`TableSchema`) and nested JSON records
(:class:`JsonRecordSchema`). The pipeline, training and the CLI store, load and choose schemas only through here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from . import json_record_schema, table_schema
from .json_lines import read_json_records
from .json_record_schema import JsonRecordSchema
from .table_schema import TableSchema



@runtime_checkable
class RecordSchema(Protocol):
    """What every record schema offers; the code asks a schema what it can do, never which class it is.

    ``has_columns``: the records are flat rows of typed columns, so the features built on columns apply (per-field
    injection, conditions and cell completion on columns, DCR distances between rows, the compact record format);
    otherwise records are nested JSON, written as canonical JSON. ``record_format`` is how records are written.
    """

    has_columns: ClassVar[bool]
    target: str | None

    @property
    def names(self) -> list[str]: ...

    @property
    def record_format(self) -> str: ...

    def to_text(self, record: dict) -> str: ...

    def parse(self, text: str) -> dict: ...

    def validate(self, record: dict) -> list[str]: ...

    def records(self, data) -> list[dict]: ...

    def grammar(self, fixed_values: dict | None = None): ...

    def to_dict(self) -> dict: ...

    def save(self, path) -> None: ...


SCHEMA_KINDS = {table_schema.KIND: TableSchema, json_record_schema.KIND: JsonRecordSchema}
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
SNIFFED_LINES = 200


def schema_from_dict(data: dict) -> TableSchema | JsonRecordSchema:
    """The schema a ``to_dict()`` stored; its ``kind`` picks the class (older dicts without one are tables)."""
    kind = data.get("kind", table_schema.KIND)
    if kind not in SCHEMA_KINDS:
        raise ValueError(f"Unknown schema kind {kind!r}; known kinds: {sorted(SCHEMA_KINDS)}.")
    return SCHEMA_KINDS[kind].from_dict(data)


def load_schema(path: str | Path) -> TableSchema | JsonRecordSchema:
    """A schema saved with ``schema.save(path)``."""
    return schema_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _nested(record: dict) -> bool:
    return any(isinstance(value, (dict, list)) for value in record.values())


def holds_nested_records(data) -> bool:
    """Whether ``data`` (a path, a list of dicts, a DataFrame...) holds records with objects or arrays as values,
    which a flat table cannot hold; JSON Lines files are judged by their first lines."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.suffix.lower() not in JSON_LINES_SUFFIXES or not path.is_file():
            return False
        with open(path, encoding="utf-8") as handle:
            for _, line in zip(range(SNIFFED_LINES), handle):
                try:
                    record = json.loads(line) if line.strip() else {}
                except json.JSONDecodeError:
                    return False
                except RecursionError:  # too deep for Python's JSON parser: nested (reading it refuses it)
                    return True
                if isinstance(record, dict) and _nested(record):
                    return True
        return False
    return isinstance(data, (list, tuple)) and any(isinstance(r, dict) and _nested(r) for r in data)


def infer_schema(data, target: str | None = None, json_schema: str | Path | None = None):
    """A :class:`JsonRecordSchema` for nested records or when the user gives a JSON Schema file (which every record
    must then fit: a model would learn records it may not write), else a :class:`TableSchema` inferred from the
    table."""
    if json_schema is not None:
        schema = JsonRecordSchema.from_json_schema_file(json_schema, target)
        for index, record in enumerate(read_json_records(data)):
            problems = schema.validate(record)
            if problems:
                raise ValueError(f"Record {index} does not fit the JSON Schema {str(json_schema)!r}: {problems[0]}.")
        return schema
    if holds_nested_records(data):
        return JsonRecordSchema.infer(read_json_records(data), target)
    return TableSchema.infer(data, target=target)
