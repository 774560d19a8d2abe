"""Integrated α-precision and β-recall (Alaa et al., "How Faithful is your Synthetic Data?", ICML 2022).

No maintained package we can install computes them (synthcity does, but pins its own torch and pandas stack), so
this is our implementation of the paper's definitions in the input space (no learned embedding), on the shared
distance encoding. α-precision: for each α, the share of synthetic rows inside the smallest ball around the real
centre that holds a share α of the real rows; the integrated score is 1 - 2 * mean_α |share - α| (1 is ideal).
β-recall: a real row is covered at β when its nearest synthetic row is no farther than its nearest other real row
and lies inside the ball around the synthetic centre that holds a share β of the synthetic rows; integrated the same
way. TabSyn reports synthcity's variant, which takes the β-quantile over the matched synthetic rows only, so
β-recall values are close to but not identical with TabSyn's.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

LEVELS = np.linspace(0.0, 1.0, 30)


def _integrated(curve: np.ndarray) -> float:
    return float(1.0 - 2.0 * np.mean(np.abs(curve - LEVELS)))


def alpha_precision_beta_recall(real: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """(integrated α-precision, integrated β-recall) of encoded ``synthetic`` rows against encoded ``real`` rows."""
    real_centre, synthetic_centre = real.mean(axis=0), synthetic.mean(axis=0)
    real_radii = np.quantile(np.linalg.norm(real - real_centre, axis=1), LEVELS)
    synthetic_to_real_centre = np.linalg.norm(synthetic - real_centre, axis=1)
    precision = np.array([(synthetic_to_real_centre <= radius).mean() for radius in real_radii])

    real_gap = NearestNeighbors(n_neighbors=2).fit(real).kneighbors(real)[0][:, 1]
    synthetic_gap, nearest = NearestNeighbors(n_neighbors=1).fit(synthetic).kneighbors(real)
    synthetic_spread = np.linalg.norm(synthetic - synthetic_centre, axis=1)
    synthetic_radii = np.quantile(synthetic_spread, LEVELS)
    close = synthetic_gap[:, 0] <= real_gap
    matched_spread = synthetic_spread[nearest[:, 0]]
    recall = np.array([(close & (matched_spread <= radius)).mean() for radius in synthetic_radii])
    return _integrated(precision), _integrated(recall)
