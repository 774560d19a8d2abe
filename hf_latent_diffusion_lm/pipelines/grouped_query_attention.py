"""Scaled dot-product attention that lets grouped-query heads share their keys and values, also under a mask.

transformers' ``sdpa`` copies every key/value head once per query head (``repeat_kv``) whenever a mask is given and
more than one position is fed: the case of every multi-token step of the slot pool (:mod:`.slot_decoding`), whose
mask differs per slot. On a CPU that copy of the whole pool cache in every layer cost more than the step's
attention itself (tiny decoder, 64 slots: 9.3 ms a step against 5.3 ms without it). PyTorch's SDPA takes grouped
heads directly (``enable_gqa``) on the CPU; on CUDA, where a mask with ``enable_gqa`` falls back to the slow math
kernel, transformers' own choice is kept.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "ldlm_grouped_query_sdpa"


def grouped_query_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' attention-function signature; ``query`` is ``(batch, heads, positions, head_dim)``."""
    causal = attention_mask is None and query.shape[2] > 1
    output = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=causal,
        enable_gqa=key.shape[1] != query.shape[1])
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, grouped_query_sdpa)
AttentionMaskInterface.register(NAME, sdpa_mask)  # masks built as for sdpa


@contextmanager
def shared_kv_heads(decoder) -> Iterator[None]:
    """Within the block, a CPU decoder that uses ``sdpa`` attends with :func:`grouped_query_sdpa`."""
    before = getattr(decoder.config, "_attn_implementation", None)
    if before != "sdpa" or decoder.device.type != "cpu":
        yield
        return
    decoder.set_attn_implementation(NAME)
    try:
        yield
    finally:
        decoder.set_attn_implementation(before)
