#!/usr/bin/env python
"""Privacy metrics and the sampling guard on a benchmark table's 50/50 halves, without training a generator:
known cases that bracket every generator (a copier, real rows no one trained on, half of each) show what the DCR
share and the membership-inference AUC read on real data, and the guard fitted on the training half shows how many
rows each mode rejects (unseen real rows should be rejected at about the quantile, copies always).

    python scripts/bench_privacy.py --data-dir ../shared/data --dataset adult

Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from hf_latent_diffusion_lm.benchmark_data import load_benchmark_dataset, privacy_halves
from hf_latent_diffusion_lm.data.table_schema import TableSchema
from hf_latent_diffusion_lm.evaluation import privacy_metrics
from hf_latent_diffusion_lm.evaluation.column_kinds import distance_space, infer_column_kinds, normalized
from hf_latent_diffusion_lm.privacy import PrivacyGuard


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--quantile", type=float, default=5.0, help="the dcr guard's percentile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_benchmark_dataset(args.dataset, args.data_dir)
    train, holdout = privacy_halves(data.train)
    size = min(len(train), len(data.test))
    unseen = data.test.sample(size, random_state=args.seed).reset_index(drop=True)  # real rows in neither half
    cases = {
        "copier (synthetic = training half)": train.sample(frac=1.0, random_state=args.seed),
        "unseen real rows (test split)": unseen,
        "half copies, half unseen": pd.concat([train.iloc[: size // 2], unseen.iloc[size // 2:]], ignore_index=True),
    }
    kinds = infer_column_kinds(train, data.categorical_columns)
    reference = [normalized(frame, kinds) for frame in (train, holdout)]
    print(f"{args.dataset}: training half {len(train)} rows, holdout half {len(holdout)} rows\n")
    print("| synthetic rows | rows | DCR share (→0.5) | distance-attack AUC (→0.5) | seconds |\n|---|---|---|---|---|")
    for name, frame in cases.items():
        start = time.perf_counter()
        encoded = distance_space(*reference, normalized(frame, kinds), kinds=kinds)
        result = privacy_metrics(*encoded, "holdout")
        print(f"| {name} | {len(frame)} | {result.dcr_share:.4f} | {result.distance_attack_auc:.4f} | "
              f"{time.perf_counter() - start:.0f} |")

    schema = TableSchema.infer(data.train, target=data.target, categorical=list(data.categorical_columns))
    start = time.perf_counter()
    guard = PrivacyGuard.fit(schema, schema.records(train), keep_reference=True, quantile=args.quantile,
                             seed=args.seed)
    fit_seconds = time.perf_counter() - start
    config = guard.config
    print(f"\nGuard fitted on the training half in {fit_seconds:.0f} s: {config.num_rows} distinct row hashes, "
          f"threshold {config.threshold:.4g} ({config.quantile:g}th percentile of {config.calibration_rows} held-back "
          f"rows' distances to the others; reference: all {config.reference_rows} training rows)\n")
    print("| rows checked | reject_copies rejects | dcr rejects | seconds |\n|---|---|---|---|")
    for name, frame in (("training half", train), ("holdout half", holdout), ("unseen real rows", unseen)):
        start = time.perf_counter()
        records = schema.records(frame)
        copies = guard.rejected(schema, records, "reject_copies").mean()
        near = guard.rejected(schema, records, "dcr").mean()
        print(f"| {name} ({len(frame)}) | {copies:.2%} | {near:.2%} | {time.perf_counter() - start:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
