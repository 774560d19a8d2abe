"""The parts a training run works with: the frozen decoder side (decoder, tokenizers, reference) and a VAE."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import BertConfig

from ..decoder_reference import DecoderReference
from ..modeling import LatentVAEConfig, LatentVAEModel
from ..pretrained import (
    ModelSource,
    Preset,
    decoder_reference,
    keep_first_layers,
    load_decoder_and_tokenizer,
    load_encoder,
    load_encoder_tokenizer,
)
from ..tiny_models import TINY_DECODER_ID, tiny_decoder, tiny_encoder_config, tiny_tokenizer


@dataclass
class DecoderSide:
    """The frozen decoder with its tokenizer, the encoder's tokenizer, and where both models come from."""

    decoder: torch.nn.Module
    tokenizer: object
    encoder_tokenizer: object | None  # None: the encoder reads the decoder's tokens
    reference: DecoderReference
    encoder_source: ModelSource | None  # None: an encoder trained from scratch


@dataclass
class VAEComponents:
    """A VAE and the decoder side it is trained against (what stage 1 hands to stage 2)."""

    vae: LatentVAEModel
    side: DecoderSide


def scratch_encoder_config(vocab_size: int, pad_token_id: int, hidden_size: int = 256,
                           num_layers: int = 4) -> BertConfig:
    """A small BERT trained from scratch over the decoder's tokens (this size steered a frozen 135M decoder on a GPU)."""
    return BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                      num_attention_heads=max(1, hidden_size // 64), intermediate_size=4 * hidden_size,
                      max_position_embeddings=1024, pad_token_id=pad_token_id)


def _encoder_source(preset_encoder: ModelSource | None, encoder: str | None) -> ModelSource | None:
    if encoder is None:
        return preset_encoder
    return None if encoder == "scratch" else ModelSource(encoder)


def load_decoder_side(models: Preset, encoder: str | None = None, decoder: str | None = None,
                      decoder_gguf_file: str | None = None, seed: int = 0,
                      decoder_layers: int | None = None) -> DecoderSide:
    """The frozen decoder, its tokenizer and the encoder's tokenizer (no encoder weights: stage 2 needs none).

    ``models`` is a resolved preset; ``encoder``/``decoder`` override its models (a local path or a Hub id);
    ``encoder="scratch"`` trains a small encoder over the decoder's tokens; ``decoder_layers`` keeps the decoder's
    first layers only.
    """
    source = ModelSource(decoder, decoder_gguf_file) if decoder else models.decoder
    if source is None:
        frozen, tokenizer = tiny_decoder(seed), tiny_tokenizer()
    else:
        frozen, tokenizer = load_decoder_and_tokenizer(source)
    frozen = keep_first_layers(frozen, decoder_layers)
    encoder_source = _encoder_source(models.encoder, encoder)
    encoder_tokenizer = load_encoder_tokenizer(encoder_source) if encoder_source is not None else None
    return DecoderSide(frozen.requires_grad_(False).eval(), tokenizer, encoder_tokenizer,
                       decoder_reference(frozen, source, decoder_layers), encoder_source)


def build_vae(side: DecoderSide, models: Preset, encoder: str | None = None,
              injection_method: str = "soft_prompt", latent_dim: int | None = None, num_soft_tokens: int | None = None,
              seed: int = 0, fields: dict | None = None) -> LatentVAEModel:
    """A fresh VAE for ``side``'s decoder: a table encoder over ``fields`` (the field injector's config entries),
    else the pretrained encoder of ``models`` (a resolved preset) or a scratch one over the decoder's tokens."""
    options = dict(
        latent_dim=latent_dim or models.latent_dim,
        num_soft_tokens=num_soft_tokens or models.num_soft_tokens,
        injector_hidden_size=models.injector_hidden_size,
        injection_method=injection_method,
        decoder_name_or_path=side.reference.name_or_path,
        decoder_gguf_file=side.reference.gguf_file,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if fields is not None:
            config = LatentVAEConfig.for_decoder(side.decoder.config, encoder_name_or_path="a table encoder of the field values (trained)",
                                                 **fields,
                                                 **options)
            return LatentVAEModel(config)
        if side.encoder_source is None:
            tiny = models.decoder is None and side.reference.name_or_path.startswith(TINY_DECODER_ID)
            encoder_config = (tiny_encoder_config() if tiny
                              else scratch_encoder_config(len(side.tokenizer), side.tokenizer.eos_token_id))
            config = LatentVAEConfig.for_decoder(side.decoder.config, encoder_config=encoder_config.to_dict(),
                                                 **{"pooling": "first"} if tiny else {}, **options)
            return LatentVAEModel(config)
        encoder_model = load_encoder(side.encoder_source)
        vae = LatentVAEModel.from_encoder_pretrained(encoder_model, side.decoder, **options)
    vae.config.encoder_name_or_path = side.encoder_source.hub_id or side.encoder_source.name_or_path
    return vae
