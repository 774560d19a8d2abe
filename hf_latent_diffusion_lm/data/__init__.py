"""Tables and nested JSON records in, valid records out: loading, schema inference, the record format,
constrained decoding, datasets.

The names that need the grammar compiler (xgrammar) are imported on first use (PEP 562): reading a table schema
should not pay for loading it.
"""

import importlib

from .condition_encoder import ConditionEncoder
from .record_dataset import build_record_dataset
from .record_format import RecordParseError
from .record_tokenization import RecordTooLongError, collate_records, tokenize_records
from .table_loading import read_table
from .table_schema import (
    CategoricalColumn,
    DatetimeColumn,
    NumericalColumn,
    TableSchema,
    TextColumn,
)

__all__ = [
    "CategoricalColumn",
    "ConditionEncoder",
    "DatetimeColumn",
    "JsonRecordSchema",
    "NumericalColumn",
    "RecordGrammar",
    "RecordParseError",
    "RecordTooLongError",
    "SchemaLogitsProcessor",
    "TableSchema",
    "TextColumn",
    "build_record_dataset",
    "collate_records",
    "grammar_compiler",
    "read_table",
    "record_problems",
    "schema_grammar",
    "tokenize_records",
    "validity_rate",
]

_LAZY = {"SchemaLogitsProcessor": "constrained_decoding", "grammar_compiler": "record_grammar_state",
         "RecordGrammar": "record_grammar_state",
         "record_problems": "constrained_decoding", "validity_rate": "constrained_decoding",
         "schema_grammar": "record_grammar", "JsonRecordSchema": "json_record_schema"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
