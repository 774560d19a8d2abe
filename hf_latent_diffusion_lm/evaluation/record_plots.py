"""One figure for a record evaluation: the headline rates, diversity real vs synthetic, and the worst paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WORST_PATHS = 15


def plot_record_evaluation(report, path: Path) -> None:
    """Three panels (object API on the Agg canvas, headless): rates, diversity, least similar paths."""
    figure = Figure(figsize=(16, 5), layout="constrained")
    FigureCanvasAgg(figure)
    rates, paths_axes, diversity_axes = figure.subplots(1, 3, width_ratios=[1.1, 1.4, 1.0])

    headline = {key: value for key, value in report.headline().items() if value is not None}
    rates.barh(list(headline)[::-1], list(headline.values())[::-1], color="tab:blue")
    rates.set_xlim(0, 1)
    rates.set_title("Rates and scores (see report.md for ↑/↓)")
    for position, value in enumerate(list(headline.values())[::-1]):
        rates.text(min(value, 0.85) + 0.01, position, f"{value:.2f}", va="center", fontsize=8)

    scored = sorted(((p, s["score"]) for p, s in report.path_scores.items() if s["score"] is not None),
                    key=lambda item: item[1])[:WORST_PATHS]
    paths_axes.barh([p[:60] for p, _ in scored][::-1], [s for _, s in scored][::-1], color="tab:orange")
    paths_axes.set_xlim(0, 1)
    paths_axes.tick_params(axis="y", labelsize=7)
    paths_axes.set_title("Least similar paths (types, lengths, values; 1 is ideal)")

    def shares(found: dict) -> dict:
        """Distinct counts per call (the two sides have different sizes) and distinct-n as they are."""
        per_call = {k.replace("distinct_", "") + " / call": v / max(found.get("calls", 0), 1)
                    for k, v in found.items() if k in ("distinct_function_names", "distinct_argument_key_sets")}
        return {**per_call, **{k.replace("_", "-"): v for k, v in found.items() if k[-1].isdigit()}}

    real, fake = shares(report.diversity["real"]), shares(report.diversity["synthetic"])
    names = list(real)
    real, fake = [real[n] for n in names], [fake.get(n, 0.0) for n in names]
    positions = np.arange(len(names))
    diversity_axes.bar(positions - 0.2, real, width=0.4, label="real", color="tab:blue")
    diversity_axes.bar(positions + 0.2, fake, width=0.4, label="synthetic", color="tab:orange")
    diversity_axes.set_xticks(positions, [n.replace("_", " ") for n in names], fontsize=8, rotation=20)
    diversity_axes.set_title("Diversity (higher: more varied)")
    diversity_axes.legend(fontsize=8)
    figure.savefig(path, dpi=80)
