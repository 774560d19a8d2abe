"""Evaluation of synthetic tables: fidelity (shape, trend, α-precision/β-recall, C2ST), utility (ML efficiency),
privacy (DCR, membership inference, exact copies) and validity, with a report writer and the ``ldlm evaluate``
command."""

from .alpha_precision_beta_recall import alpha_precision_beta_recall
from .column_kinds import ColumnKinds, infer_column_kinds
from .detection import c2st_detection
from .distance_to_closest_record import distance_to_closest_record
from .evaluate import evaluate
from .evaluation_report import EvaluationReport
from .membership_inference import distance_attack_auc
from .ml_efficiency import MLEfficiency, ml_efficiency
from .privacy_metrics import PrivacyReport, privacy_metrics
from .report_writing import write_report
from .row_rates import duplicate_rate, exact_copy_rate
from .shape_and_trend import shape_and_trend

__all__ = [
    "ColumnKinds",
    "EvaluationReport",
    "MLEfficiency",
    "PrivacyReport",
    "alpha_precision_beta_recall",
    "c2st_detection",
    "distance_attack_auc",
    "distance_to_closest_record",
    "duplicate_rate",
    "evaluate",
    "exact_copy_rate",
    "infer_column_kinds",
    "ml_efficiency",
    "privacy_metrics",
    "shape_and_trend",
    "write_report",
]
