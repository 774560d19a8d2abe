"""Figures a reader checks a report with: each column's real vs synthetic distribution, and where pair trends differ.

Figures are built with matplotlib's object API on the Agg canvas, so plotting works headless and never changes the
caller's pyplot backend or state.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .column_kinds import ColumnKinds

MAX_CATEGORIES_SHOWN = 12
GRID_COLUMNS = 4


def _numerical_panel(axes, real: pd.Series, synthetic: pd.Series) -> None:
    values = real.dropna()
    low, high = np.quantile(values, [0.005, 0.995]) if len(values) else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    bins = np.linspace(low, high, 31)
    for series, label, colour in ((real, "real", "tab:blue"), (synthetic, "synthetic", "tab:orange")):
        axes.hist(series.dropna().clip(low, high), bins=bins, density=True, alpha=0.5, label=label, color=colour)


def _categorical_panel(axes, real: pd.Series, synthetic: pd.Series) -> None:
    real_share = real.value_counts(normalize=True)
    synthetic_share = synthetic.value_counts(normalize=True)
    shown = list(real_share.index[:MAX_CATEGORIES_SHOWN])
    positions = np.arange(len(shown))
    axes.bar(positions - 0.2, real_share.reindex(shown).to_numpy(), width=0.4, label="real", color="tab:blue")
    axes.bar(positions + 0.2, synthetic_share.reindex(shown, fill_value=0.0).to_numpy(), width=0.4,
             label="synthetic", color="tab:orange")
    axes.set_xticks(positions, [str(name)[:12] for name in shown], rotation=60, ha="right", fontsize=7)


def plot_column_distributions(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: ColumnKinds, path: Path) -> None:
    """One grid figure: a histogram per numerical column, bars of the most frequent categories per categorical one
    (normalized frames)."""
    names = kinds.names
    rows = math.ceil(len(names) / GRID_COLUMNS)
    figure = Figure(figsize=(4 * GRID_COLUMNS, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, GRID_COLUMNS, index + 1)
        panel = _numerical_panel if name in kinds.numerical else _categorical_panel
        panel(axes, real[name], synthetic[name])
        axes.set_title(str(name), fontsize=9)
        if index == 0:
            axes.legend(fontsize=7)
    figure.savefig(path, dpi=80)


def plot_trend_differences(pair_scores: list[dict], names: list[str], path: Path) -> None:
    """A heatmap of ``1 - score`` per column pair (sdmetrics' trend similarity): bright cells are the pairs whose
    correlation or contingency the synthetic data gets wrong."""
    matrix = np.full((len(names), len(names)), np.nan)
    position = {name: index for index, name in enumerate(names)}
    for pair in pair_scores:
        first, second = (position[name] for name in pair["columns"])
        score = pair["score"]
        matrix[first, second] = matrix[second, first] = np.nan if score is None else 1.0 - score
    size = max(5.0, 0.45 * len(names) + 2)
    figure = Figure(figsize=(size, size), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="magma", vmin=0.0, vmax=max(0.05, float(np.nanmax(matrix, initial=0.0))))
    axes.set_xticks(range(len(names)), [str(name) for name in names], rotation=90, fontsize=7)
    axes.set_yticks(range(len(names)), [str(name) for name in names], fontsize=7)
    axes.set_title("Pair trend error (1 - sdmetrics score)")
    figure.colorbar(image, ax=axes, shrink=0.8)
    figure.savefig(path, dpi=80)
