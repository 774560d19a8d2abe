"""The kinds of table column: each owns its values' rules (``canonical``, ``problems``), how a record writes and reads
a value (``value_text``, ``read_value``: :mod:`.record_format` joins the fields) and the grammar of its values
(``value_grammar``: :mod:`.record_grammar` joins the fields). A new kind is one class here and its entry in
:data:`COLUMN_TYPES`; nothing else asks a column which kind it is to write, read or constrain it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

import pandas as pd

from . import record_format, record_grammar
from .range_grammar import decimal_range, integer_range
from .record_format import RecordParseError

_ABSENT = object()


def is_missing(value) -> bool:
    """``None``, NaN, ``pd.NA`` and ``NaT`` all mean "no value"."""
    return value is None or (not isinstance(value, (str, bytes, list, dict)) and bool(pd.isna(value)))


def decimal_places(value: int | float) -> int:
    """Digits after the point in the shortest text that round-trips ``value`` (``0.25`` -> 2, ``1e-05`` -> 5)."""
    if isinstance(value, int):
        return 0
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return max(0, -exponent)


def native_value(value):
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
        value = native_value(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if isinstance(value, int):
            return value if self.integer else float(value)
        return int(value) if self.integer and value.is_integer() else value

    def problems(self, value) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{value!r} is not a number"]
        if isinstance(value, float) and not math.isfinite(value):
            return [f"{value!r} is not a finite number"]
        found = []
        if self.integer and not (isinstance(value, int) or value.is_integer()):
            found.append(f"{value!r} is not an integer")
        elif not self.integer and decimal_places(value) > self.precision:
            found.append(f"{value!r} has more than {self.precision} decimals")
        if not self.minimum <= value <= self.maximum:
            found.append(f"{value!r} is outside the range [{self.minimum}, {self.maximum}]")
        return found

    def value_text(self, value) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"Column {self.name!r} is numerical but holds {value!r}.")
        return record_format.format_number(value)

    def read_value(self, text: str, position: int) -> tuple[object, int]:
        match = record_format.NUMBER.match(text, position)
        if match is None:
            if text.startswith((",", "}"), position):
                return None, position
            raise RecordParseError("expected a number or nothing (missing)", position, self.name, text)
        token = match.group()
        if record_format.INTEGER.fullmatch(token) and self.integer:
            return int(token), match.end()
        return float(token), match.end()

    def value_grammar(self) -> str:
        if self.integer:
            return integer_range(self.minimum, self.maximum)
        return decimal_range(self.minimum, self.maximum, self.precision)

    @property
    def dtype(self):
        """The pandas dtype that holds the column exactly: int64 (Int64 with missing values), uint64 beyond it,
        Python ints (object) beyond that; float64 for decimals."""
        if not self.integer:
            return "float64"
        if -(2**63) <= self.minimum and self.maximum < 2**63:
            return "Int64" if self.nullable else "int64"
        if 0 <= self.minimum and self.maximum < 2**64:
            return "UInt64" if self.nullable else "uint64"
        return object


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
        """The category equal to ``value`` and written alike (``0.0`` -> the category ``0``), else ``value``."""
        if is_missing(value):
            return None
        value = native_value(value)
        known = self._by_text.get(record_format.category_text(value), _ABSENT)
        return known if known is not _ABSENT and known == value else value

    def problems(self, value) -> list[str]:
        known = self._by_text.get(record_format.category_text(value), _ABSENT)
        if type(known) is type(value) and known == value:
            return []
        shown = list(self.categories[:10]) + (["..."] if len(self.categories) > 10 else [])
        return [f"{value!r} is not one of its {len(self.categories)} categories {shown}"]
    def value_text(self, value) -> str:
        return record_format.format_string(record_format.category_text(value))

    def read_value(self, text: str, position: int) -> tuple[object, int]:
        value, end = record_format.read_string(text, position, self.name)
        return (None if value is None else self.category(value)), end

    def value_grammar(self) -> str:
        return "(" + " | ".join(record_grammar.literal(self.value_text(c)) for c in self.categories) + ")"


@dataclass(frozen=True)
class TextColumn:
    """Free text, up to the longest text seen (a bound that keeps constrained generation finite)."""

    name: str
    max_length: int
    nullable: bool = False
    kind: ClassVar[str] = "text"

    def canonical(self, value):
        return None if is_missing(value) else native_value(value)

    def problems(self, value) -> list[str]:
        if not isinstance(value, str):
            return [f"{value!r} is not text"]
        if len(value) > self.max_length:
            return [f"text of {len(value)} characters is longer than the longest seen ({self.max_length})"]
        return []
    def value_text(self, value) -> str:
        if not isinstance(value, str):
            raise ValueError(f"Column {self.name!r} holds text but holds {value!r}.")
        return record_format.format_string(value)

    def read_value(self, text: str, position: int) -> tuple[object, int]:
        return record_format.read_string(text, position, self.name)

    def value_grammar(self) -> str:
        return record_grammar.text_grammar(self.max_length)


@dataclass(frozen=True)
class DatetimeColumn:
    """Timestamps in ISO 8601 between ``minimum`` and ``maximum`` (ISO strings); ``has_time`` False: dates only.

    Time-zone-aware columns are normalized to UTC: records hold UTC wall-clock times and ``minimum``/``maximum`` are
    UTC, while ``timezone`` (``UTC``, ``+02:00``, ``Europe/Paris``) is the zone parsed values are shown in, so a
    zone's midnight keeps its zone and offsets that differ between rows compare correctly.
    """

    name: str
    minimum: str
    maximum: str
    has_time: bool = False
    nullable: bool = False
    timezone: str | None = None
    kind: ClassVar[str] = "datetime"

    def canonical(self, value):
        """A ``pd.Timestamp``; in the column's zone when it has one (a zone-less value is read as in that zone)."""
        if is_missing(value):
            return None
        stamp = pd.Timestamp(value)
        if self.timezone is None or stamp is pd.NaT:
            return stamp
        return stamp.tz_localize(self.timezone) if stamp.tzinfo is None else stamp.tz_convert(self.timezone)

    def utc_wall_clock(self, stamp: pd.Timestamp) -> pd.Timestamp:
        """What a record writes: the zone-less time (UTC for a zone-aware column)."""
        if (stamp.tzinfo is None) != (self.timezone is None):
            has = "has a time zone" if stamp.tzinfo is not None else "has no time zone"
            raise ValueError(f"Column {self.name!r}: {stamp} {has}, unlike the column's timestamps.")
        return stamp if self.timezone is None else stamp.tz_convert("UTC").tz_localize(None)

    def from_wall_clock(self, stamp: pd.Timestamp) -> pd.Timestamp:
        """The inverse of :meth:`utc_wall_clock` (a text that names its own offset keeps it until converted)."""
        if self.timezone is None:
            return stamp
        return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).tz_convert(self.timezone)

    def problems(self, value) -> list[str]:
        if not isinstance(value, pd.Timestamp) or value is pd.NaT:
            return [f"{value!r} is not a timestamp"]
        try:
            wall_clock = self.utc_wall_clock(value)
        except ValueError as error:
            return [str(error)]
        if not pd.Timestamp(self.minimum) <= wall_clock <= pd.Timestamp(self.maximum):
            zone = " (UTC)" if self.timezone else ""
            return [f"{value} is outside the range [{self.minimum}, {self.maximum}]{zone}"]
        return []

    def value_text(self, value) -> str:
        if not isinstance(value, pd.Timestamp):
            raise ValueError(f"Column {self.name!r} holds timestamps but holds {value!r}.")
        return record_format.format_timestamp(self.utc_wall_clock(value))

    def read_value(self, text: str, position: int) -> tuple[object, int]:
        value, end = record_format.read_string(text, position, self.name)
        if value is None:
            return None, end
        try:
            return self.from_wall_clock(pd.Timestamp(value)), end
        except ValueError:
            raise RecordParseError(f"{value!r} is not an ISO 8601 timestamp", position, self.name, text) from None

    def value_grammar(self) -> str:
        return record_grammar.datetime_grammar(self)

    @property
    def dtype(self):
        """Nanoseconds where the range allows (pandas' default), else microseconds (years 1 to 9999)."""
        within = pd.Timestamp.min <= pd.Timestamp(self.minimum) and pd.Timestamp(self.maximum) <= pd.Timestamp.max
        unit = "ns" if within else "us"
        return f"datetime64[{unit}]" if self.timezone is None else pd.DatetimeTZDtype(unit=unit, tz=self.timezone)


COLUMN_TYPES = {cls.kind: cls for cls in (NumericalColumn, CategoricalColumn, TextColumn, DatetimeColumn)}
Column = NumericalColumn | CategoricalColumn | TextColumn | DatetimeColumn
