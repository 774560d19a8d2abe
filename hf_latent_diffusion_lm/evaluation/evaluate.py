"""One call that scores a synthetic table against real data with every metric the inputs allow."""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd
from tqdm.auto import tqdm

from .alpha_precision_beta_recall import alpha_precision_beta_recall
from .column_kinds import check_columns, distance_space, infer_column_kinds, normalized, wrong_typed_numbers
from .detection import c2st_detection
from .distance_to_closest_record import equal_size_references
from .evaluation_report import EvaluationReport
from .ml_efficiency import TASKS, MLEfficiency, infer_task, ml_efficiency
from .privacy_metrics import privacy_metrics
from .row_rates import RowValidator, duplicate_rate, exact_copy_rate, validity
from .shape_and_trend import shape_and_trend


def evaluate(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_test: pd.DataFrame | None = None,
    target: str | None = None,
    task: str | None = None,
    holdout: pd.DataFrame | None = None,
    validate: RowValidator | None = None,
    categorical_columns: Sequence[str] = (),
    real_mle: MLEfficiency | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    progress: bool = True,
) -> EvaluationReport:
    """Score ``synthetic`` rows against the ``real_train`` rows they imitate.

    Args:
        real_test: real rows no generator saw; with ``target`` it enables ML efficiency, and it is the DCR holdout
            when ``holdout`` is not given.
        target: the column ML efficiency predicts; ``task`` ("classification" or "regression") is inferred from
            its dtype when not given.
        holdout: real rows the generator never saw, for the privacy section (DCR share and membership-inference
            attack); the larger of train and holdout is subsampled to the other's size, so a holdout as large as
            ``real_train`` (the other half of a 50/50 split) gives the standard protocol.
        validate: ``validate(row_dict) -> list of problems`` (e.g. ``TableSchema.validate``) for the validity rate.
        categorical_columns: columns to treat as categories although they hold numbers (integer codes).
        real_mle: the real-data ML efficiency computed earlier for the same data (a benchmark reuses it).
        n_jobs: XGBoost threads; keep it at most the idle cores (oversubscribed OpenMP threads spin).
    """
    kinds = infer_column_kinds(real_train, categorical_columns)
    check_columns(synthetic, kinds, "synthetic")
    if len(synthetic) == 0:
        raise ValueError("The synthetic data has no rows.")
    for frame, what in ((real_test, "real test"), (holdout, "holdout")):
        if frame is not None:
            check_columns(frame, kinds, what)
    if target is not None and target not in kinds.names:
        raise ValueError(f"Unknown target column {target!r}; the real data's columns are {kinds.names}.")
    if task is not None and task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; use one of {TASKS}.")

    real, fake = normalized(real_train, kinds), normalized(synthetic, kinds)
    test = None if real_test is None else normalized(real_test, kinds)
    unseen = test if holdout is None else normalized(holdout, kinds)
    rows = {"real_train": len(real), "synthetic": len(fake)}
    if test is not None:
        rows["real_test"] = len(test)
    if holdout is not None:
        rows["holdout"] = len(holdout)
    report = EvaluationReport(rows=rows, target=target)

    steps = tqdm(total=6, desc="evaluate", disable=not progress)

    def step(name: str) -> None:
        steps.set_postfix_str(name)
        steps.update(1)

    fidelity = shape_and_trend(real, fake, kinds)
    report.shape_error, report.trend_error = fidelity.shape_error, fidelity.trend_error
    report.column_shape_scores, report.pair_trend_scores = fidelity.column_scores, fidelity.pair_scores
    wrong = wrong_typed_numbers(synthetic, kinds)
    if wrong:
        # A value of the wrong type is a miss, not a value to leave out: the column's score counts only the rows
        # that hold numbers, and the shape error averages every column again.
        for name, (count, example) in wrong.items():
            score = report.column_shape_scores.get(name, math.nan)  # NaN when no value was a number
            report.column_shape_scores[name] = (score if math.isfinite(score) else 0.0) * (1 - count / len(fake))
            report.notes.append(f"Column {name!r}: {count} of {len(fake)} synthetic values are not numbers "
                                f"(e.g. {example!r}); they count as misses in its shape score.")
        report.shape_error = (1 - sum(report.column_shape_scores.values()) / len(report.column_shape_scores)) * 100
    step("shape and trend")

    if target is not None and test is not None:
        report.task = task or infer_task(real_train[target])
        report.mle_synthetic = ml_efficiency(fake, test, target, report.task, kinds, seed, "MLE synthetic", n_jobs)
        report.mle_real = real_mle or ml_efficiency(real, test, target, report.task, kinds, seed, "MLE real",
                                                    n_jobs)
        for result, rows_name in ((report.mle_synthetic, "synthetic"), (report.mle_real, "real training")):
            if result.note:
                report.notes.append(f"ML efficiency on the {rows_name} rows not computed: {result.note}.")
    else:
        report.notes.append("ML efficiency needs real_test and target; not computed.")
    step("ML efficiency")

    if unseen is not None:
        train_rows, holdout_rows = equal_size_references(len(real), len(unseen), seed)
        references = real.iloc[train_rows], unseen.iloc[holdout_rows]
        encoded = distance_space(*references, fake, kinds=kinds)
        report.privacy = privacy_metrics(*encoded, "holdout" if holdout is not None else "real test split")
        if len(real) != len(unseen):
            size = report.privacy.reference_rows
            report.notes.append(
                f"DCR compares with {size} training rows drawn at random to match the holdout's size; "
                f"a generator copying its training rows scores 0.5 + 0.5 * {size}/{len(real)} there. Give a "
                "holdout as large as the training rows (e.g. train on one half of the data) for the standard protocol."
            )
    else:
        report.notes.append("DCR and the membership-inference attack need a holdout (or real_test); not computed.")
    step("privacy")

    real_x, synthetic_x = distance_space(real, fake, kinds=kinds)
    report.alpha_precision, report.beta_recall = alpha_precision_beta_recall(real_x, synthetic_x)
    step("alpha-precision / beta-recall")

    detection = c2st_detection(real, fake, kinds, seed, n_jobs)
    report.c2st_score, report.c2st_xgboost_auc = detection.logistic_score, detection.xgboost_auc
    if detection.note:
        report.notes.append(f"C2ST not computed: {detection.note}.")
    step("C2ST")

    report.exact_copy_rate = exact_copy_rate(real, fake)
    report.duplicate_rate = duplicate_rate(fake)
    if validate is not None:
        report.validity_rate, report.invalid_examples = validity(synthetic[kinds.names], validate)
    else:
        report.notes.append("Validity needs a validate callable (e.g. TableSchema.validate); not computed.")
    step("row rates")
    steps.close()
    return report
