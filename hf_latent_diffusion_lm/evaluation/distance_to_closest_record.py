"""Distance to closest record (DCR): are synthetic rows closer to the training rows than to unseen real rows?

A generator that learned the distribution, not the rows, puts each synthetic row as close to a holdout set as to a
training set of the same size: the share of synthetic rows closer to the training set is then 50%; memorised copies
push it towards 100%. sdmetrics' ``DCROverfittingProtection`` defines the same share but cross-joins the tables in
pandas (10^9 rows for Adult), so nearest neighbours come from sklearn here, on the shared Euclidean encoding. Ties
(a synthetic row exactly as close to both sets, such as a copy of a row present in both) count one half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors


@dataclass
class DistanceToClosestRecord:
    share_closer_to_train: float  # ideal 0.5
    reference_rows: int  # rows in each of the (equal-size) train and holdout references


def equal_size_references(num_train: int, num_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of equal-size train and holdout references: the larger set is subsampled without replacement."""
    rng = np.random.default_rng(seed)
    size = min(num_train, num_holdout)
    train = np.arange(num_train) if num_train == size else np.sort(rng.choice(num_train, size, replace=False))
    holdout = np.arange(num_holdout) if num_holdout == size else np.sort(rng.choice(num_holdout, size, replace=False))
    return train, holdout


def distance_to_closest_record(
    train: np.ndarray, holdout: np.ndarray, synthetic: np.ndarray
) -> DistanceToClosestRecord:
    """DCR share of encoded ``synthetic`` rows, given equal-size encoded ``train`` and ``holdout`` references."""
    if len(train) != len(holdout):
        raise ValueError(f"DCR needs equal-size references; got {len(train)} train and {len(holdout)} holdout rows.")
    to_train = NearestNeighbors(n_neighbors=1).fit(train).kneighbors(synthetic)[0][:, 0]
    to_holdout = NearestNeighbors(n_neighbors=1).fit(holdout).kneighbors(synthetic)[0][:, 0]
    tie = np.isclose(to_train, to_holdout, rtol=0.0, atol=1e-6)
    share = np.mean(~tie & (to_train < to_holdout)) + 0.5 * np.mean(tie)
    return DistanceToClosestRecord(float(share), len(train))
