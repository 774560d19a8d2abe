"""Tables and nested JSON records in, valid records out: loading, schema inference, the record format and its
grammar text, validity, datasets (the run-time grammar machinery, which needs xgrammar, is :mod:`..grammar`).

``JsonRecordSchema`` and ``schema_grammar`` are imported on first use (PEP 562).
"""

import importlib

from .condition_encoder import ConditionEncoder
from .record_dataset import build_record_dataset
from .record_format import RecordParseError
from .record_tokenization import RecordTooLongError, collate_records, tokenize_records
from .record_validity import checked_records, record_problems, validity_rate
from .table_columns import CategoricalColumn, DatetimeColumn, NumericalColumn, TextColumn
from .table_loading import read_table
from .table_schema import TableSchema

__all__ = [
    "CategoricalColumn",
    "ConditionEncoder",
    "DatetimeColumn",
    "JsonRecordSchema",
    "NumericalColumn",
    "RecordParseError",
    "RecordTooLongError",
    "TableSchema",
    "TextColumn",
    "build_record_dataset",
    "checked_records",
    "collate_records",
    "read_table",
    "record_problems",
    "schema_grammar",
    "tokenize_records",
    "validity_rate",
]

_LAZY = {"schema_grammar": "record_grammar", "JsonRecordSchema": "json_record_schema"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
