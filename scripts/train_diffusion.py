#!/usr/bin/env python
"""Stage 2: learn the latent prior on stage 1's latents and save the complete pipeline.

    python scripts/train_diffusion.py --vae_dir runs/adult --output_dir models/adult --condition_columns income
"""

from transformers import HfArgumentParser

from hf_latent_diffusion_lm.training import DiffusionTrainingConfig, train_diffusion

if __name__ == "__main__":
    (config,) = HfArgumentParser(DiffusionTrainingConfig, description=__doc__).parse_args_into_dataclasses()
    train_diffusion(config)
