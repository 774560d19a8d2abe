#!/usr/bin/env python
"""Stage 1: train the latent VAE against the frozen decoder.

    python scripts/train_vae.py --data table.csv --output_dir runs/adult --preset small --max_steps 3000
    accelerate launch --config_file scripts/accelerate_configs/multi_gpu.yaml scripts/train_vae.py --data ...
    python scripts/train_vae.py ... --resume_from_checkpoint latest        # after a crash
"""

from transformers import HfArgumentParser

from hf_latent_diffusion_lm.training import VAETrainingConfig, train_vae

if __name__ == "__main__":
    (config,) = HfArgumentParser(VAETrainingConfig, description=__doc__).parse_args_into_dataclasses()
    train_vae(config)
