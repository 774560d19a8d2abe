#!/usr/bin/env python
"""Stage 2 alone, measured in latent space: how close a denoiser's sampled latents come to the real ones.

Encodes a table's rows with a trained pipeline's VAE, trains a fresh denoiser (the pipeline's architecture) for a
fixed number of steps, with or without the exponential moving average of its weights, samples as many latents as
it holds out, and prints a classifier two-sample test (logistic and XGBoost ROC-AUC, 3-fold; 0.5: indistinguishable)
and the mean per-dimension Kolmogorov-Smirnov statistic. No decoding: a cheap, direct measure of the prior.

    OMP_NUM_THREADS=1 taskset -c 0 python scripts/bench_prior.py adult-model train.csv --steps 2000 --ema-decay 0
    OMP_NUM_THREADS=1 taskset -c 0 python scripts/bench_prior.py adult-model train.csv --steps 2000 --ema-decay 0.999
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
from diffusers import DiffusionPipeline
from hf_latent_diffusion_lm.data import read_table
from hf_latent_diffusion_lm.modeling import LatentDenoiserMLP
from hf_latent_diffusion_lm.training.diffusion_training import WeightAverage


def two_sample_scores(real: np.ndarray, sampled: np.ndarray) -> dict:
    from scipy.stats import ks_2samp
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from xgboost import XGBClassifier

    features, labels = np.concatenate([real, sampled]), np.r_[np.zeros(len(real)), np.ones(len(sampled))]
    auc = {name: float(cross_val_score(model, features, labels, cv=3, scoring="roc_auc").mean())
           for name, model in (("c2st_logistic", LogisticRegression(max_iter=2000)),
                               ("c2st_xgboost", XGBClassifier(n_estimators=200, max_depth=4, n_jobs=1)))}
    ks = float(np.mean([ks_2samp(real[:, j], sampled[:, j]).statistic for j in range(real.shape[1])]))
    return {**{k: round(v, 4) for k, v in auc.items()}, "mean_ks": round(ks, 4)}


def encoded_rows(pipe, data: str, limit: int | None = None) -> torch.Tensor:
    """The pipeline VAE's latents of the table's rows (of ``limit`` of them, drawn at random), ``(rows, latent_dim)``."""
    frame = read_table(data)[pipe.schema.names]
    if limit is not None:
        frame = frame.sample(frac=1.0, random_state=0).head(limit)
    texts = [pipe.schema.to_text(r) for r in pipe.schema.records(frame)]
    return pipe.vae.encode_texts(texts, pipe.tokenizer, pipe.encoder_tokenizer)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", help="a trained pipeline folder (its VAE encodes the rows)")
    parser.add_argument("data", help="the training table (CSV/Parquet) the pipeline was fitted on")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--ema-decay", type=float, default=0.999, help="0: the raw weights")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--held-out", type=int, default=8000, help="real latents held out (and latents sampled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma-data", type=float, default=None,
                        help="EDM's data standard deviation (default: the pipeline denoiser's)")
    parser.add_argument("--inference-steps", type=int, default=20, help="steps of the pipeline's sampler")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    pipe = DiffusionPipeline.from_pretrained(args.pipeline)
    latents = encoded_rows(pipe, args.data)
    template = pipe.denoiser.config
    sigma_data = template.sigma_data if args.sigma_data is None else args.sigma_data
    denoiser = LatentDenoiserMLP(latent_dim=template.latent_dim, hidden_dim=template.hidden_dim,
                                 num_layers=template.num_layers, sigma_data=sigma_data)
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, sigma_data=sigma_data)
    denoiser.set_latent_statistics(latents.mean(0), latents.std(0))
    normalized = denoiser.normalize(latents)
    order = torch.randperm(len(normalized))
    held_out, train = normalized[order[: args.held_out]], normalized[order[args.held_out :]]
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=1e-3)
    average = WeightAverage(denoiser, args.ema_decay)
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = denoiser.edm_loss(train[torch.randint(len(train), (args.batch_size,))])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average.step()
    seconds = time.perf_counter() - started
    with average.averaged():
        pipe.denoiser = denoiser.eval()
        sampled = denoiser.normalize(pipe.sample_latents(len(held_out), args.inference_steps,
                                                         generator=torch.Generator().manual_seed(1)))
    result = {"steps": args.steps, "ema_decay": args.ema_decay, "sigma_data": sigma_data,
              "inference_steps": args.inference_steps, "train_seconds": round(seconds),
              **two_sample_scores(held_out.numpy(), sampled.numpy())}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
