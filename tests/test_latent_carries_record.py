"""The latent carries the record: after VAE training, the true latent explains a record far better than another's."""

from __future__ import annotations

import pytest
import torch

from hf_latent_diffusion_lm import LatentVAEConfig, LatentVAEModel
from hf_latent_diffusion_lm.testing import tiny_encoder_config

from conftest import record_batch


@pytest.mark.parametrize("method", ["soft_prompt", "memory", "embedding"])
def test_true_latent_beats_shuffled_latents(method, pretrained_decoder, tokenizer, training_records):
    torch.manual_seed(0)
    config = LatentVAEConfig.for_decoder(
        pretrained_decoder.config, encoder_config=tiny_encoder_config().to_dict(), latent_dim=16,
        injection_method=method, num_soft_tokens=4, injector_hidden_size=128, pooling="first",
    )
    vae = LatentVAEModel(config).train()
    batch = record_batch(training_records, tokenizer)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=3e-3)
    for _ in range(250):
        loss = vae(**batch, decoder=pretrained_decoder, beta=1e-4).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    vae.eval()
    with torch.no_grad():
        mu, _ = vae.encode(batch["input_ids"], batch["attention_mask"])
        own = vae.reconstruction_nll(pretrained_decoder, mu, batch["input_ids"], batch["attention_mask"], reduction="none")
        others = vae.reconstruction_nll(pretrained_decoder, mu.roll(1, 0), batch["input_ids"], batch["attention_mask"], reduction="none")
    # Per record, and on average by a clear margin (nats per token over the whole record, most of which is fixed
    # syntax that the decoder predicts without any latent).
    assert (own < others).float().mean() > 0.8
    assert others.mean() - own.mean() > 0.03
