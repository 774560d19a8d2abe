"""The slot pool's attention (:mod:`.slot_decoding`): packed steps, and grouped-query heads that share their keys
and values under a mask.

A pool step packs every slot's run of tokens into one sequence, ``(1, tokens)``, so the decoder's matrices see no
padding; but each slot attends to its own keys. :class:`SlotRuns` says where each token belongs, and the attention
lays the queries out per slot (``(slots, heads, longest run, head_dim)``), attends, and packs the outputs again.

transformers' ``sdpa`` copies every key/value head once per query head (``repeat_kv``) whenever a mask is given and
more than one position is fed: on a CPU that copy of the whole pool cache in every layer cost more than the step's
attention itself (tiny decoder, 64 slots: 9.3 ms a step against 5.3 ms without it). PyTorch's SDPA takes grouped
heads directly (``enable_gqa``); on CUDA a mask with ``enable_gqa`` falls back to the math kernel, so there the
heads are repeated as transformers does.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "ldlm_slot_sdpa"


@dataclass(frozen=True)
class SlotRuns:
    """Where each token of a packed step belongs: token ``i`` is place ``places[i]`` of slot ``slots[i]``'s run.

    Attention lays every run out as long as the longest, mostly empty queries. Laying the short runs out over every
    slot and the few long ones apart over a copy of their slots' keys was measured too (Adult, 256 slots): attention
    took 1.5 s instead of 2.0 s, the copies 0.4 s more, so one layout it is."""

    slots: torch.Tensor
    places: torch.Tensor
    num_slots: int
    longest: int

    def attend(self, query, key, value, attention_mask, dropout, scaling) -> torch.Tensor:
        """Attention of a packed step's ``query``, ``(1, heads, tokens, head_dim)``, against every slot's ``key``
        and ``value``; returns ``(1, tokens, heads, head_dim)``."""
        laid_out = query.new_zeros(self.num_slots, query.shape[1], self.longest, query.shape[-1])
        laid_out[self.slots, :, self.places] = query[0].transpose(0, 1)
        output = _grouped_sdpa(laid_out, key, value, attention_mask, dropout, scaling)
        return output[self.slots, :, self.places][None]


def slot_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
              slot_runs: SlotRuns | None = None, **kwargs):
    """transformers' attention-function signature; ``query`` is ``(batch, heads, positions, head_dim)``, or with
    ``slot_runs`` a packed step's ``(1, heads, tokens, head_dim)`` against every slot's keys."""
    if slot_runs is not None:
        return slot_runs.attend(query, key, value, attention_mask, dropout, scaling), None
    return _grouped_sdpa(query, key, value, attention_mask, dropout, scaling).transpose(1, 2).contiguous(), None


def _grouped_sdpa(query, key, value, attention_mask, dropout, scaling) -> torch.Tensor:
    groups = query.shape[1] // key.shape[1]
    if groups > 1 and query.device.type != "cpu":
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    return torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        is_causal=attention_mask is None and query.shape[2] > 1, enable_gqa=key.shape[1] != query.shape[1])


AttentionInterface.register(NAME, slot_sdpa)
AttentionMaskInterface.register(NAME, sdpa_mask)  # masks built as for sdpa


@contextmanager
def slot_attention(decoder) -> Iterator[None]:
    """Within the block, the decoder attends with :func:`slot_sdpa` (what a packed pool step needs)."""
    before = getattr(decoder.config, "_attn_implementation", None)
    decoder.set_attn_implementation(NAME)
    try:
        yield
    finally:
        decoder.set_attn_implementation(before)
