"""Tables and nested JSON records in, valid records out: loading, schema inference, the record format, constrained
decoding, datasets."""

from .condition_encoder import ConditionEncoder
from .json_record_schema import JsonRecordSchema
from .constrained_decoding import SchemaLogitsProcessor, grammar_compiler, record_problems, validity_rate
from .record_dataset import build_record_dataset
from .record_format import RecordParseError
from .record_grammar import schema_grammar
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
