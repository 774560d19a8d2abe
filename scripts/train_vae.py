#!/usr/bin/env python
"""Stage 1: train the latent VAE against the frozen decoder.

    python scripts/train_vae.py --data table.csv --output_dir runs/adult --preset small --max_steps 3000
    accelerate launch --config_file scripts/accelerate_configs/multi_gpu.yaml scripts/train_vae.py --data ...
    python scripts/train_vae.py ... --resume_from_checkpoint latest        # after a crash
"""

import sys

from transformers import HfArgumentParser

from hf_latent_diffusion_lm.errors import exit_status
from hf_latent_diffusion_lm.training import VAETrainingConfig, train_vae

if __name__ == "__main__":  # the config checks its options when built: inside, to report them in one line too
    parser = HfArgumentParser(VAETrainingConfig, description=__doc__)
    sys.exit(exit_status("train_vae.py", lambda: train_vae(*parser.parse_args_into_dataclasses())))
