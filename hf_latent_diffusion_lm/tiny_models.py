"""Tiny, randomly initialised models built in code: the ``tiny`` preset's encoder, decoder and tokenizer.

Nothing here downloads anything: the tokenizer is a byte-level BPE with no merges (one token per byte, so any
text round-trips), and the encoder/decoder are 2-layer BERT/Llama configs. The decoder is a pure function of its
seed (built under a forked RNG, leaving the caller's random state alone), which is what lets a saved pipeline name
it by reference (``TINY_DECODER_ID`` followed by the seed) instead of storing it.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import BertConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"
TINY_DECODER_ID = "hf-latent-diffusion-lm/tiny-random-llama-seed"  # + the seed; built in code, not on the Hub


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
    """A randomly initialised tiny causal LM (see :func:`tiny_decoder_config`), the same for the same seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_decoder_config(**config_kwargs))
    model.config._name_or_path = f"{TINY_DECODER_ID}{seed}"
    return model.eval()


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
