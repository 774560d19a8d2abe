"""Records as points for distances, from the schema alone: numbers min-max scaled by the schema's range, categories
one-hot over the schema's category set, timestamps scaled like numbers; free-text columns are left out.

The guard must encode a generated row at sampling time exactly as it encoded the training rows at fit time; the
schema already stored with the pipeline holds every parameter this needs (ranges, category sets), so no fitted
scaler has to be saved. Missing numbers sit at the middle of the range.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..data.record_format import category_text


def _number(column, value) -> float:
    if value is None:
        return np.nan
    return pd.Timestamp(value).value / 1e9 if column.kind == "datetime" else float(value)


def _range(column) -> tuple[float, float]:
    return _number(column, column.minimum), _number(column, column.maximum)


def encode_records(schema, records: Sequence[dict]):
    """``(len(records), width)`` float32 matrix of ``records`` (dicts of canonical values) under ``schema``."""
    try:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import MinMaxScaler, OneHotEncoder
    except ImportError as error:
        raise ImportError("Distances between records need scikit-learn: pip install 'hf-latent-diffusion-lm[eval]'."
                          ) from error
    numbers = [column for column in schema.columns if column.kind in ("numerical", "datetime")]
    categories = [column for column in schema.columns if column.kind == "categorical"]
    frame = pd.DataFrame({
        **{column.name: [_number(column, record.get(column.name)) for record in records] for column in numbers},
        **{column.name: [category_text(record.get(column.name)) for record in records] for column in categories},
    })
    # The scaler's range is the schema's, not the data's: fit on the two rows (minimum, maximum).
    bounds = pd.DataFrame({
        **{column.name: list(_range(column)) for column in numbers},
        **{column.name: [category_text(column.categories[0])] * 2 for column in categories},
    })
    transformers = [(column.name, make_pipeline(SimpleImputer(strategy="mean"), MinMaxScaler()), [column.name])
                    for column in numbers]
    transformers += [(column.name, OneHotEncoder(categories=[[category_text(c) for c in column.categories]],
                                                 handle_unknown="ignore", sparse_output=False), [column.name])
                     for column in categories]
    if not transformers:
        raise ValueError("The schema has no numerical, datetime or categorical column to measure distances on.")
    encoder = ColumnTransformer(transformers, sparse_threshold=0.0).fit(bounds)
    return encoder.transform(frame).astype(np.float32)
