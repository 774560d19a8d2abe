"""Nested records on disk: JSON Lines (one JSON object per line), read with the line of any error, written
atomically. Records nest objects and arrays at most ``MAX_DEPTH`` deep: schema inference, validation and grammars
recurse into them, and a deeper record is refused with one line naming its depth and the limit."""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_DEPTH = 64


def nesting_depth(value) -> int:
    """How many objects and arrays deep ``value`` goes (a flat record: 1), counted level by level, not recursively."""
    depth, level = 0, [value]
    while level := [item for item in level if isinstance(item, (dict, list))]:
        depth += 1
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)]
    return depth


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
                except RecursionError:  # Python's JSON parser recurses: about a thousand levels are too many
                    raise ValueError(f"{str(path)!r} line {number} nests objects and arrays too deep to read; records "
                                     f"may nest at most {MAX_DEPTH} deep.") from None
        data, source = records, repr(str(path))
    else:
        source = "The records"
    data = list(data)
    if not data:
        raise ValueError(f"{source} hold no records.")
    bad = next((index for index, record in enumerate(data) if not isinstance(record, dict)), None)
    if bad is not None:
        raise ValueError(f"{source}: record {bad} is a {type(data[bad]).__name__}, not a JSON object.")
    for index, record in enumerate(data):
        depth = nesting_depth(record)
        if depth > MAX_DEPTH:
            raise ValueError(f"{source}: record {index} nests objects and arrays {depth} deep; records may nest at "
                             f"most {MAX_DEPTH} deep.")
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
