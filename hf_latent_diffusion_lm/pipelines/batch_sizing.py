"""How many records to decode together: on a GPU as many as the KV cache and logits fit in free memory (large
batches are what makes decoding fast), on a CPU a fixed number: 256 slots sampled the trained Adult pipeline at 34.7
rows/s on 2 cores where 64 gave 26.3 (the engine's per-step work is shared by more rows; BENCHMARKS.md)."""

from __future__ import annotations

import torch

from ..modeling import LatentVAEConfig


def decoding_batch_size(decoder, vae_config: LatentVAEConfig, device: torch.device, max_new_tokens: int,
                        memory_fraction: float = 0.7, cpu_batch_size: int = 256) -> int:
    """Rows decoded together by ``decoder`` on ``device``, each up to ``max_new_tokens`` after the latent's prefix."""
    if device.type != "cuda":
        return cpu_batch_size
    free, _ = torch.cuda.mem_get_info(device)
    length = max_new_tokens + 1 + vae_config.num_soft_tokens
    element = torch.finfo(decoder.dtype).bits // 8
    kv_cache = (2 * vae_config.decoder_num_layers * vae_config.decoder_num_kv_heads * vae_config.decoder_head_dim
                * length)
    logits = 2 * decoder.get_output_embeddings().weight.shape[0]  # fp32 scores + processed copy
    activations = 8 * vae_config.decoder_hidden_size  # a few hidden-size buffers per row and step
    per_row = kv_cache * element + 4 * logits + activations * element
    return max(1, min(16384, int(free * memory_fraction // per_row)))
