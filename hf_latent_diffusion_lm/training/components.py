"""Building a fresh latent VAE around a frozen decoder from a preset or explicit model names."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import BertConfig

from ..modeling import LatentVAEConfig, LatentVAEModel
from ..pretrained import ModelSource, load_decoder, load_encoder, resolve_preset
from ..testing import tiny_decoder, tiny_encoder_config, tiny_tokenizer


@dataclass
class VAEComponents:
    vae: LatentVAEModel
    decoder: torch.nn.Module
    tokenizer: object
    encoder_tokenizer: object | None
    encoder_source: ModelSource | None  # None: trained from scratch
    decoder_source: ModelSource | None  # None: the random tiny decoder


def scratch_encoder_config(vocab_size: int, pad_token_id: int, hidden_size: int = 256,
                           num_layers: int = 4) -> BertConfig:
    """A small BERT trained from scratch over the decoder's tokens (what DESIGN.md §8 measured steering with)."""
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                      num_attention_heads=max(1, hidden_size // 64), intermediate_size=4 * hidden_size,
                      max_position_embeddings=1024, pad_token_id=pad_token_id)


def build_vae_components(
    preset: str = "small",
    encoder: str | None = None,
    decoder: str | None = None,
    decoder_gguf_file: str | None = None,
    injection_method: str = "soft_prompt",
    latent_dim: int | None = None,
    num_soft_tokens: int | None = None,
    seed: int = 0,
) -> VAEComponents:
    """A fresh VAE (random injector and posterior; pretrained or scratch encoder) attached to a frozen decoder.

    ``encoder``/``decoder`` override the preset's models (a local path or a Hub id); ``encoder="scratch"`` trains a
    small encoder over the decoder's tokens.
    """
    spec = resolve_preset(preset)
    decoder_source = ModelSource(decoder, decoder_gguf_file) if decoder else spec.decoder
    encoder_source = spec.encoder if encoder is None else (None if encoder == "scratch" else ModelSource(encoder))
    options = dict(
        latent_dim=latent_dim or spec.latent_dim,
        num_soft_tokens=num_soft_tokens or spec.num_soft_tokens,
        injector_hidden_size=spec.injector_hidden_size,
        injection_method=injection_method,
    )
    if decoder_source is None:
        frozen, tokenizer = tiny_decoder(seed), tiny_tokenizer()
    else:
        frozen, tokenizer = load_decoder(decoder_source)
        options.update(decoder_name_or_path=decoder_source.name_or_path, decoder_gguf_file=decoder_source.gguf_file)
    torch.manual_seed(seed)
    if encoder_source is None:
        encoder_config = (tiny_encoder_config() if decoder_source is None
                          else scratch_encoder_config(len(tokenizer), tokenizer.eos_token_id))
        config = LatentVAEConfig.for_decoder(frozen.config, encoder_config=encoder_config.to_dict(),
                                             **{"pooling": "first"} if decoder_source is None else {}, **options)
        return VAEComponents(LatentVAEModel(config, decoder=frozen), frozen, tokenizer, None, None, decoder_source)
    encoder_model, encoder_tokenizer = load_encoder(encoder_source)
    vae = LatentVAEModel.from_encoder_pretrained(encoder_model, frozen, **options)
    vae.config.encoder_name_or_path = encoder_source.name_or_path
    return VAEComponents(vae, frozen, tokenizer, encoder_tokenizer, encoder_source, decoder_source)
