#!/usr/bin/env python
"""Does storing the denoiser's weights in bfloat16 change what a trained pipeline samples? (#22 item 8)

A fitted pipeline saves its denoiser in bfloat16 (``LatentDenoiserMLP.store_weights_in``), which halves the
largest file of a nested-record pipeline. This loads a pipeline saved before that, samples the prior with its
float32 weights and with the same weights rounded to bfloat16, from the same noise, and prints:

- how far the paired latents move (mean absolute difference over the latents' spread);
- a classifier two-sample test and the mean Kolmogorov-Smirnov statistic of each against real latents (the rows of
  DATA encoded), beside the float32 weights with other noise: the run-to-run spread the change must stay within;
- how many records decode to the same text, greedily (sampled tokens would make one changed row shift the random
  numbers of every row after it).

    python scripts/bench_weight_storage.py adult-model train.csv --num-latents 8000 --num-rows 1000
"""

from __future__ import annotations

import argparse
import copy
import json

import torch

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
from bench_prior import encoded_rows, two_sample_scores  # scripts/ is on sys.path when this runs as a script
from diffusers import DiffusionPipeline


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", help="a trained table pipeline folder, saved with float32 denoiser weights")
    parser.add_argument("data", help="the table it was fitted on (its rows are encoded as the real latents)")
    parser.add_argument("--num-latents", type=int, default=8000)
    parser.add_argument("--num-rows", type=int, default=1000, help="records decoded with each set of weights")
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args(argv)

    pipe = DiffusionPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    real = encoded_rows(pipe, args.data, args.num_latents)
    full = pipe.denoiser
    rounded = copy.deepcopy(full)
    rounded.store_weights_in(args.dtype)

    def latents(denoiser, seed: int) -> torch.Tensor:
        pipe.denoiser = denoiser
        return pipe.sample_latents(len(real), generator=torch.Generator().manual_seed(seed))

    def texts(denoiser) -> list[str]:
        pipe.denoiser = denoiser
        return pipe(args.num_rows, generator=torch.Generator().manual_seed(3), decoding={"do_sample": False}).texts

    same_noise, other_noise, stored = latents(full, 1), latents(full, 2), latents(rounded, 1)
    spread = real.std(0)
    scale = lambda z: (z / spread).numpy()  # noqa: E731
    full_texts, stored_texts = texts(full), texts(rounded)
    result = {
        "dtype": args.dtype,
        "paired_latent_shift_over_spread": round(float(((stored - same_noise).abs() / spread).mean()), 5),
        "float32": two_sample_scores(scale(real), scale(same_noise)),
        "float32_other_noise": two_sample_scores(scale(real), scale(other_noise)),
        args.dtype: two_sample_scores(scale(real), scale(stored)),
        "same_greedy_text_share": round(sum(a == b for a, b in zip(full_texts, stored_texts)) / len(full_texts), 4),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
