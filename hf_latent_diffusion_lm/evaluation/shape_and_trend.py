"""Shape (per column) and trend (per column pair) fidelity, scored by sdmetrics' ``QualityReport``.

sdmetrics scores columns with the KS complement (numbers) or the TV complement (categories), and pairs with the
correlation similarity (two numbers) or the contingency similarity (otherwise); TabSyn reports
``(1 - score) * 100`` as the shape and trend errors in percent, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sdmetrics.reports import QualityReport

from .column_kinds import ColumnKinds

TABLE = "table"


@dataclass
class ShapeAndTrend:
    shape_error: float  # percent
    trend_error: float  # percent
    column_scores: dict[str, float]  # column -> shape score in [0, 1]
    pair_scores: list[dict]  # {"columns": [a, b], "metric": ..., "score": ...}


def shape_and_trend(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: ColumnKinds) -> ShapeAndTrend:
    """Shape and trend errors of ``synthetic`` against ``real`` (both normalized to ``kinds``)."""
    report = QualityReport()
    metadata = {"tables": {TABLE: kinds.sdmetrics_metadata()}}
    report.generate({TABLE: real}, {TABLE: synthetic}, metadata, verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    shapes = report.get_details("Column Shapes")
    pairs = report.get_details("Column Pair Trends")
    return ShapeAndTrend(
        shape_error=float((1 - properties["Column Shapes"]) * 100),
        trend_error=float((1 - properties["Column Pair Trends"]) * 100),
        column_scores={row.Column: float(row.Score) for row in shapes.itertuples()},
        pair_scores=[
            {"columns": [row[0], row[1]], "metric": row[2], "score": float(row[3])}
            for row in pairs[["Column 1", "Column 2", "Metric", "Score"]].itertuples(index=False)
        ],
    )
