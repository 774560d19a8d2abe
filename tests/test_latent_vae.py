"""The latent VAE: what trains, what stays frozen, what is saved, and the errors a user gets."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModel

from hf_latent_diffusion_lm import DecoderMismatchError, LatentVAEConfig, LatentVAEModel
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_encoder_config

from conftest import record_batch

METHODS = ["soft_prompt", "memory", "embedding"]


def make_vae(decoder, method="soft_prompt", **kwargs):
    torch.manual_seed(0)
    config = LatentVAEConfig.for_decoder(
        decoder.config, encoder_config=tiny_encoder_config().to_dict(), latent_dim=8, injection_method=method,
        num_soft_tokens=4, injector_hidden_size=32, **kwargs,
    )
    return LatentVAEModel(config)


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_encoder_and_injector_never_decoder(method, tokenizer, training_records):
    decoder = tiny_decoder().requires_grad_(False)  # frozen by its owner (the pipeline or the training loop)
    before = {name: p.detach().clone() for name, p in decoder.state_dict().items()}
    vae = make_vae(decoder, method).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-2)
    batch = record_batch(training_records[:8], tokenizer)
    for _ in range(3):
        output = vae(**batch, decoder=decoder, beta=0.1)
        optimizer.zero_grad()
        output.loss.backward()
        assert vae.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.injector.parameters())
        assert all(p.grad is None for p in decoder.parameters())
        optimizer.step()
    assert torch.isclose(output.loss, output.reconstruction_loss + 0.1 * output.kl)
    assert output.mu.shape == output.logvar.shape == (8, 8)
    after = decoder.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not hasattr(vae, "decoder") and not set(map(id, decoder.parameters())) & set(map(id, vae.parameters()))


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_round_trip_is_exact_and_holds_no_decoder(method, tmp_path, tokenizer, training_records):
    decoder = tiny_decoder()
    vae = make_vae(decoder, method).eval()
    vae.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert names and not any(name.startswith(("decoder", "_decoder", "model.layers", "lm_head")) for name in names)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as weights:
        saved = sum(torch.Size(weights.get_slice(name).get_shape()).numel() for name in names)
    assert saved == sum(p.numel() for p in vae.parameters())

    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, LatentVAEModel)
    reloaded_config, config = AutoConfig.from_pretrained(tmp_path).to_dict(), vae.config.to_dict()
    for options in (reloaded_config, config):
        options.pop("_name_or_path")
    assert reloaded_config == config
    batch = record_batch(training_records[:4], tokenizer)
    with torch.no_grad():
        expected, actual = vae(**batch, decoder=decoder), loaded.eval()(**batch, decoder=decoder)
    assert torch.equal(expected.mu, actual.mu)
    assert torch.equal(expected.reconstruction_loss, actual.reconstruction_loss)


def test_unknown_injection_method_is_named():
    with pytest.raises(ValueError, match="'prefix'.*soft_prompt, memory, embedding"):
        LatentVAEConfig(injection_method="prefix")


@pytest.mark.parametrize("method", ["soft_prompt", "memory"])
def test_decoder_that_does_not_fit_the_injector_is_refused(method):
    vae = make_vae(tiny_decoder(), method)
    with pytest.raises(DecoderMismatchError, match="hidden_size: decoder has 32, injector expects 64"):
        vae.check_decoder(tiny_decoder(hidden_size=32))


def test_gradient_checkpointing_gives_the_same_gradients(tokenizer, training_records):
    decoder = tiny_decoder().requires_grad_(False)
    batch = record_batch(training_records[:4], tokenizer)
    gradients = []
    for checkpointing in (False, True):
        vae = make_vae(decoder).train()
        if checkpointing:
            vae.gradient_checkpointing_enable()
            assert vae.is_gradient_checkpointing
        vae(**batch, decoder=decoder, sample_posterior=False).loss.backward()
        gradients.append(vae.encoder.embeddings.word_embeddings.weight.grad.clone())
    assert torch.allclose(gradients[0], gradients[1], atol=1e-6) and gradients[0].abs().sum() > 0
    assert set(make_vae(decoder)._no_split_modules) == {"BertEmbeddings", "BertLayer"}
