"""Records as sentence embeddings with the offline MiniLM encoder (mean pooling, unit length, as
sentence-transformers' all-MiniLM-L6-v2 does), the space α-precision/β-recall compare nested records in."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..pretrained import load_encoder, load_encoder_tokenizer, minilm_source

MAX_TOKENS = 128  # enough to place a record (question first); longer records are embedded by their beginning


@torch.no_grad()
def embed_texts(texts: Sequence[str], batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """``(len(texts), 384)`` unit-length MiniLM embeddings."""
    model, tokenizer = load_encoder(minilm_source()), load_encoder_tokenizer(minilm_source())
    model.eval()
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="embedding", disable=not progress):
        batch = tokenizer(list(texts[start : start + batch_size]), padding=True, truncation=True,
                          max_length=MAX_TOKENS, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(chunks)
