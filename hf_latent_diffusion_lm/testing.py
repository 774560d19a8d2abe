"""Tiny, randomly initialised but complete models built offline, for tests, docs and benchmarks.

Nothing here downloads anything: the tokenizer is a byte-level BPE with no merges (one token per byte, so any
text round-trips), and the encoder/decoder are 2-layer BERT/Llama configs built in code.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

END_OF_TEXT = "<|endoftext|>"


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A 257-token byte-level tokenizer (256 bytes + ``<|endoftext|>`` as bos, eos and pad)."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    vocab[END_OF_TEXT] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, pad_token=END_OF_TEXT
    )


def tiny_decoder_config(vocab_size: int = 257, hidden_size: int = 64, num_layers: int = 2) -> LlamaConfig:
    """A 2-layer Llama (grouped-query attention, like SmolLM2) small enough to train in seconds on a CPU."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=vocab_size - 1,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        tie_word_embeddings=True,
    )


def tiny_decoder(seed: int = 0, **config_kwargs) -> LlamaForCausalLM:
    """A randomly initialised tiny causal LM (see :func:`tiny_decoder_config`)."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_decoder_config(**config_kwargs)).eval()


def tiny_encoder_config(vocab_size: int = 257, hidden_size: int = 64, num_layers: int = 2) -> BertConfig:
    """A 2-layer BERT over the tiny tokenizer's ids (the encoder reads the decoder's tokens)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        max_position_embeddings=512,
        pad_token_id=vocab_size - 1,
        hidden_dropout_prob=0.0,  # deterministic: tests compare runs and processes exactly
        attention_probs_dropout_prob=0.0,
    )


def tiny_encoder(seed: int = 0, **config_kwargs) -> BertModel:
    """A randomly initialised tiny BERT encoder (see :func:`tiny_encoder_config`)."""
    torch.manual_seed(seed)
    return BertModel(tiny_encoder_config(**config_kwargs), add_pooling_layer=False)


def tiny_gpt2_decoder(seed: int = 0) -> GPT2LMHeadModel:
    """A randomly initialised 2-layer GPT-2 over the tiny tokenizer: absolute position embeddings, where the
    Llama above has rotary ones (code that places tokens by position must handle both)."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=257, n_embd=64, n_layer=2, n_head=4, n_positions=512, bos_token_id=256,
                        eos_token_id=256, pad_token_id=256)
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
        decoder_name_or_path=None,
    )
    torch.manual_seed(seed)
    vae = LatentVAEModel(config)
    denoiser = LatentDenoiserMLP(latent_dim=latent_dim, hidden_dim=64, num_layers=2, noise_embedding_dim=32)
    return LatentDiffusionLMPipeline(
        vae=vae, denoiser=denoiser, scheduler=EDMEulerScheduler(), decoder=decoder, tokenizer=tiny_tokenizer(),
        schema=schema, max_new_tokens=max_new_tokens,
    )
