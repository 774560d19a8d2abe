"""Column values -> class indices for the denoiser's condition embeddings (classifier-free guidance).

Categorical columns keep their category set; numerical columns are cut into quantile bins. The last index of each
column means "no condition": condition dropout trains it, and guidance contrasts against it.
"""

from __future__ import annotations

import bisect
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import UnknownColumnError


class ConditionEncoder:
    """Maps ``{column: value}`` to the ``(batch, num_columns)`` indices :class:`LatentDenoiserMLP` takes."""

    def __init__(self, columns: Sequence[str], categories: Mapping[str, list] | None = None,
                 bin_edges: Mapping[str, list[float]] | None = None):
        self.columns = list(columns)
        self.categories = {k: list(v) for k, v in (categories or {}).items()}
        self.bin_edges = {k: [float(e) for e in v] for k, v in (bin_edges or {}).items()}
        unknown = [c for c in self.columns if c not in self.categories and c not in self.bin_edges]
        if unknown:
            raise ValueError(f"No categories or bins for condition column(s): {', '.join(unknown)}.")

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str], num_bins: int = 5,
            max_categories: int = 50) -> "ConditionEncoder":
        """Learn the category sets / quantile bin edges of ``columns`` from ``frame``."""
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise UnknownColumnError(
                f"Unknown condition column(s) {', '.join(map(repr, missing))}; the data has: {', '.join(frame.columns)}."
            )
        categories, bin_edges = {}, {}
        for column in columns:
            values = frame[column].dropna()
            if values.empty:
                raise ValueError(f"Condition column {column!r} has no values.")
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            if numeric and values.nunique() > max_categories:
                quantiles = np.quantile(values.to_numpy(dtype=float), np.linspace(0, 1, num_bins + 1)[1:-1])
                bin_edges[column] = sorted(set(float(q) for q in quantiles))
            else:
                uniques = values.unique().tolist()
                if len(uniques) > max_categories:
                    raise ValueError(
                        f"Condition column {column!r} has {len(uniques)} distinct values (> {max_categories}); "
                        "condition on a categorical or numerical column."
                    )
                categories[column] = sorted(uniques, key=str)
        return cls(columns, categories, bin_edges)

    @property
    def num_classes(self) -> list[int]:
        """Values per column (``condition_num_classes`` of the denoiser)."""
        return [len(self.categories[c]) if c in self.categories else len(self.bin_edges[c]) + 1 for c in self.columns]

    def _index(self, column: str, value: Any) -> int:
        if column in self.bin_edges:
            try:
                return bisect.bisect_right(self.bin_edges[column], float(value))
            except (TypeError, ValueError):
                raise ValueError(f"Condition {column}={value!r}: {column!r} is numerical.") from None
        try:
            return self.categories[column].index(value)
        except ValueError:
            shown = ", ".join(map(repr, self.categories[column][:20]))
            raise ValueError(f"Condition {column}={value!r} is not a known value of {column!r}: {shown}.") from None

    def encode(self, conditions: Mapping[str, Any], batch_size: int) -> torch.LongTensor:
        """Indices for one set of conditions repeated ``batch_size`` times; unnamed columns get "no condition"."""
        unknown = [c for c in conditions if c not in self.columns]
        if unknown:
            raise ValueError(
                f"Cannot condition on {', '.join(map(repr, unknown))}: the model was trained with condition columns "
                f"{self.columns} (ldlm fit --condition-columns)."
            )
        row = [self._index(c, conditions[c]) if c in conditions else n for c, n in zip(self.columns, self.num_classes)]
        return torch.tensor([row] * batch_size, dtype=torch.long)

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> torch.LongTensor:
        """Per-row indices; a missing or ``None``/NaN cell gets "no condition"."""
        def index(row, column, null):
            value = row.get(column)
            return null if value is None or (isinstance(value, float) and np.isnan(value)) else self._index(column, value)

        return torch.tensor(
            [[index(row, c, n) for c, n in zip(self.columns, self.num_classes)] for row in rows], dtype=torch.long
        ).reshape(len(rows), len(self.columns))

    def encode_frame(self, frame: pd.DataFrame) -> torch.LongTensor:
        """Indices for every row of ``frame`` (training the conditional denoiser)."""
        return self.encode_rows(frame[self.columns].to_dict("records"))

    def to_dict(self) -> dict:
        to_plain = lambda v: v.item() if isinstance(v, np.generic) else v  # noqa: E731
        return {"columns": self.columns,
                "categories": {k: [to_plain(v) for v in vs] for k, vs in self.categories.items()},
                "bin_edges": self.bin_edges}

    @classmethod
    def from_dict(cls, data: Mapping) -> "ConditionEncoder":
        return cls(data["columns"], data.get("categories"), data.get("bin_edges"))
