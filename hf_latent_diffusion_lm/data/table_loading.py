"""Reading a table from what users have (a file, a DataFrame, a `datasets.Dataset`) into one pandas DataFrame.

Loading fails loudly and early: an empty file, an unknown format, a ragged row or an all-missing column would
otherwise surface later as a puzzling schema or a silently shifted record.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

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


def _check_ragged_rows(path: Path, delimiter: str, column_names: Sequence[str] | None) -> None:
    """Raise on the first row whose field count differs from the header's (pandas pads short rows silently)."""
    expected = None if column_names is None else len(column_names)
    origin = "the header" if column_names is None else "column_names"
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        for row in reader:
            if not row:
                continue
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                raise ValueError(
                    f"{str(path)!r} has ragged rows: line {reader.line_num} has {len(row)} fields, {origin} has "
                    f"{expected}."
                )


def _read_file(path: Path, format: str | None, column_names: Sequence[str] | None, read_options: dict) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"No table file at {str(path)!r}.")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty.")
    format = format or table_format(path)
    if format not in FORMATS:
        raise ValueError(f"Unknown table format {format!r}; use one of {FORMATS}.")
    delimiter = read_options.pop("sep", "\t" if format == "tsv" else ",")
    if format in ("csv", "tsv"):
        _check_ragged_rows(path, delimiter, column_names)
    try:
        if format in ("csv", "tsv"):
            if column_names is not None:
                read_options.update(header=None, names=list(column_names))
            return pd.read_csv(path, sep=delimiter, **read_options)
        if format == "parquet":
            frame = pd.read_parquet(path, **read_options)
        else:
            frame = pd.read_json(path, lines=True, **read_options)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise ValueError(f"Cannot read {str(path)!r} as {format}: {error}") from error
    if column_names is not None:
        frame.columns = list(column_names)
    return frame


def read_table(
    data,
    format: str | None = None,
    column_names: Sequence[str] | None = None,
    **read_options,
) -> pd.DataFrame:
    """One DataFrame from a path (CSV, TSV, Parquet, JSON Lines, chosen by suffix or ``format``), a DataFrame or a
    `datasets.Dataset`.

    ``column_names`` names the columns of a header-less CSV (such as UCI's ``adult.data``); other keyword arguments
    go to the pandas reader (e.g. ``skipinitialspace=True`` for ``a, b`` separators).
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the problem for an empty or unreadable
    file, ragged rows (with the line) and all-missing columns (with their names).
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
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise ValueError(f"{source} has duplicated column names: {duplicated}.")
    empty = [str(name) for name in frame.columns if frame[name].isna().all()]
    if empty:
        raise ValueError(f"{source} has columns with only missing values: {empty}. Drop them or fill them.")
    return frame
