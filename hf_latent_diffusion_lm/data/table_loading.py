"""Reading a table from what users have (a file, a DataFrame, a `datasets.Dataset`) into one pandas DataFrame.

Loading fails loudly and early: an empty file, an unknown format, a ragged row or an all-missing column would
otherwise surface later as a puzzling schema or a silently shifted record.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

FORMATS_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
FORMATS = ("csv", "tsv", "parquet", "jsonl")


def table_format(path: Path) -> str:
    """The format a file's suffix names."""
    if path.suffix.lower() in FORMATS_BY_SUFFIX:
        return FORMATS_BY_SUFFIX[path.suffix.lower()]
    raise ValueError(
        f"Cannot tell the format of {str(path)!r} from its suffix; known suffixes: {sorted(FORMATS_BY_SUFFIX)}. "
        f"Pass format= one of {FORMATS}."
    )


ENCODING_HINT = ("pass the file's encoding, e.g. --read-options '{\"encoding\": \"latin-1\"}' "
                 "(read_table(..., encoding=...))")


def _check_text(path: Path, encoding: str) -> None:
    """Refuse binary files and text in another encoding with what to do, before the CSV reader guesses."""
    head = path.read_bytes()[: 1 << 16]
    if b"\x00" in head:
        raise ValueError(f"{str(path)!r} is not a text table: it holds binary bytes. A Parquet file needs the "
                         f"suffix .parquet.")
    try:
        head.decode(encoding)
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a multi-byte character cut by the 64 KiB window
            raise ValueError(f"{str(path)!r} is not {encoding} text (byte {error.start}): {ENCODING_HINT}.") from None
    except LookupError:
        raise ValueError(f"Unknown encoding {encoding!r} for {str(path)!r}.") from None


def _check_rows(path: Path, delimiter: str, column_names: Sequence[str] | None, encoding: str) -> None:
    """Raise on a repeated header name (pandas renames ``a,a`` to ``a, a.1`` silently) and on the first row whose
    field count differs from the header's (pandas pads short rows silently)."""
    expected = None if column_names is None else len(column_names)
    origin = "the header" if column_names is None else "column_names"
    _check_unique_names(column_names or [], repr(str(path)))
    with open(path, newline="", encoding=encoding, errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if not row:
                continue
            if expected is None:
                expected = len(row)
                _check_unique_names(row, repr(str(path)))
            elif len(row) != expected:
                raise ValueError(
                    f"{str(path)!r} has ragged rows: line {reader.line_num} has {len(row)} fields, {origin} has "
                    f"{expected}."
                )


def _check_unique_names(names: Sequence, source: str) -> None:
    seen, duplicated = set(), []
    for name in map(str, names):
        if name in seen and name not in duplicated:
            duplicated.append(name)
        seen.add(name)
    if duplicated:
        raise ValueError(f"{source} has duplicated column names: {duplicated}. Rename them so each is unique.")


LEADING_ZERO = re.compile(r"^[+-]?0[0-9]")


def _check_plain_values(frame: pd.DataFrame, source: str) -> None:
    """A table cell holds one plain value: lists and mappings (JSON Lines arrays, Parquet list columns) are refused
    here rather than failing later as an unhashable category."""
    for name in frame.columns:
        if frame[name].dtype != object:
            continue
        for row, value in enumerate(frame[name]):
            if isinstance(value, (list, tuple, dict, set, np.ndarray)):
                raise ValueError(f"{source}: column {str(name)!r} holds a nested value {value!r} (row {row}); a "
                                 "table needs one plain value per cell.")


def _exact_integers(text: str | None):
    return None if text is None or pd.isna(text) else int(Decimal(text))


def _keep_numbers_exact(frame: pd.DataFrame, read) -> pd.DataFrame:
    """Undo what pandas' number parsing loses, from the columns' text: codes with leading zeros (``007``, zip codes)
    stay text, and integer columns with missing values (float64 to pandas, which rounds beyond 2**53) become exact
    Python ints."""
    numeric = [name for name in frame.columns if frame[name].dtype.kind in "iuf"]
    if not numeric:
        return frame
    text = read(dtype={name: str for name in numeric})
    for name in numeric:
        values = text[name]
        if values.dropna().str.strip().str.match(LEADING_ZERO).any():
            frame[name] = values
        elif (frame[name].dtype.kind == "f" and frame[name].notna().any() and (frame[name].dropna() % 1 == 0).all()
              and (frame[name].abs() >= 2**53).any()):
            frame[name] = pd.Series([_exact_integers(value) for value in values], index=frame.index, dtype=object)
    return frame


def _read_json_lines(path: Path, read_options: dict) -> pd.DataFrame:
    """JSON Lines read with Python's json module: integers stay exact at any size (pandas' reader rounds them
    through float or refuses them), and a bad line is named."""
    unknown = sorted(set(read_options) - {"encoding"})
    if unknown:
        raise ValueError(f"Unknown read option(s) {unknown} for JSON Lines {str(path)!r}; only 'encoding' applies.")
    rows = []
    with open(path, encoding=read_options.get("encoding", "utf-8")) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{str(path)!r} line {number} is not JSON: {error.msg}.") from None
            if not isinstance(row, dict):
                raise ValueError(f"{str(path)!r} line {number} is not a JSON object: {line.strip()[:60]!r}.")
            rows.append(row)
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    for name in frame.columns:
        values = [row.get(name) for row in rows]
        present = [value for value in values if value is not None]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            exact = pd.Series(values, dtype=object)
            fits = -(2**63) <= min(present) and max(present) < 2**63
            frame[name] = exact.astype("Int64" if len(present) < len(values) else "int64") if fits else exact
    return frame


def read_options_from_json(text: str | None) -> dict:
    """The pandas read options a ``--read-options`` JSON object holds (``None``: none)."""
    try:
        options = json.loads(text or "{}")
    except ValueError as error:
        raise ValueError(f"--read-options is not JSON ({error}): {text!r}.") from None
    if not isinstance(options, dict):
        raise ValueError(f'--read-options must be a JSON object such as {{"sep": ";"}}, got {text!r}.')
    return options


def _read_file(path: Path, format: str | None, column_names: Sequence[str] | None, read_options: dict) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"No table file at {str(path)!r}.")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty.")
    format = format or table_format(path)
    if format not in FORMATS:
        raise ValueError(f"Unknown table format {format!r}; use one of {FORMATS}.")
    delimiter = read_options.pop("sep", "\t" if format == "tsv" else ",")
    if format in ("csv", "tsv", "jsonl"):
        _check_text(path, read_options.get("encoding", "utf-8"))
    if format in ("csv", "tsv"):
        _check_rows(path, delimiter, column_names, read_options.get("encoding", "utf-8"))
    try:
        if format in ("csv", "tsv"):
            if column_names is not None:
                read_options.update(header=None, names=list(column_names))
            read = partial(pd.read_csv, path, sep=delimiter, **read_options)
            return read() if "dtype" in read_options else _keep_numbers_exact(read(), read)
        if format == "parquet":
            frame = pd.read_parquet(path, **read_options)
        else:
            frame = _read_json_lines(path, read_options)
    except TypeError as error:
        raise ValueError(f"Bad read option for {str(path)!r} ({format}): {error}. Options given: "
                         f"{sorted(read_options)}.") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"Cannot read {str(path)!r}: {error.reason} at byte {error.start}; {ENCODING_HINT}.") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"Cannot read {str(path)!r} as {format}: {error}") from error
    if column_names is not None:
        frame.columns = list(column_names)
    return frame


def read_table(
    data,
    format: str | None = None,
    column_names: Sequence[str] | None = None,
    allow_empty_columns: bool = False,
    **read_options,
) -> pd.DataFrame:
    """One DataFrame from a path (CSV, TSV, Parquet, JSON Lines, chosen by suffix or ``format``), a DataFrame or a
    `datasets.Dataset`.

    ``column_names`` names the columns of a header-less CSV (such as UCI's ``adult.data``); other keyword arguments
    go to the pandas reader (e.g. ``skipinitialspace=True`` for ``a, b`` separators).
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the problem for an empty or unreadable
    file, ragged rows (with the line), duplicated column names and all-missing columns (with their names; allowed
    with ``allow_empty_columns``, as a partial table to complete has them).
    """
    if isinstance(data, (str, Path)):
        frame = _read_file(Path(data), format, column_names, dict(read_options))
        source = repr(str(data))
    elif isinstance(data, pd.DataFrame):
        frame, source = data, "The DataFrame"
    elif type(data).__name__ == "Dataset" and hasattr(data, "to_pandas"):
        frame, source = data.to_pandas(), "The Dataset"
    else:
        raise TypeError(
            f"read_table takes a path, a pandas DataFrame or a datasets.Dataset, not {type(data).__name__}."
        )
    if frame.shape[1] == 0 or len(frame) == 0:
        raise ValueError(f"{source} has no data ({len(frame)} rows, {frame.shape[1]} columns).")
    _check_unique_names(frame.columns, source)
    _check_plain_values(frame, source)
    empty = [str(name) for name in frame.columns if frame[name].isna().all()]
    if empty and not allow_empty_columns:
        raise ValueError(f"{source} has columns with only missing values: {empty}. Drop them or fill them.")
    return frame
