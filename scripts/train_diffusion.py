#!/usr/bin/env python
"""Stage 2: learn the latent prior on stage 1's latents and save the complete pipeline.

    python scripts/train_diffusion.py --vae_dir runs/adult --output_dir models/adult --condition_columns income
"""

import sys

from transformers import HfArgumentParser

from hf_latent_diffusion_lm.errors import exit_status
from hf_latent_diffusion_lm.training import DiffusionTrainingConfig, train_diffusion

if __name__ == "__main__":  # the config checks its options when built: inside, to report them in one line too
    parser = HfArgumentParser(DiffusionTrainingConfig, description=__doc__)
    sys.exit(exit_status("train_diffusion.py", lambda: train_diffusion(*parser.parse_args_into_dataclasses())))
