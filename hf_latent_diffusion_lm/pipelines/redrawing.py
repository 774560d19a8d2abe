"""The one bounded re-draw loop: records a check rejects are sampled again, from fresh latents, a bounded number of
rounds.

It sits behind both re-drawing features, which differ only in what becomes of a record still rejected after the last
round (the caller's policy, on :attr:`Redrawn.pending`):

- the privacy guard (``pipe(..., privacy=...)``) leaves such rows out, so its guarantee holds for every row returned
  (a decoder that can only write a training row, e.g. with every value fixed, yields no row);
- tool-call consistency (:func:`~..sampling.record_sampling.sample_records`) keeps a record whose calls still break its
  functions, and reports it; a record that does not parse, or that the guard rejects, is left out there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass
class Redrawn:
    """The texts after re-drawing, their latents, how many rows were drawn again (summed over rounds), and the
    indices of the rows still rejected after the last round."""

    texts: list[str]
    latents: torch.Tensor
    redraws: int
    pending: np.ndarray

    def without_pending(self) -> tuple[list[str], torch.Tensor]:
        """The texts and latents of the rows no check rejects any more."""
        keep = np.setdiff1d(np.arange(len(self.texts)), self.pending)
        return [self.texts[index] for index in keep], self.latents[torch.as_tensor(keep, device=self.latents.device)]


def redraw_rejected(
    texts: list[str],
    latents: torch.Tensor,
    rejected: Callable[[list[str]], np.ndarray],
    draw: Callable[[np.ndarray], tuple[list[str], torch.Tensor]],
    max_rounds: int,
) -> Redrawn:
    """Replace the texts ``rejected`` flags with ``draw(row_indices)`` (as many texts and latents as indices) until
    none is flagged or ``max_rounds`` rounds have run. ``rejected`` sees each text once: the first texts, then each
    round's new ones."""
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
    return Redrawn(texts, latents, redraws, pending)
