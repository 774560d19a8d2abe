"""The bounded re-draw loop behind ``pipe(..., privacy=...)``: rows the guard rejects are sampled again.

Each round re-draws only the rejected rows (fresh latents from the prior, the same conditions and fixed values);
after ``max_rounds`` rounds rows still rejected are dropped rather than returned, so the guarantee holds for every
row returned (a decoder that can only write a training row, e.g. with every value fixed, yields no row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class GuardedTexts:
    texts: list[str]
    latents: torch.Tensor
    redraws: int  # rows drawn again, summed over rounds
    dropped: int  # rows still rejected after the last round, left out


def rejected_texts(guard, schema, texts: list[str], mode: str) -> np.ndarray:
    """Which texts hold a record the guard rejects (a text that does not parse holds no record)."""
    from ..data.constrained_decoding import checked_records  # xgrammar: imported when sampling, not on import

    rows = [row for row, _ in checked_records(schema, texts)]
    parsed = [index for index, row in enumerate(rows) if row is not None]
    found = np.zeros(len(texts), dtype=bool)
    found[parsed] = guard.rejected(schema, [rows[index] for index in parsed], mode)
    return found


def redraw_rejected(
    texts: list[str],
    latents: torch.Tensor,
    rejected: Callable[[list[str]], np.ndarray],
    draw: Callable[[np.ndarray], tuple[list[str], torch.Tensor]],
    max_rounds: int,
) -> GuardedTexts:
    """Replace the texts ``rejected`` flags with ``draw(row_indices)`` until none is flagged or ``max_rounds``."""
    texts, latents = list(texts), latents.clone()
    pending, redraws = np.flatnonzero(rejected(texts)), 0
    for _ in range(max_rounds):
        if len(pending) == 0:
            break
        new_texts, new_latents = draw(pending)
        redraws += len(pending)
        for index, text in zip(pending, new_texts):
            texts[index] = text
        latents[torch.as_tensor(pending, device=latents.device)] = new_latents.to(latents)
        pending = pending[rejected(new_texts)]
    keep = np.setdiff1d(np.arange(len(texts)), pending)
    return GuardedTexts([texts[index] for index in keep], latents[torch.as_tensor(keep, device=latents.device)],
                        redraws, len(pending))
