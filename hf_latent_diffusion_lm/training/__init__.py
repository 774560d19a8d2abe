"""Training: stage 1 (latent VAE against the frozen LM), stage 2 (latent diffusion prior), and both at once."""

from .beta_schedule import BetaDecision, DecreasingBetaSchedule
from .diffusion_training import DiffusionTrainingConfig, train_diffusion
from .fit import fit_pipeline
from .vae_training import VAETrainingConfig, train_vae

__all__ = [
    "BetaDecision",
    "DecreasingBetaSchedule",
    "DiffusionTrainingConfig",
    "VAETrainingConfig",
    "fit_pipeline",
    "train_diffusion",
    "train_vae",
]
