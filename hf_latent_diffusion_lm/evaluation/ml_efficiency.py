"""Machine-learning efficiency (train on synthetic, test on real): how useful the rows are to a downstream model.

XGBoost is tuned on a validation cut of the rows it is trained on (never on the real test split), refitted on all of
them with the chosen settings and scored on the real test split: ROC-AUC for classification, RMSE for regression.
Running the same procedure on the real training split gives the ceiling. Unlike TabSyn's script, the one-hot encoder
is fitted per column on the training rows only, and the validation target stays on the scale the test is scored on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm
from xgboost import XGBClassifier, XGBRegressor

from .column_kinds import ColumnKinds, make_encoder

TASKS = ("classification", "regression")
PARAMETER_GRID = {"max_depth": [4, 6, 8], "learning_rate": [0.05, 0.2]}
MAX_TREES = 500
EARLY_STOPPING_ROUNDS = 30
VALIDATION_FRACTION = 0.2


@dataclass
class MLEfficiency:
    metric: str  # "roc_auc" (higher is better) or "rmse" (lower is better)
    score: float | None  # None when the rows cannot train a model (the note says why)
    parameters: dict = field(default_factory=dict)
    note: str | None = None


def infer_task(target: pd.Series) -> str:
    """Classification for categories and booleans, regression for numbers."""
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        return "regression"
    return "classification"


def _score(task: str, model, features: np.ndarray, labels: np.ndarray) -> float:
    if task == "regression":
        return float(np.sqrt(mean_squared_error(labels, model.predict(features))))
    probabilities = model.predict_proba(features)
    if probabilities.shape[1] == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=np.arange(probabilities.shape[1])))


def _model(task: str, seed: int, n_jobs: int, **parameters):
    options = dict(tree_method="hist", n_jobs=n_jobs, random_state=seed, **parameters)
    return XGBRegressor(**options) if task == "regression" else XGBClassifier(**options)


def ml_efficiency(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    task: str,
    kinds: ColumnKinds,
    seed: int = 0,
    description: str = "MLE",
    n_jobs: int = 1,
) -> MLEfficiency:
    """Train XGBoost on ``train`` (normalized rows: synthetic or real), score it on the real ``test`` rows.

    ``n_jobs`` is XGBoost's thread count: more than the free cores makes OpenMP spin (100x slower on a busy machine).
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; use one of {TASKS}.")
    metric = "roc_auc" if task == "classification" else "rmse"
    features = ColumnKinds(
        tuple(name for name in kinds.numerical if name != target),
        tuple(name for name in kinds.categorical if name != target),
    )
    train = train[train[target].notna()]
    if task == "classification":
        classes = sorted(test[target].unique())
        known = train[target].isin(classes)
        train = train[known]
        if train[target].nunique() < len(classes):
            return MLEfficiency(metric, None, note=f"the training rows lack target classes of the test split "
                                                   f"(have {sorted(train[target].unique())}, test has {classes})")
        train_labels = train[target].map({label: index for index, label in enumerate(classes)}).to_numpy()
        test_labels = test[target].map({label: index for index, label in enumerate(classes)}).to_numpy()
        stratify = train_labels
    else:
        train_labels, test_labels, stratify = train[target].to_numpy(), test[target].to_numpy(), None
    try:
        fit_part, validation_part, fit_labels, validation_labels = train_test_split(
            train, train_labels, test_size=VALIDATION_FRACTION, random_state=seed, stratify=stratify
        )
    except ValueError as error:  # too few rows, or a class with a single row
        return MLEfficiency(metric, None, note=f"cannot cut a validation set from the training rows: {error}")
    encoder = make_encoder(features, scale_numerical=False).fit(fit_part)
    fit_x, validation_x = encoder.transform(fit_part), encoder.transform(validation_part)
    best, best_score = None, None
    settings = [dict(zip(PARAMETER_GRID, values)) for values in itertools.product(*PARAMETER_GRID.values())]
    for parameters in tqdm(settings, desc=f"{description}: XGBoost grid", leave=False):
        model = _model(task, seed, n_jobs, n_estimators=MAX_TREES, early_stopping_rounds=EARLY_STOPPING_ROUNDS,
                       **parameters)
        model.fit(fit_x, fit_labels, eval_set=[(validation_x, validation_labels)], verbose=False)
        score = _score(task, model, validation_x, validation_labels)
        better = best_score is None or (score > best_score if task == "classification" else score < best_score)
        if better:
            best, best_score = {**parameters, "n_estimators": int(model.best_iteration) + 1}, score
    encoder = make_encoder(features, scale_numerical=False).fit(train)
    model = _model(task, seed, n_jobs, **best).fit(encoder.transform(train), train_labels)
    return MLEfficiency(metric, _score(task, model, encoder.transform(test), test_labels),
                        {**best, "validation_score": best_score})
