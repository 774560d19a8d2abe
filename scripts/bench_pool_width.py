#!/usr/bin/env python
"""Rows per second of ``generate_records`` on a trained pipeline for several slot-pool widths and chunk sizes.

    python scripts/bench_pool_width.py adult-model --threads 2 --rows 1024 --configurations 128x1024,256x1024,512x1024
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline class with diffusers)
from diffusers import DiffusionPipeline
from hf_latent_diffusion_lm.sampling.table_sampling import generate_records

CONFIGURATIONS = "64x256,64x1024,128x1024,256x1024"  # slots x rows per pipeline call


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--configurations", default=CONFIGURATIONS, help="comma-separated SLOTSxCHUNK pairs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = DiffusionPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    generate_records(pipe, 8, seed=1, chunk_size=8)  # warm-up: grammar compilation, first allocations
    results = []
    for slots, chunk in (map(int, pair.split("x")) for pair in args.configurations.split(",")):
        start = time.perf_counter()
        frame = generate_records(pipe, args.rows, seed=0, chunk_size=chunk, decoding={"batch_size": slots})
        seconds = time.perf_counter() - start
        results.append({"slots": slots, "chunk": chunk, "rows": len(frame), "seconds": round(seconds, 1),
                        "rows_per_s": round(len(frame) / seconds, 2), "validity": frame.attrs["validity"]})
        print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
