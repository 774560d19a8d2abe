"""Sampling a flat table of synthetic records and writing it (CSV, JSON Lines, Parquet): the core of ``ldlm sample`` /
``ldlm complete`` for tables (nested records: ``record_sampling``; large N in shards: ``sharded_sampling``)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

WRITERS = {".csv": "to_csv", ".jsonl": "to_json", ".parquet": "to_parquet"}
# Rows per pipeline call when sampling into one file: on a CPU four pools of its 256 decoding slots, so the progress
# bar moves every 30 s or so (about 35 rows/s on 2 cores, BENCHMARKS.md); on an accelerator enough to fill its slots.
CPU_CHUNK_ROWS, ACCELERATOR_CHUNK_ROWS = 1024, 8192


def check_output_file(path: str | os.PathLike) -> Path:
    """An output file's format must be known before any row is sampled, not after."""
    path = Path(path)
    if path.suffix not in WRITERS:
        raise ValueError(f"Unknown output format {path.suffix!r} for --out {str(path)!r}; use one of "
                         f"{', '.join(WRITERS)}.")
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a directory; name a file.")
    return path


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV, JSON Lines or Parquet (by suffix), atomically."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    options = {"index": False} if path.suffix != ".jsonl" else {"orient": "records", "lines": True}
    if path.suffix == ".jsonl":  # pandas writes timestamps as epoch milliseconds (or UTC): keep ISO with the zone
        frame = frame.assign(**{name: [None if pd.isna(v) else v.isoformat() for v in frame[name]]
                                for name in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[name])})
    getattr(frame, WRITERS[path.suffix])(temporary, **options)
    os.replace(temporary, path)
    return path


def parse_conditions(pairs: list[str] | None, schema) -> dict:
    """``["income=>50K", "age=40"]`` -> ``{"income": ">50K", "age": 40}``, each value read the way the column's
    records write it (so ``code=2`` names the integer category ``2``, and large integers stay exact)."""
    conditions = {}
    for pair in pairs or []:
        column, separator, text = pair.partition("=")
        if not separator:
            raise ValueError(f"A condition must look like COLUMN=VALUE, got {pair!r}.")
        if column not in schema.names:
            raise ValueError(f"Unknown condition column {column!r}; the model's columns are {schema.names}.")
        value = _condition_value(schema[column], text)
        if column in conditions and conditions[column] != value:
            raise ValueError(f"Condition column {column!r} is given twice with different values "
                             f"({conditions[column]!r} and {value!r}).")
        problems = schema[column].problems(value)
        if problems:
            raise ValueError(f"Condition {pair!r}: {problems[0]}.")
        conditions[column] = value
    return conditions


def _condition_value(column, text: str):
    """``text`` as a value of ``column``: a category by its written form, an exact int, a float, a timestamp."""
    from ..data.record_format import INTEGER

    if column.kind == "categorical":
        return column.category(text)
    if column.kind == "text":
        return text
    try:
        if column.kind == "numerical":
            return column.canonical(int(text) if INTEGER.fullmatch(text.strip()) else float(text))
        return column.canonical(text)
    except ValueError:
        needs = "a number" if column.kind == "numerical" else "an ISO 8601 timestamp"
        raise ValueError(f"Condition {column.name}={text!r}: column {column.name!r} needs {needs}.") from None


def generate_records(pipe, num_samples: int, seed: int = 0, chunk_size: int | None = None,
                     **call_kwargs) -> pd.DataFrame:
    """Sample ``num_samples`` valid records in chunks (default: by device, see ``CPU_CHUNK_ROWS``) as a DataFrame,
    with a progress bar over the rows written; its ``attrs`` hold the validity and, with ``privacy=...``, the rows
    the guard re-drew and dropped."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    chunk_size = chunk_size or (CPU_CHUNK_ROWS if pipe.device.type == "cpu" else ACCELERATOR_CHUNK_ROWS)
    generator = torch.Generator().manual_seed(seed)
    frames, valid, decoded, redraws, dropped = [], 0.0, 0, 0, 0
    with tqdm(total=num_samples, desc="sampling", unit="row") as bar:
        for start in range(0, num_samples, chunk_size):
            count = min(chunk_size, num_samples - start)
            output = pipe(num_samples=count, generator=generator, output_type="pandas", **call_kwargs)
            frames.append(output.records)
            valid += output.validity * len(output.texts)
            decoded += len(output.texts)
            redraws += output.privacy_redraws or 0
            dropped += output.privacy_dropped or 0
            bar.update(len(output.records))
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(validity=valid / max(decoded, 1), privacy_redraws=redraws, privacy_dropped=dropped)
    return frame
