"""The numbers one evaluation produces, in one serialisable object."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .ml_efficiency import MLEfficiency
from .privacy_metrics import PrivacyReport


def _finite_or_none(value):
    """JSON has no NaN: undefined numbers (e.g. a pair sdmetrics cannot score) become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


@dataclass
class EvaluationReport:
    """Quality, utility and privacy of a synthetic table against real data. Metrics that could not be computed
    (no test split, no validator...) are ``None`` and ``notes`` says why."""

    rows: dict[str, int]
    target: str | None = None
    task: str | None = None
    shape_error: float | None = None  # percent, 0 is ideal
    trend_error: float | None = None  # percent, 0 is ideal
    column_shape_scores: dict[str, float] = field(default_factory=dict)
    pair_trend_scores: list[dict] = field(default_factory=list)
    mle_synthetic: MLEfficiency | None = None  # XGBoost trained on synthetic rows, scored on the real test split
    mle_real: MLEfficiency | None = None  # the same procedure trained on the real training split
    alpha_precision: float | None = None  # 1 is ideal
    beta_recall: float | None = None  # 1 is ideal
    privacy: PrivacyReport | None = None  # DCR share and membership-inference AUC (needs a holdout)
    c2st_score: float | None = None  # sdmetrics LogisticDetection (TabSyn's C2ST), 1 is ideal
    c2st_xgboost_auc: float | None = None  # ROC-AUC of an XGBoost real-vs-synthetic detector, 0.5 is ideal
    validity_rate: float | None = None  # 1 is ideal
    invalid_examples: list[dict] = field(default_factory=list)
    exact_copy_rate: float | None = None  # 0 is ideal
    duplicate_rate: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _finite_or_none(asdict(self))

    def headline(self) -> dict[str, float | None]:
        """The headline numbers, one per metric (what a benchmark table row shows)."""
        return {
            "mle_synthetic": None if self.mle_synthetic is None else self.mle_synthetic.score,
            "mle_real": None if self.mle_real is None else self.mle_real.score,
            "shape_error": self.shape_error,
            "trend_error": self.trend_error,
            "alpha_precision": self.alpha_precision,
            "beta_recall": self.beta_recall,
            "dcr_share": None if self.privacy is None else self.privacy.dcr_share,
            "distance_attack_auc": None if self.privacy is None else self.privacy.distance_attack_auc,
            "c2st_score": self.c2st_score,
            "c2st_xgboost_auc": self.c2st_xgboost_auc,
            "validity_rate": self.validity_rate,
            "exact_copy_rate": self.exact_copy_rate,
            "duplicate_rate": self.duplicate_rate,
        }
