"""Row-level rates: validity against a schema, copies of training rows, and duplicates among synthetic rows.

Rows are compared after normalisation (numbers as floats, categories as strings), so a generator that writes
``"3"`` where the data has ``3`` is still caught copying.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

RowValidator = Callable[[dict], list]
MAX_EXAMPLES = 5


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(frame, index=False)


def exact_copy_rate(train: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Share of synthetic rows identical to some training row (both normalized, same columns)."""
    return float(_row_hashes(synthetic).isin(set(_row_hashes(train))).mean())


def duplicate_rate(synthetic: pd.DataFrame) -> float:
    """Share of synthetic rows that repeat an earlier synthetic row."""
    return float(_row_hashes(synthetic).duplicated().mean())


def validity(synthetic: pd.DataFrame, validate: RowValidator) -> tuple[float, list[dict]]:
    """Share of rows for which ``validate(row)`` (e.g. ``TableSchema.validate``) finds no problem, and the first
    few invalid rows with their problems."""
    valid, examples = 0, []
    for position, row in enumerate(synthetic.to_dict("records")):
        problems = validate({name: (None if pd.isna(value) else value) for name, value in row.items()})
        if not problems:
            valid += 1
        elif len(examples) < MAX_EXAMPLES:
            examples.append({"row": position, "problems": [str(problem) for problem in problems]})
    return valid / len(synthetic), examples
