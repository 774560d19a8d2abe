"""64-bit keyed fingerprints of records, so a pipeline can recognise its training rows without storing them.

A record's key is the JSON of its values in the schema's column order, each value put in its column's canonical form
(``3`` and ``3.0`` in an integer column are the same value), so a training row and a generated row that parse to the
same values get the same key whatever the record text format. Keys are hashed with BLAKE2b, keyed with a secret
that never leaves the fitting machine (:mod:`.privacy_keys`), to 8 bytes: with n training rows a generated row that
is no copy collides with one of them with probability about n / 2^64.
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

import numpy as np


def record_key(schema, record: dict) -> str:
    """The canonical text of ``record``'s values under ``schema`` (missing values are ``null``); a nested record's
    canonical JSON (its schema fixes key order and separators)."""
    if not schema.has_columns:
        return schema.to_text(record)
    values = [column.canonical(record.get(column.name)) for column in schema.columns]
    return json.dumps(values, default=str, ensure_ascii=False)


def record_hashes(schema, records: Sequence[dict], secret: bytes) -> np.ndarray:
    """64-bit BLAKE2b hashes of the records' keys under ``secret``, as int64 (safetensors and torch have no uint64
    arithmetic)."""
    if not secret:
        raise ValueError("Record hashes need a secret key: unkeyed hashes would let anyone test a row for membership.")
    digests = [hashlib.blake2b(record_key(schema, record).encode("utf-8"), digest_size=8, key=secret).digest()
               for record in records]
    return np.frombuffer(b"".join(digests), dtype="<i8").copy() if digests else np.zeros(0, dtype=np.int64)
