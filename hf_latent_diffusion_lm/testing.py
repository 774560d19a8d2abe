"""A complete, randomly initialised tiny pipeline, built offline, for tests, docs and benchmarks.

The tiny models themselves are the ``tiny`` preset's (:mod:`hf_latent_diffusion_lm.tiny_models`).
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from .tiny_models import tiny_decoder, tiny_decoder_config, tiny_encoder_config, tiny_tokenizer

__all__ = ["tiny_decoder", "tiny_decoder_config", "tiny_encoder_config", "tiny_gpt2_decoder", "tiny_pipeline",
           "tiny_tokenizer"]


def tiny_gpt2_decoder(seed: int = 0) -> GPT2LMHeadModel:
    """A randomly initialised 2-layer GPT-2 over the tiny tokenizer: absolute position embeddings, where the tiny
    Llama has rotary ones (code that places tokens by position must handle both)."""
    config = GPT2Config(vocab_size=257, n_embd=64, n_layer=2, n_head=4, n_positions=512, bos_token_id=256,
                        eos_token_id=256, pad_token_id=256)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config).eval()


def tiny_pipeline(seed: int = 0, injection_method: str = "soft_prompt", latent_dim: int = 8, schema=None,
                  max_new_tokens: int = 64, decoder=None):
    """A complete, randomly initialised :class:`LatentDiffusionLMPipeline` (tiny BERT -> tiny Llama, or the
    given ``decoder`` over the tiny tokenizer)."""
    from diffusers import EDMEulerScheduler

    from .modeling import LatentDenoiserMLP, LatentVAEConfig, LatentVAEModel
    from .pipelines import LatentDiffusionLMPipeline

    decoder = decoder if decoder is not None else tiny_decoder(seed)
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
