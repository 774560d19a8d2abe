#!/usr/bin/env python
"""Write N synthetic records from a trained pipeline to CSV, JSON Lines or Parquet (same as `ldlm sample`).

    python scripts/generate.py models/adult -n 10000 --out synthetic.parquet --seed 0

With a folder as ``--out`` the rows go to Parquet shards as they are sampled (rerun to resume), and a
multi-process launch splits the shards over processes/GPUs, each shard from its own seed, so the folder holds the
same rows whatever the number of processes (``datasets.load_dataset("parquet", data_dir="synthetic")`` reads it):

    accelerate launch --multi_gpu --num_processes 8 scripts/generate.py models/adult -n 10000000 --out synthetic/
    accelerate launch --multi_gpu --num_processes 2 scripts/generate.py models/adult -n 1000 --out synthetic/  # CPU

(On a machine without GPUs ``--multi_gpu`` starts the processes with torchrun and they share the work over gloo;
``accelerate launch --cpu`` starts several processes only through MPI.)
"""

import sys

from hf_latent_diffusion_lm.cli import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]], prog="generate.py"))
