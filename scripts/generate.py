#!/usr/bin/env python
"""Write N synthetic records from a trained pipeline to CSV, JSON Lines or Parquet (same as `ldlm sample`).

    python scripts/generate.py models/adult -n 10000 --out synthetic.parquet --seed 0
"""

import sys

from hf_latent_diffusion_lm.cli import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]]))
