"""A complete, randomly initialised tiny pipeline, built offline, for tests, docs and benchmarks.

The tiny models themselves are the ``tiny`` preset's (:mod:`hf_latent_diffusion_lm.tiny_models`).
"""

from __future__ import annotations

import torch

from .tiny_models import tiny_decoder, tiny_decoder_config, tiny_encoder_config, tiny_tokenizer

__all__ = ["tiny_decoder", "tiny_decoder_config", "tiny_encoder_config", "tiny_pipeline", "tiny_tokenizer"]


def tiny_pipeline(seed: int = 0, injection_method: str = "soft_prompt", latent_dim: int = 8, schema=None,
                  max_new_tokens: int = 64):
    """A complete, randomly initialised :class:`LatentDiffusionLMPipeline` (tiny BERT -> tiny Llama)."""
    from diffusers import EDMEulerScheduler

    from .modeling import LatentDenoiserMLP, LatentVAEConfig, LatentVAEModel
    from .pipelines import LatentDiffusionLMPipeline

    decoder = tiny_decoder(seed)
    config = LatentVAEConfig.for_decoder(
        decoder.config,
        encoder_config=tiny_encoder_config().to_dict(),
        latent_dim=latent_dim,
        injection_method=injection_method,
        num_soft_tokens=4,
        injector_hidden_size=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = LatentVAEModel(config)
        denoiser = LatentDenoiserMLP(latent_dim=latent_dim, hidden_dim=64, num_layers=2, noise_embedding_dim=32)
    return LatentDiffusionLMPipeline(
        vae=vae, denoiser=denoiser, scheduler=EDMEulerScheduler(), decoder=decoder, tokenizer=tiny_tokenizer(),
        schema=schema, max_new_tokens=max_new_tokens,
    )
