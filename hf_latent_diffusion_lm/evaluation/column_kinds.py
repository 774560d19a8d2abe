"""Which columns are numerical and which categorical, and the per-column encodings the metrics share.

Every metric must read a column the same way (an integer-coded category is a category for the shape score, the
one-hot of the downstream model and the distances alike), so the decision is made once here. Encoders are sklearn
``ColumnTransformer``s fitted per column on the data the caller names (never one range for all columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder


@dataclass(frozen=True)
class ColumnKinds:
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [*self.numerical, *self.categorical]

    def sdmetrics_metadata(self) -> dict:
        """The single-table metadata dict sdmetrics' reports and metrics take."""
        columns = {name: {"sdtype": "numerical"} for name in self.numerical}
        columns.update({name: {"sdtype": "categorical"} for name in self.categorical})
        return {"columns": columns}


def infer_column_kinds(real: pd.DataFrame, categorical_columns: Sequence[str] = ()) -> ColumnKinds:
    """Numbers are numerical, everything else (strings, booleans) categorical; ``categorical_columns`` forces
    columns (such as integer codes) to be categorical."""
    unknown = [name for name in categorical_columns if name not in real.columns]
    if unknown:
        raise ValueError(f"categorical_columns names columns the real data does not have: {unknown}.")
    forced = set(categorical_columns)
    numerical = tuple(
        name for name in real.columns
        if name not in forced
        and pd.api.types.is_numeric_dtype(real[name])
        and not pd.api.types.is_bool_dtype(real[name])
    )
    categorical = tuple(name for name in real.columns if name not in numerical)
    return ColumnKinds(numerical, categorical)


def check_columns(frame: pd.DataFrame, kinds: ColumnKinds, what: str) -> None:
    """Raise naming the columns ``frame`` lacks or has in excess compared with the real data."""
    missing = [name for name in kinds.names if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in kinds.names]
    if missing or extra:
        raise ValueError(f"The {what} data's columns differ from the real data's: missing {missing}, extra {extra}.")


MISSING_CATEGORY = "<missing>"


def category_text(values: pd.Series) -> pd.Series:
    """Categories as strings; integral numbers without a decimal part (``1.0`` and ``1`` are the same code)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values)
        if (numbers.dropna() % 1 == 0).all():
            values = numbers.astype("Int64")
    return values.astype(str).fillna(MISSING_CATEGORY)


def normalized(frame: pd.DataFrame, kinds: ColumnKinds) -> pd.DataFrame:
    """A copy in the real data's column order with numbers as floats (unparseable values become NaN) and
    categories as strings, so that a generator's ``"3"`` and the real ``3`` compare equal."""
    columns = {name: pd.to_numeric(frame[name], errors="coerce").astype("float64") for name in kinds.numerical}
    columns.update({name: category_text(frame[name]) for name in kinds.categorical})
    return pd.DataFrame(columns, index=frame.index)[kinds.names]


def wrong_typed_numbers(frame: pd.DataFrame, kinds: ColumnKinds) -> dict[str, tuple[int, object]]:
    """Numerical columns holding values that are not numbers (``"39y"``): ``{column: (count, an example)}``.
    :func:`normalized` turns them into missing values, so the metrics must be told."""
    found = {}
    for name in kinds.numerical:
        wrong = frame[name].notna() & pd.to_numeric(frame[name], errors="coerce").isna()
        if wrong.any():
            found[name] = (int(wrong.sum()), frame[name][wrong].iloc[0])
    return found


def make_encoder(kinds: ColumnKinds, scale_numerical: bool) -> ColumnTransformer:
    """One-hot categories (unseen ones encode as all zeros), median-imputed numbers, min-max scaled per column when
    distances are computed (trees do not need it)."""
    numerical = [SimpleImputer(strategy="median")] + ([MinMaxScaler()] if scale_numerical else [])
    return ColumnTransformer(
        [
            ("numerical", make_pipeline(*numerical), list(kinds.numerical)),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(kinds.categorical)),
        ],
        sparse_threshold=0.0,
    )


def distance_space(reference: pd.DataFrame, *frames: pd.DataFrame, kinds: ColumnKinds) -> list[np.ndarray]:
    """``reference`` and ``frames`` (normalized) as float matrices for Euclidean distances: numbers min-max scaled
    by the reference's per-column range, categories one-hot. The encoder is fitted on ``reference`` only."""
    encoder = make_encoder(kinds, scale_numerical=True).fit(reference)
    return [encoder.transform(frame).astype(np.float64) for frame in (reference, *frames)]
