"""What a table's rows may hold, inferred once from the data and stored with the model.

The schema is the contract between the data and generation: it serializes rows to text and back
(:mod:`.record_format`), checks records (``validate``) and is compiled into a decoding grammar
(:mod:`.record_grammar`), so that generated records parse and stay inside the data's category sets and ranges.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pandas as pd
import xgrammar as xgr
from pandas.api import types as pdtypes

from . import record_format
from .record_grammar import schema_grammar
from .table_loading import read_table

DEFAULT_MAX_CATEGORIES = 100
KIND = "table"  # tells a stored TableSchema from other record schemas (see .record_schemas)
_ABSENT = object()


def is_missing(value) -> bool:
    """``None``, NaN, ``pd.NA`` and ``NaT`` all mean "no value"."""
    return value is None or (not isinstance(value, (str, bytes, list, dict)) and bool(pd.isna(value)))


def decimal_places(value: float) -> int:
    """Digits after the point in the shortest text that round-trips ``value`` (``0.25`` -> 2, ``1e-05`` -> 5)."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return max(0, -exponent)


def _native(value):
    """A numpy scalar as the Python value it holds (JSON and equality friendly)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


@dataclass(frozen=True)
class NumericalColumn:
    """A number column: ``integer`` columns hold ints, others floats with at most ``precision`` decimals."""

    name: str
    integer: bool
    minimum: int | float
    maximum: int | float
    precision: int = 0
    nullable: bool = False
    kind: ClassVar[str] = "numerical"

    def canonical(self, value):
        if is_missing(value):
            return None
        value = _native(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if self.integer and float(value).is_integer():
            return int(value)
        return value if self.integer else float(value)

    def problems(self, value) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{value!r} is not a number"]
        if not math.isfinite(value):
            return [f"{value!r} is not a finite number"]
        found = []
        if self.integer and not float(value).is_integer():
            found.append(f"{value!r} is not an integer")
        elif not self.integer and decimal_places(value) > self.precision:
            found.append(f"{value!r} has more than {self.precision} decimals")
        if not self.minimum <= value <= self.maximum:
            found.append(f"{value!r} is outside the range [{self.minimum}, {self.maximum}]")
        return found


@dataclass(frozen=True)
class CategoricalColumn:
    """A column whose values come from a fixed set (strings, numbers or booleans), written as text."""

    name: str
    categories: tuple = ()
    nullable: bool = False
    kind: ClassVar[str] = "categorical"
    _by_text: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "categories", tuple(self.categories))
        by_text = {}
        for category in self.categories:
            text = record_format.category_text(category)
            if text in by_text:
                raise ValueError(
                    f"Column {self.name!r}: categories {by_text[text]!r} and {category!r} both read {text!r}."
                )
            by_text[text] = category
        object.__setattr__(self, "_by_text", by_text)

    def category(self, text: str):
        """The category a text names (the text itself when it names none: ``validate`` reports it)."""
        return self._by_text.get(text, text)

    def canonical(self, value):
        return None if is_missing(value) else _native(value)

    def problems(self, value) -> list[str]:
        known = self._by_text.get(record_format.category_text(value), _ABSENT)
        if type(known) is type(value) and known == value:
            return []
        shown = list(self.categories[:10]) + (["..."] if len(self.categories) > 10 else [])
        return [f"{value!r} is not one of its {len(self.categories)} categories {shown}"]


@dataclass(frozen=True)
class TextColumn:
    """Free text, up to the longest text seen (a bound that keeps constrained generation finite)."""

    name: str
    max_length: int
    nullable: bool = False
    kind: ClassVar[str] = "text"

    def canonical(self, value):
        return None if is_missing(value) else _native(value)

    def problems(self, value) -> list[str]:
        if not isinstance(value, str):
            return [f"{value!r} is not text"]
        if len(value) > self.max_length:
            return [f"text of {len(value)} characters is longer than the longest seen ({self.max_length})"]
        return []


@dataclass(frozen=True)
class DatetimeColumn:
    """Timestamps in ISO 8601 between ``minimum`` and ``maximum`` (ISO strings); ``has_time`` False: dates only."""

    name: str
    minimum: str
    maximum: str
    has_time: bool = False
    nullable: bool = False
    kind: ClassVar[str] = "datetime"

    def canonical(self, value):
        return None if is_missing(value) else pd.Timestamp(value)

    def problems(self, value) -> list[str]:
        if not isinstance(value, pd.Timestamp):
            return [f"{value!r} is not a timestamp"]
        if not pd.Timestamp(self.minimum) <= value <= pd.Timestamp(self.maximum):
            return [f"{value} is outside the range [{self.minimum}, {self.maximum}]"]
        return []


COLUMN_TYPES = {cls.kind: cls for cls in (NumericalColumn, CategoricalColumn, TextColumn, DatetimeColumn)}
Column = NumericalColumn | CategoricalColumn | TextColumn | DatetimeColumn


def _check_names(names, known: list[str], what: str) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; the table's columns are {known}.")


def _looks_like_datetimes(values: pd.Series) -> bool:
    if not all(isinstance(v, str) for v in values.head(100)) or pd.to_numeric(values, errors="coerce").notna().any():
        return False
    return pd.to_datetime(values, format="ISO8601", errors="coerce").notna().all()


def _infer_column(name: str, series: pd.Series, kind: str | None, max_categories: int) -> Column:
    values = series.dropna()
    nullable = bool(series.isna().any())
    if kind is None:
        if pdtypes.is_bool_dtype(series):
            kind = "categorical"
        elif pdtypes.is_numeric_dtype(series):
            kind = "numerical"
        elif pdtypes.is_datetime64_any_dtype(series) or _looks_like_datetimes(values):
            kind = "datetime"
        else:
            kind = "categorical" if values.nunique() <= max_categories else "text"
    if kind == "numerical":
        if not pdtypes.is_numeric_dtype(values) or pdtypes.is_bool_dtype(values):
            raise ValueError(f"Column {name!r} cannot be numerical: it holds {values.iloc[0]!r}.")
        numbers = values.astype(float)
        if not numbers.map(math.isfinite).all():
            raise ValueError(f"Column {name!r} holds infinite values; a range cannot be inferred.")
        integer = bool(numbers.map(float.is_integer).all())
        convert = int if integer else float
        precision = 0 if integer else int(numbers.map(decimal_places).max())
        return NumericalColumn(name, integer, convert(numbers.min()), convert(numbers.max()), precision, nullable)
    if kind == "categorical":
        categories = sorted({_native(v) for v in values}, key=lambda v: (type(v).__name__, v))
        return CategoricalColumn(name, tuple(categories), nullable)
    if kind == "text":
        other = next((v for v in values if not isinstance(v, str)), None)
        if other is not None:
            raise ValueError(f"Column {name!r} cannot be text: it holds {other!r}.")
        return TextColumn(name, int(values.str.len().max()), nullable)
    if kind == "datetime":
        stamps = pd.to_datetime(values, format="ISO8601")
        has_time = bool((stamps != stamps.dt.normalize()).any())
        return DatetimeColumn(name, stamps.min().isoformat(), stamps.max().isoformat(), has_time, nullable)
    raise ValueError(f"Unknown column kind {kind!r} for column {name!r}; use one of {sorted(COLUMN_TYPES)}.")


@dataclass(frozen=True)
class TableSchema:
    """Column order, kinds, ranges, category sets and missing values of a table, plus an optional target."""

    columns: tuple[Column, ...]
    target: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(self.columns))
        if not self.columns:
            raise ValueError("A TableSchema needs at least one column.")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"Duplicated column names in {self.names}.")
        if self.target is not None:
            _check_names([self.target], self.names, "target column")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def __getitem__(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"Unknown column {name!r}; the schema's columns are {self.names}.")

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
        return {"kind": KIND, "columns": columns, "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TableSchema":
        columns = []
        for entry in data["columns"]:
            entry = dict(entry)
            kind = entry.pop("kind")
            if kind not in COLUMN_TYPES:
                raise ValueError(f"Unknown column kind {kind!r} in schema; known kinds: {sorted(COLUMN_TYPES)}.")
            columns.append(COLUMN_TYPES[kind](**entry))
        return cls(tuple(columns), data.get("target"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "TableSchema":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

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
        return record_format.format_record(self.columns, row)

    def parse(self, text: str) -> dict:
        """The row a record text holds; raises :class:`.record_format.RecordParseError` naming position and column."""
        return record_format.parse_record(self.columns, text)

    def grammar(self, fixed_values: dict | None = None) -> xgr.Grammar:
        """The decoding grammar of the schema's records (:mod:`.record_grammar`), ``fixed_values`` written exactly."""
        return xgr.Grammar.from_ebnf(schema_grammar(self, fixed_values))

    def validate(self, row: dict) -> list[str]:
        """Which column breaks which rule (an empty list: the row is valid)."""
        found = [f"unknown column {name!r}" for name in row if name not in self.names]
        for column in self.columns:
            if column.name not in row:
                found.append(f"column {column.name!r} is absent")
            elif is_missing(row[column.name]):
                if not column.nullable:
                    found.append(f"column {column.name!r} is missing, but the data has no missing values there")
            else:
                found.extend(f"column {column.name!r}: {problem}" for problem in column.problems(row[column.name]))
        return found

    def records_to_frame(self, records: Sequence[dict]) -> pd.DataFrame:
        """A DataFrame of ``records`` with the schema's column order and dtypes."""
        frame = pd.DataFrame(list(records), columns=self.names)
        for column in self.columns:
            series = frame[column.name]
            if column.kind == "numerical":
                dtype = ("Int64" if column.nullable else "int64") if column.integer else "float64"
            elif column.kind == "categorical":
                dtype = pd.CategoricalDtype(list(column.categories))
            elif column.kind == "datetime":
                dtype = "datetime64[ns]"
            else:
                dtype = "string"
            frame[column.name] = series.astype(dtype)
        return frame
