#!/usr/bin/env python
"""What ``--min-category-count`` and ``--range-quantile`` cost in fidelity, before any model is trained.

A generator fitted on the generalised table can at best reproduce that table, so the shape and trend errors of the
generalised training table itself are the floor the options set: scored here against the real test split (unseen
rows, the cost to a user) and against the raw training split (the reference ``scripts/benchmark.py`` scores samples
against). ``k=1, q=0`` is the raw table. Model-free and cheap; prints a Markdown table (and JSON with ``--json``).

The trend error is given twice. sdmetrics' ``QualityReport`` (the package's ``shape_and_trend``, the benchmark's
number) bins each table's numbers on that table's own range, so a clipped range moves every bin edge of the column
and its pairs with categories look changed even where no row moved bin; the aligned trend error bins both tables
at the reference's edges (sdmetrics' ``ContingencySimilarity`` with continuous columns), which is what clipping
costs the data itself.

    python scripts/bench_rare_values.py /work/shared/data/adult
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity

from hf_latent_diffusion_lm.benchmark_data import load_benchmark_dataset
from hf_latent_diffusion_lm.data import TableSchema
from hf_latent_diffusion_lm.data.rare_values import protect_rare_values
from hf_latent_diffusion_lm.evaluation import infer_column_kinds, shape_and_trend
from hf_latent_diffusion_lm.evaluation.column_kinds import normalized

COUNTS = (1, 5, 20)
QUANTILES = (0.0, 0.5, 1.0)


def aligned_trend_error(reference, table, kinds) -> float:
    """The trend error with every number binned at the reference's bin edges (see the module docstring)."""
    scores = []
    for pair in itertools.combinations(kinds.names, 2):
        numbers = [name for name in pair if name in kinds.numerical]
        real, other = reference[list(pair)], table[list(pair)]
        scores.append(CorrelationSimilarity.compute(real, other) if len(numbers) == 2 else
                      ContingencySimilarity.compute(real, other, continuous_column_names=numbers or None))
    return float((1 - np.mean(scores)) * 100)


def measure(data_path: str) -> list[dict]:
    path = Path(data_path)
    data = load_benchmark_dataset(path.name, path.parent)
    schema = TableSchema.infer(data.train, target=data.target)  # the kinds ``ldlm fit`` would infer
    kinds = infer_column_kinds(data.train, data.categorical_columns)  # the kinds the benchmark scores with
    references = {"test": normalized(data.test, kinds), "train": normalized(data.train, kinds)}
    results = []
    for count in COUNTS:
        for quantile in QUANTILES:
            generalised, report = protect_rare_values(data.train, schema, count, quantile)
            row = {"dataset": data.name, "min_category_count": count, "range_quantile": quantile,
                   "categories_merged": sum(change.merged_categories for change in report.columns),
                   "rows_merged": sum(change.merged_rows for change in report.columns),
                   "values_clipped": sum(change.clipped_rows for change in report.columns)}
            table = normalized(generalised, kinds)
            for name, reference in references.items():
                scores = shape_and_trend(reference, table, kinds)
                row[f"shape_vs_{name}"], row[f"trend_vs_{name}"] = scores.shape_error, scores.trend_error
                row[f"aligned_trend_vs_{name}"] = aligned_trend_error(reference, table, kinds)
            results.append(row)
            print(f"k={count} q={quantile}: {row}", flush=True)
    return results


def markdown(results: list[dict]) -> str:
    lines = ["| k | q | categories merged (rows) | values clipped | vs test: shape err % | trend err % | aligned "
             "trend err % | vs train: shape err % | trend err % | aligned trend err % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['min_category_count']} | {r['range_quantile']:g} | {r['categories_merged']} ({r['rows_merged']}) "
              f"| {r['values_clipped']} | " + " | ".join(f"{r[f'{metric}_vs_{name}']:.2f}" for name in ("test", "train")
                                                     for metric in ("shape", "trend", "aligned_trend")) + " |"
              for r in results]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a benchmark table's folder, e.g. /work/shared/data/adult (its name picks the "
                                     "loader in hf_latent_diffusion_lm.benchmark_data)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    results = measure(args.data)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
