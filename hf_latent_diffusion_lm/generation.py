"""Writing synthetic records to files: the shared core of ``ldlm sample`` / ``ldlm complete`` and scripts/generate.py."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

WRITERS = {".csv": "to_csv", ".jsonl": "to_json", ".parquet": "to_parquet"}


def write_table(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV, JSON Lines or Parquet (by suffix), atomically."""
    path = Path(path)
    if path.suffix not in WRITERS:
        raise ValueError(f"Unknown output format {path.suffix!r} for {path}; use one of {', '.join(WRITERS)}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    options = {"index": False} if path.suffix != ".jsonl" else {"orient": "records", "lines": True}
    getattr(frame, WRITERS[path.suffix])(temporary, **options)
    os.replace(temporary, path)
    return path


def parse_conditions(pairs: list[str] | None, schema) -> dict:
    """``["income=>50K", "age=40"]`` -> ``{"income": ">50K", "age": 40}``, typed by the schema's columns."""
    conditions = {}
    for pair in pairs or []:
        column, separator, text = pair.partition("=")
        if not separator:
            raise ValueError(f"A condition must look like COLUMN=VALUE, got {pair!r}.")
        if column not in schema.names:
            raise ValueError(f"Unknown condition column {column!r}; the model's columns are {schema.names}.")
        spec = schema[column]
        if getattr(spec, "kind", None) == "numerical":
            number = float(text)
            conditions[column] = int(number) if spec.integer and number.is_integer() else number
        else:
            conditions[column] = spec.canonical(text) if hasattr(spec, "canonical") else text
    return conditions


def generate_records(pipe, num_samples: int, seed: int = 0, chunk_size: int = 1024, **call_kwargs) -> pd.DataFrame:
    """Sample ``num_samples`` valid records in chunks (a progress bar over records) as a DataFrame; its ``attrs``
    hold the validity and, with ``privacy=...``, the rows the guard re-drew and dropped."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}.")
    generator = torch.Generator().manual_seed(seed)
    frames, valid, written, redraws, dropped = [], 0.0, 0, 0, 0
    with tqdm(total=num_samples, desc="sampling", unit="row") as bar:
        for start in range(0, num_samples, chunk_size):
            count = min(chunk_size, num_samples - start)
            output = pipe(num_samples=count, generator=generator, output_type="pandas", **call_kwargs)
            frames.append(output.records)
            valid += output.validity * len(output.texts)
            written += len(output.texts)
            redraws += output.privacy_redraws or 0
            dropped += output.privacy_dropped or 0
            bar.update(count)
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs.update(validity=valid / max(written, 1), privacy_redraws=redraws, privacy_dropped=dropped)
    return frame
