"""Membership inference by distance: can an attacker who holds the synthetic table tell which real records were
in the training data?

The attack (the DCR-based "distance to closest synthetic record" attack of the synthetic-data privacy literature,
e.g. Chen et al. 2020, "GAN-Leaks") scores each candidate record by how close the nearest synthetic row is: a
generator that memorised its training rows puts synthetic rows next to them, and not next to unseen rows. The ROC-AUC
of that score over equal numbers of training records (members) and holdout records (non-members) is 0.5 when the
attacker learns nothing and 1.0 when every member is revealed. Nearest neighbours and the AUC come from sklearn.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors


def distance_attack_auc(members: np.ndarray, non_members: np.ndarray, synthetic: np.ndarray) -> float:
    """ROC-AUC of the distance attack on encoded ``members`` (training rows) vs ``non_members`` (holdout rows)."""
    if len(members) == 0 or len(non_members) == 0:
        raise ValueError("The membership-inference attack needs training and holdout rows.")
    nearest = NearestNeighbors(n_neighbors=1).fit(synthetic)
    candidates = np.concatenate([members, non_members])
    distances = nearest.kneighbors(candidates)[0][:, 0]
    is_member = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    return float(roc_auc_score(is_member, -distances))
