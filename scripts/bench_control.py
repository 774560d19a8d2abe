#!/usr/bin/env python
"""Controllable generation on a benchmark table: guidance curve, hard vs pasted conditions, and completion.

For a trained pipeline (conditionable on ``--column``) and the real data under the TabSyn protocol:
  1. soft conditioning only (``hard_conditions=False``), over guidance scales: the share of rows that a classifier
     trained on real data assigns to the requested value (control accuracy), and the shape error of the other
     columns against the real rows that have that value;
  2. the same shape error for hard+soft conditioning, and for unconditional samples with the value pasted in;
  3. completion: real test rows with ``--column`` masked, filled by ``pipe.complete``; accuracy beside the
     majority class and beside XGBoost trained on the real training split.
Prints JSON; asserts nothing. Needs the [eval] extra.

    python scripts/bench_control.py --pipeline models/adult --data-dir ../shared/data --dataset adult \
        --column income --value ">50K" --num-samples 2000 --guidance-scales 1,1.5,2,3,5
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch
from xgboost import XGBClassifier

import hf_latent_diffusion_lm  # noqa: F401
from diffusers import DiffusionPipeline
from hf_latent_diffusion_lm import Conditions
from hf_latent_diffusion_lm.benchmark_data import load_benchmark_dataset
from hf_latent_diffusion_lm.evaluation import infer_column_kinds, shape_and_trend
from hf_latent_diffusion_lm.evaluation.column_kinds import make_encoder


def classifier_for(column: str, train, kinds):
    """XGBoost predicting ``column`` from the other columns of the real training split."""
    features = [c for c in train.columns if c != column]
    sub_kinds = type(kinds)(tuple(c for c in kinds.numerical if c != column),
                            tuple(c for c in kinds.categorical if c != column))
    encoder = make_encoder(sub_kinds, scale_numerical=False).fit(train[features])
    labels = train[column].astype(str)
    classes = sorted(labels.unique())
    model = XGBClassifier(n_estimators=200, max_depth=6, n_jobs=-1)
    model.fit(encoder.transform(train[features]), labels.map(classes.index))

    def predict(frame):
        return [classes[i] for i in model.predict(encoder.transform(frame[features]))]

    return predict


def other_columns_shape_error(real_subset, synthetic, column, kinds) -> float:
    others = [c for c in real_subset.columns if c != column]
    sub_kinds = type(kinds)(tuple(c for c in kinds.numerical if c in others),
                            tuple(c for c in kinds.categorical if c in others))
    return shape_and_trend(real_subset[others], synthetic[others], sub_kinds).shape_error


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--column", default="income")
    parser.add_argument("--value", default=">50K")
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--guidance-scales", default="1,1.5,2,3,5")
    parser.add_argument("--completion-rows", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_benchmark_dataset(args.dataset, args.data_dir)
    pipe = DiffusionPipeline.from_pretrained(args.pipeline).to(args.device)
    pipe.set_progress_bar_config(disable=True)
    columns = pipe.schema.names  # the columns the pipeline was trained on
    data = dataclasses.replace(data, train=data.train[columns], test=data.test[columns])
    kinds = infer_column_kinds(data.train, [c for c in data.categorical_columns if c in columns])
    predict = classifier_for(args.column, data.train, kinds)
    subset = data.train[data.train[args.column].astype(str) == str(args.value)]
    results = {"dataset": args.dataset, "condition": {args.column: args.value}, "num_samples": args.num_samples}

    def sample(**kwargs):
        generator = torch.Generator().manual_seed(args.seed)
        return pipe(num_samples=args.num_samples, generator=generator, output_type="pandas", **kwargs).records

    unconditional = sample()
    results["unconditional_shape_error_vs_all_real"] = shape_and_trend(data.train, unconditional, kinds).shape_error
    pasted = unconditional.assign(**{args.column: args.value})
    results["pasted_shape_error_vs_condition_rows"] = other_columns_shape_error(subset, pasted, args.column, kinds)
    curve = []
    for scale in [float(s) for s in args.guidance_scales.split(",")]:
        soft = sample(conditions=Conditions({args.column: args.value}, force=False), guidance_scale=scale)
        hard = sample(conditions={args.column: args.value}, guidance_scale=scale)
        curve.append({
            "guidance_scale": scale,
            "soft_control_accuracy": float(np.mean([p == str(args.value) for p in predict(soft)])),
            "soft_requested_value_share": float((soft[args.column].astype(str) == str(args.value)).mean()),
            "soft_shape_error_vs_condition_rows": other_columns_shape_error(subset, soft, args.column, kinds),
            "hard_shape_error_vs_condition_rows": other_columns_shape_error(subset, hard, args.column, kinds),
        })
    results["guidance_curve"] = curve

    test = data.test.sample(n=min(args.completion_rows, len(data.test)), random_state=args.seed)
    masked = test.copy()
    masked[args.column] = None
    filled = pipe.complete(masked, generator=torch.Generator().manual_seed(args.seed))
    truth = test[args.column].astype(str).tolist()
    results["completion"] = {
        "rows": len(test),
        "accuracy": float(np.mean([a == b for a, b in zip(filled[args.column].astype(str), truth)])),
        "majority_class_accuracy": float(np.mean([t == data.train[args.column].astype(str).mode()[0] for t in truth])),
        "xgboost_on_real_accuracy": float(np.mean([a == b for a, b in zip(predict(test), truth)])),
    }
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
