"""Nested records on disk: JSON Lines (one JSON object per line), read with the line of any error, written
atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_json_records(data) -> list[dict]:
    """Records from a list of dicts or a JSON Lines file (one object per line; blank lines skipped)."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"No JSON Lines file at {str(path)!r}.")
        records = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{str(path)!r} line {number} is not JSON: {error.msg}.") from None
        data, source = records, repr(str(path))
    else:
        source = "The records"
    data = list(data)
    if not data:
        raise ValueError(f"{source} hold no records.")
    bad = next((index for index, record in enumerate(data) if not isinstance(record, dict)), None)
    if bad is not None:
        raise ValueError(f"{source}: record {bad} is a {type(data[bad]).__name__}, not a JSON object.")
    return data


def write_json_lines(records: list[dict], path: str | os.PathLike) -> Path:
    """Write ``records`` as JSON Lines (non-ASCII kept), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    os.replace(temporary, path)
    return path
