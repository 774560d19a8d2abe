"""How many records to decode together: on a GPU as many as the KV cache and logits fit in free memory (large
batches are what makes decoding fast); on a CPU 512, or fewer where their KV cache would pass 2 GiB (a full
30-layer decoder writing 1,000-token records). 512 slots sampled the trained Adult pipeline at 86.7 rows/s on 2
cores, 256 at 84, 128 at 76 (the engine's per-step work is shared by more rows; BENCHMARKS.md)."""

from __future__ import annotations

import torch

from ..modeling import LatentVAEConfig


def decoding_batch_size(decoder, vae_config: LatentVAEConfig, device: torch.device, max_new_tokens: int,
                        memory_fraction: float = 0.7, cpu_batch_size: int = 512, cpu_kv_bytes: int = 2 << 30) -> int:
    """Rows decoded together by ``decoder`` on ``device``, each up to ``max_new_tokens`` after the latent's prefix."""
    length = max_new_tokens + 1 + vae_config.num_soft_tokens
    element = torch.finfo(decoder.dtype).bits // 8
    kv_cache = (2 * vae_config.decoder_num_layers * vae_config.decoder_num_kv_heads * vae_config.decoder_head_dim
                * length)
    if device.type != "cuda":
        return max(1, min(cpu_batch_size, cpu_kv_bytes // (kv_cache * element)))
    free, _ = torch.cuda.mem_get_info(device)
    logits = 2 * decoder.get_output_embeddings().weight.shape[0]  # fp32 scores + processed copy
    activations = 8 * vae_config.decoder_hidden_size  # a few hidden-size buffers per row and step
    per_row = kv_cache * element + 4 * logits + activations * element
    return max(1, min(16384, int(free * memory_fraction // per_row)))
