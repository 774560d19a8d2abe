"""Writing an :class:`EvaluationReport` to a folder: ``report.json`` for programs, ``report.md`` and PNGs for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from .column_kinds import infer_column_kinds, normalized
from .evaluation_report import EvaluationReport
from .plots import plot_column_distributions, plot_trend_differences

COLUMN_PLOT = "column_distributions.png"
TREND_PLOT = "trend_differences.png"

HEADLINE_LABELS = {
    "mle_synthetic": "ML efficiency, trained on synthetic",
    "mle_real": "ML efficiency, trained on real",
    "shape_error": "Shape error (%) ↓",
    "trend_error": "Trend error (%) ↓",
    "alpha_precision": "α-precision ↑",
    "beta_recall": "β-recall ↑",
    "dcr_share": "DCR share closer to train (ideal 0.5)",
    "distance_attack_auc": "Membership-inference AUC, distance attack (ideal 0.5)",
    "c2st_score": "C2ST detection score, logistic (sdmetrics; TabSyn's C2ST) ↑",
    "c2st_xgboost_auc": "C2ST detector ROC-AUC, XGBoost (ideal 0.5)",
    "validity_rate": "Validity rate ↑",
    "exact_copy_rate": "Exact copies of training rows ↓",
    "duplicate_rate": "Duplicates within synthetic ↓",
}


def _format(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def report_markdown(report: EvaluationReport) -> str:
    metric = None if report.mle_synthetic is None else report.mle_synthetic.metric
    lines = ["# Synthetic data evaluation", "", f"Rows: {report.rows}", ""]
    if report.target is not None:
        lines += [f"Target: `{report.target}` ({report.task}; ML efficiency metric: {metric})", ""]
    lines += ["| Metric | Value |", "|---|---|"]
    lines += [f"| {HEADLINE_LABELS[key]} | {_format(value)} |" for key, value in report.headline().items()]
    lines += ["", "## Column shapes (sdmetrics score, 1 is ideal)", "", "| Column | Score |", "|---|---|"]
    lines += [f"| {name} | {_format(score)} |" for name, score in report.column_shape_scores.items()]
    worst = sorted((pair for pair in report.pair_trend_scores if pair["score"] == pair["score"]),
                   key=lambda pair: pair["score"])[:10]
    lines += ["", "## Worst column-pair trends", "", "| Columns | Metric | Score |", "|---|---|---|"]
    lines += [f"| {pair['columns'][0]} × {pair['columns'][1]} | {pair['metric']} | {_format(pair['score'])} |"
              for pair in worst]
    lines += ["", "## Privacy", ""]
    if report.privacy is None:
        lines += ["Not measured: give real rows the generator never saw (`--holdout`, ideally as many as the "
                  "training rows)."]
    else:
        privacy = report.privacy
        lines += [f"Against {privacy.reference_rows} training and {privacy.reference_rows} {privacy.holdout} rows: "
                  f"DCR share {privacy.dcr_share:.4f}, distance attack AUC {privacy.distance_attack_auc:.4f}, "
                  f"exact copies {_format(report.exact_copy_rate)}.", "", privacy.explanation]
    if report.invalid_examples:
        lines += ["", "## Invalid rows (first few)", ""]
        lines += [f"- row {example['row']}: {'; '.join(example['problems'])}" for example in report.invalid_examples]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    lines += ["", f"![column distributions]({COLUMN_PLOT})", "", f"![pair trend differences]({TREND_PLOT})", ""]
    return "\n".join(lines)


def write_report(
    report: EvaluationReport,
    out_dir: str | Path,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    categorical_columns: Sequence[str] = (),
) -> Path:
    """Write ``report.json``, ``report.md``, ``column_distributions.png`` and ``trend_differences.png`` to
    ``out_dir`` (created if needed); returns ``out_dir``. ``categorical_columns`` as given to ``evaluate``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")
    kinds = infer_column_kinds(real, categorical_columns)
    plot_column_distributions(normalized(real, kinds), normalized(synthetic, kinds), kinds, out_dir / COLUMN_PLOT)
    plot_trend_differences(report.to_dict()["pair_trend_scores"], kinds.names, out_dir / TREND_PLOT)
    return out_dir
