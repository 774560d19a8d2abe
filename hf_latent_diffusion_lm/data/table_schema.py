"""What a table's rows may hold, inferred once from the data and stored with the model.

The schema is the contract between the data and generation: it serializes rows to text and back
(:mod:`.record_format`), checks records (``validate``) and is compiled into a decoding grammar
(:mod:`.record_grammar`), so that generated records parse and stay inside the data's category sets and ranges.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pandas as pd
from pandas.api import types as pdtypes

from ..errors import UnknownColumnError
from . import record_format
from .record_grammar import schema_grammar
from .table_columns import (COLUMN_TYPES, CategoricalColumn, Column, DatetimeColumn, NumericalColumn, TextColumn,
                            native_value, decimal_places, is_missing)
from .table_loading import read_table

DEFAULT_MAX_CATEGORIES = 100
KIND = "table"  # tells a stored TableSchema from other record schemas (see .record_schemas)


def zone_name(tz) -> str:
    """A time zone as text pandas converts to: ``UTC``, a fixed offset ``+02:00`` or an IANA name."""
    if isinstance(tz, dt.timezone):
        minutes = int(tz.utcoffset(None).total_seconds() // 60)
        if minutes == 0:
            return "UTC"
        hours, minutes = divmod(abs(minutes), 60)
        return f"{'+' if tz.utcoffset(None) > dt.timedelta(0) else '-'}{hours:02d}:{minutes:02d}"
    return str(tz)


def _check_names(names, known: list[str], what: str) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; the table's columns are {known}.")


def _holds_numbers(values: pd.Series) -> bool:
    """An object column of Python numbers (integers beyond 64 bits, or ints and floats mixed in JSON Lines)."""
    return len(values) > 0 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _looks_like_datetimes(values: pd.Series) -> bool:
    """Timestamp objects (an object column of them, zone-aware ones with different zones), or ISO 8601 texts."""
    if len(values) and all(isinstance(v, (dt.date, pd.Timestamp)) for v in values):
        return True
    if not all(isinstance(v, str) for v in values.head(100)) or pd.to_numeric(values, errors="coerce").notna().any():
        return False
    return pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True).notna().all()


def _numerical_column(name: str, values: pd.Series, nullable: bool) -> NumericalColumn:
    """Range and precision of a number column, computed on the Python values: integers stay exact at any size."""
    numbers = [native_value(v) for v in values]
    other = next((v for v in numbers if isinstance(v, bool) or not isinstance(v, (int, float))), None)
    if other is not None:
        raise ValueError(f"Column {name!r} cannot be numerical: it holds {other!r}.")
    if not all(math.isfinite(v) for v in numbers if isinstance(v, float)):
        raise ValueError(f"Column {name!r} holds infinite values; a range cannot be inferred.")
    if all(isinstance(v, int) or v.is_integer() for v in numbers):
        integers = [int(v) for v in numbers]
        return NumericalColumn(name, True, min(integers), max(integers), 0, nullable)
    inexact = next((v for v in numbers if isinstance(v, int) and float(v) != v), None)
    if inexact is not None:
        raise ValueError(f"Column {name!r} mixes decimals with the integer {inexact}, which a float cannot hold "
                         "exactly; make the column all integers or all decimals.")
    return NumericalColumn(name, False, float(min(numbers)), float(max(numbers)),
                           max(decimal_places(float(v)) for v in numbers), nullable)


def _categories(name: str, values: pd.Series) -> tuple:
    """Distinct values, one per written form unless they differ (``0`` and ``0.0`` are one category; ``1`` and
    ``"1"`` are refused by :class:`CategoricalColumn`, since a record could not tell them apart)."""
    by_text: dict[str, list] = {}
    for value in map(native_value, values):
        if not isinstance(value, (str, int, float)):  # bools are ints
            raise ValueError(f"Column {name!r} holds {type(value).__name__} values such as {value!r}; a column "
                             "holds one kind of value: text, numbers, booleans or timestamps.")
        group = by_text.setdefault(record_format.category_text(value), [])
        if not any(known == value for known in group):  # bools and numbers never share a text
            group.append(value)
    categories = [v for group in by_text.values() for v in group]
    booleans = [v for v in categories if isinstance(v, bool)]
    numbers = [v for v in categories if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if booleans and numbers:  # False == 0 and True == 1: a table could not keep them apart
        raise ValueError(f"Column {name!r} mixes booleans ({booleans[0]!r}) with numbers ({numbers[0]!r}); a column "
                         "holds one kind of value: text, numbers, booleans or timestamps.")
    return tuple(sorted(categories, key=lambda v: (type(v).__name__, v)))


def _datetime_column(name: str, values: pd.Series, nullable: bool) -> DatetimeColumn:
    """Range of a timestamp column; zone-aware timestamps are normalized to UTC and their zone kept."""
    try:
        stamps = [pd.Timestamp(v) for v in values]
    except (ValueError, TypeError) as error:
        raise ValueError(f"Column {name!r} cannot be a datetime column: {error}.") from None
    aware = {stamp.tzinfo is not None for stamp in stamps}
    if len(aware) > 1:
        raise ValueError(f"Column {name!r} mixes timestamps with and without a time zone; give every value a zone "
                         "(e.g. +00:00) or none.")
    zones = {zone_name(stamp.tzinfo) for stamp in stamps if stamp.tzinfo is not None}
    timezone = None if not zones else zones.pop() if len(zones) == 1 else "UTC"
    if timezone is not None:
        stamps = [stamp.tz_convert("UTC").tz_localize(None) for stamp in stamps]
    has_time = any(stamp != stamp.normalize() for stamp in stamps)
    return DatetimeColumn(name, min(stamps).isoformat(), max(stamps).isoformat(), has_time, nullable, timezone)


def _infer_column(name: str, series: pd.Series, kind: str | None, max_categories: int) -> Column:
    values = series.dropna()
    nullable = bool(series.isna().any())
    if kind is None:
        if pdtypes.is_bool_dtype(series):
            kind = "categorical"
        elif pdtypes.is_numeric_dtype(series) or _holds_numbers(values):
            kind = "numerical"
        elif pdtypes.is_datetime64_any_dtype(series) or _looks_like_datetimes(values):
            kind = "datetime"
        else:
            kind = "categorical" if values.nunique() <= max_categories else "text"
    if kind == "numerical":
        return _numerical_column(name, values, nullable)
    if kind == "categorical":
        return CategoricalColumn(name, _categories(name, values), nullable)
    if kind == "text":
        other = next((v for v in values if not isinstance(v, str)), None)
        if other is not None:
            raise ValueError(f"Column {name!r} cannot be text: it holds {other!r}.")
        return TextColumn(name, int(values.str.len().max()), nullable)
    if kind == "datetime":
        return _datetime_column(name, values, nullable)
    raise ValueError(f"Unknown column kind {kind!r} for column {name!r}; use one of {sorted(COLUMN_TYPES)}.")


@dataclass(frozen=True)
class TableSchema:
    """Column order, kinds, ranges, category sets and missing values of a table, plus an optional target.

    ``record_format`` is how records are written (``keyed``/``compact``, see :mod:`.record_format`); it is stored
    with the schema so that training, encoding and constrained sampling all use the same one. ``protection`` says
    which rare values were generalised before inference (:mod:`.rare_values`), so a reader of the schema knows its
    categories and ranges leave them out.
    """

    columns: tuple[Column, ...]
    target: str | None = None
    record_format: str = "keyed"
    protection: dict | None = field(default=None, hash=False)
    has_columns: ClassVar[bool] = True  # flat rows of typed columns (see record_schemas.RecordSchema)

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.columns:
            raise ValueError("A TableSchema needs at least one column.")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"Duplicated column names in {self.names}.")
        if self.target is not None:
            _check_names([self.target], self.names, "target column")
        if self.record_format not in record_format.RECORD_FORMATS:
            raise ValueError(
                f"record_format must be one of {record_format.RECORD_FORMATS}, got {self.record_format!r}."
            )

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise UnknownColumnError(f"Unknown column {name!r}; the schema's columns are {self.names}.")

    # -- inference and storage ------------------------------------------------------------------------------
    @classmethod
    def infer(
        cls,
        data,
        target: str | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        categorical: Sequence[str] = (),
        numerical: Sequence[str] = (),
        text: Sequence[str] = (),
        datetime: Sequence[str] = (),
        **read_options,
    ) -> "TableSchema":
        """Infer the schema of ``data`` (anything :func:`read_table` takes; ``read_options`` go to it).

        Numbers are numerical, booleans categorical, ISO dates datetime; other columns are categorical when they
        have at most ``max_categories`` distinct values, else text. ``categorical``/``numerical``/``text``/
        ``datetime`` force the kind of the named columns (e.g. integer codes that are categories).
        """
        frame = read_table(data, **read_options)
        names = [str(name) for name in frame.columns]
        frame.columns = names
        forced = {}
        for kind, columns in (("categorical", categorical), ("numerical", numerical), ("text", text),
                              ("datetime", datetime)):
            _check_names(list(columns), names, f"{kind} column")
            forced.update(dict.fromkeys(columns, kind))
        if target is not None:
            _check_names([target], names, "target column")
        columns = [_infer_column(name, frame[name], forced.get(name), max_categories) for name in names]
        return cls(tuple(columns), target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in the pipeline's ``model_index.json``)."""
        columns = []
        for column in self.columns:
            entry = {"kind": column.kind, **{k: v for k, v in asdict(column).items() if not k.startswith("_")}}
            if column.kind == "categorical":
                entry["categories"] = list(column.categories)
            columns.append(entry)
        stored = {"kind": KIND, "columns": columns, "target": self.target, "record_format": self.record_format}
        return {**stored, "protection": self.protection} if self.protection else stored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TableSchema":
        columns = []
        for entry in data["columns"]:
            entry = dict(entry)
            kind = entry.pop("kind")
            if kind not in COLUMN_TYPES:
                raise ValueError(f"Unknown column kind {kind!r} in schema; known kinds: {sorted(COLUMN_TYPES)}.")
            try:
                columns.append(COLUMN_TYPES[kind](**entry))
            except TypeError as error:
                known = [f.name for f in fields(COLUMN_TYPES[kind]) if f.init]
                raise ValueError(f"Bad schema entry for column {entry.get('name')!r}: {error}; a {kind} column has "
                                 f"the keys {['kind', *known]}.") from None
        extra = sorted(set(data) - {"kind", "columns", "target", "record_format", "protection"})
        if extra:
            raise ValueError(f"Unknown schema key(s) {extra}; a schema has 'columns', 'target', 'record_format' and "
                             "'protection'.")
        return cls(tuple(columns), data.get("target"), data.get("record_format", "keyed"), data.get("protection"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "TableSchema":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (ValueError, KeyError, AttributeError) as error:
            raise ValueError(f"{str(path)!r} is not a valid schema file: {error}") from None

    # -- records --------------------------------------------------------------------------------------------
    def records(self, data, **read_options) -> list[dict]:
        """The rows of ``data`` as dicts of plain Python values (``None`` for missing), in the schema's order."""
        frame = read_table(data, **read_options)
        frame.columns = [str(name) for name in frame.columns]
        _check_names(self.names, list(frame.columns), "schema column")
        values = {column.name: [column.canonical(v) for v in frame[column.name].tolist()] for column in self.columns}
        return [dict(zip(values, row)) for row in zip(*values.values())]

    def to_text(self, row: dict) -> str:
        """The record text of ``row`` (see :mod:`.record_format`)."""
        return record_format.format_record(self.columns, row, self.record_format)

    def parse(self, text: str) -> dict:
        """The row a record text holds; raises :class:`.record_format.RecordParseError` naming position and column."""
        return record_format.parse_record(self.columns, text, self.record_format)

    def grammar(self, fixed_values: dict | None = None) -> "xgrammar.Grammar":
        """The decoding grammar of the schema's records (:mod:`.record_grammar`), ``fixed_values`` written exactly."""
        import xgrammar as xgr  # imported here: reading a schema should not load the grammar compiler

        return xgr.Grammar.from_ebnf(schema_grammar(self, fixed_values))

    def validate(self, row: dict) -> list[str]:
        """Which column breaks which rule (an empty list: the row is valid)."""
        absent = [f"column {name!r} is absent" for name in self.names if name not in row]
        return [*self.cell_problems(row), *absent]

    def cell_problems(self, cells: dict) -> list[str]:
        """Which of some cells of a row break which rule (the row's other cells are not looked at): what
        ``complete`` and forced values check before any decoding."""
        found = [f"unknown column {name!r}" for name in cells if name not in self.names]
        for column in self.columns:
            if column.name not in cells:
                continue
            if is_missing(cells[column.name]):
                if not column.nullable:
                    found.append(f"column {column.name!r} is missing, but the data has no missing values there")
            else:
                found.extend(f"column {column.name!r}: {problem}" for problem in column.problems(cells[column.name]))
        return found

    def records_to_frame(self, records: Sequence[dict]) -> pd.DataFrame:
        """A DataFrame of ``records`` with the schema's column order and dtypes."""
        columns = {}
        for column in self.columns:
            values = pd.Series([record.get(column.name) for record in records], dtype=object)
            if column.kind == "categorical":
                dtype = pd.CategoricalDtype(list(column.categories))
            elif column.kind == "text":
                dtype = "string"
            else:
                dtype = column.dtype
            columns[column.name] = values if dtype is object else values.astype(dtype)
        return pd.DataFrame(columns, columns=self.names)
