"""Per-path marginals of nested records: does each field (``calls[].name``, ``functions[].description``...) have
the real data's types, lengths and value frequencies?

Records are flattened along their schema: array items share the path ``[]`` and the keys of a map (an object whose
schema has no fixed properties, e.g. a function's parameters by name) share ``*``, so paths stay few and comparable.
Each path is scored with sdmetrics' complements (1 is ideal): TVComplement on the JSON type, KSComplement on the
length of strings and arrays and on numbers, and TVComplement on the values of low-cardinality strings.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd
from sdmetrics.single_column import KSComplement, TVComplement

from ..data.json_record_schema import object_schemas

MAX_ENUM_VALUES = 20
MIN_SHARE = 0.05  # paths present in fewer real records are too sparse to compare


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _walk(value, schema, path: str, out: dict) -> None:
    out[path].append(value)
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, list):
        items = schema.get("items", {})
        for item in value:
            _walk(item, items, f"{path}[]", out)
    elif isinstance(value, dict):
        objects = object_schemas(schema)
        properties = objects[0].get("properties") if objects else None
        rest = objects[0].get("additionalProperties", {}) if objects else {}
        for key, item in value.items():
            fixed = properties is not None and key in properties
            _walk(item, properties[key] if fixed else rest, f"{path}.{key}" if fixed else f"{path}.*", out)


def flatten(records: Sequence[dict], schema: dict) -> tuple[dict[str, list], dict[str, int]]:
    """``{path: every value found there}`` and ``{path: number of records that have it}``."""
    values, presence = defaultdict(list), defaultdict(int)
    for record in records:
        found = defaultdict(list)
        _walk(record, schema, "", found)
        for path, items in found.items():
            values[path].extend(items)
            presence[path] += 1
    return values, presence


def _length(value) -> float | None:
    if isinstance(value, (str, list)):
        return float(len(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _score(metric, real: list, synthetic: list) -> float | None:
    if not real or not synthetic:
        return None
    score = metric.compute(pd.Series(real), pd.Series(synthetic))
    return float(score) if np.isfinite(score) else None


def path_similarity(real: Sequence[dict], synthetic: Sequence[dict], schema: dict) -> dict[str, dict]:
    """Per path (present in at least ``MIN_SHARE`` of real records): ``type``, ``length`` and ``values`` scores
    (``None`` where not applicable) and their mean ``score``; a path the synthetic records lack scores 0."""
    real_values, presence = flatten(real, schema)
    synthetic_values, _ = flatten(synthetic, schema)
    scores = {}
    for path, values in real_values.items():
        if not path or presence[path] < MIN_SHARE * len(real):
            continue
        fake = synthetic_values.get(path, [])
        if not fake:
            scores[path] = {"type": 0.0, "length": None, "values": None, "score": 0.0}
            continue
        entry = {"type": _score(TVComplement, [json_type(v) for v in values], [json_type(v) for v in fake])}
        lengths = [x for x in map(_length, values) if x is not None]
        fake_lengths = [x for x in map(_length, fake) if x is not None]
        entry["length"] = _score(KSComplement, lengths, fake_lengths) if len(set(lengths)) > 1 else None
        strings = [v for v in values if isinstance(v, str)]
        few = strings and len(set(strings)) <= MAX_ENUM_VALUES
        entry["values"] = _score(TVComplement, strings, [v for v in fake if isinstance(v, str)]) if few else None
        present = [s for s in entry.values() if s is not None]
        entry["score"] = float(np.mean(present)) if present else None
        scores[path] = entry
    return scores
