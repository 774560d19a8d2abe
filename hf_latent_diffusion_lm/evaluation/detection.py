"""Classifier two-sample tests (C2ST): can a classifier tell real rows from synthetic ones?

Two detectors. sdmetrics' ``LogisticDetection`` is the "C2ST" column TabSyn reports: a logistic regression with
3-fold cross validation, scored ``1 - mean(2 * max(AUC, 0.5) - 1)`` (1 when indistinguishable). Being linear, it
only sees differences in the columns' marginals and misses broken dependencies (rows whose columns were shuffled
independently pass it). So we also report the cross-validated ROC-AUC of XGBoost on the one-hot rows, which does see
them (0.5 when indistinguishable; like sdmetrics, each fold's AUC is floored at 0.5, since a detector only does
worse than chance when synthetic rows are copies of real ones, which the exact-copy rate reports). sdmetrics
shuffles its folds with numpy's global generator, seeded here so that a report is reproducible.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sdmetrics.single_table import LogisticDetection
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from xgboost import XGBClassifier

from .column_kinds import ColumnKinds, make_encoder

FOLDS = 3


@dataclass
class Detection:
    logistic_score: float | None  # sdmetrics LogisticDetection, 1 is ideal; None when sdmetrics cannot compute it
    xgboost_auc: float | None  # mean cross-validated ROC-AUC (folds floored at 0.5) of an XGBoost detector, 0.5 ideal
    note: str | None = None


def _xgboost_auc(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: ColumnKinds, seed: int, n_jobs: int
                 ) -> float:
    encoder = make_encoder(kinds, scale_numerical=False).fit(real)
    features = np.concatenate([encoder.transform(real), encoder.transform(synthetic)])
    labels = np.concatenate([np.ones(len(real)), np.zeros(len(synthetic))])
    aucs = []
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(features, labels):
        model = XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1, tree_method="hist", n_jobs=n_jobs,
                              random_state=seed)
        model.fit(features[train], labels[train])
        aucs.append(max(0.5, roc_auc_score(labels[test], model.predict_proba(features[test])[:, 1])))
    return float(np.mean(aucs))


def c2st_detection(
    real: pd.DataFrame, synthetic: pd.DataFrame, kinds: ColumnKinds, seed: int = 0, n_jobs: int = 1
) -> Detection:
    """Both detectors on ``synthetic`` against ``real`` (normalized to ``kinds``); none with fewer rows than folds."""
    if min(len(real), len(synthetic)) < FOLDS:
        return Detection(None, None, f"C2ST needs at least {FOLDS} real and {FOLDS} synthetic rows ({FOLDS}-fold "
                                     f"cross-validation); got {len(real)} and {len(synthetic)}")
    unseen = {name: sorted(set(synthetic[name]) - set(real[name]))[:5] for name in kinds.categorical}
    unseen = {name: values for name, values in unseen.items() if values}
    logistic, note = None, None
    if unseen:
        # sdmetrics' encoder is fitted on the real rows and raises on any other category.
        note = f"sdmetrics' LogisticDetection cannot encode synthetic categories absent from the real data: {unseen}"
    else:
        np.random.seed(seed)
        with warnings.catch_warnings():
            # sdmetrics' unscaled logistic regression often stops at max_iter; its score is TabSyn's number anyway.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", FutureWarning)
            logistic = float(LogisticDetection.compute(real, synthetic, kinds.sdmetrics_metadata()))
    return Detection(logistic, _xgboost_auc(real, synthetic, kinds, seed, n_jobs), note)
