"""PEFT LoRA on the injector: it changes what the latent does, saves alone, and reloads identically."""

from __future__ import annotations

import torch
from peft import PeftModel, get_peft_model

from hf_latent_diffusion_lm import LatentVAEModel
from hf_latent_diffusion_lm.modeling import injector_lora_config
from hf_latent_diffusion_lm.testing import tiny_pipeline

from conftest import record_batch


def test_lora_on_injector_trains_saves_and_reloads(tmp_path, tokenizer, training_records):
    pipe = tiny_pipeline()
    pipe.vae.save_pretrained(tmp_path / "base")
    batch = {**record_batch(training_records[:8], tokenizer), "decoder": pipe.decoder}
    with torch.no_grad():
        base_loss = pipe.vae.eval()(**batch).reconstruction_loss

    tuned = get_peft_model(pipe.vae, injector_lora_config(r=4))
    trainable = {name for name, p in tuned.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name and ".injector." in name for name in trainable)
    optimizer = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=1e-2)
    tuned.train()
    for _ in range(5):
        loss = tuned(**batch).reconstruction_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tuned.eval()
    with torch.no_grad():
        tuned_loss = tuned(**batch).reconstruction_loss
    assert not torch.isclose(tuned_loss, base_loss)

    tuned.save_pretrained(tmp_path / "adapter")
    saved = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert saved == ["README.md", "adapter_config.json", "adapter_model.safetensors"]

    base = LatentVAEModel.from_pretrained(tmp_path / "base")
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).reconstruction_loss, tuned_loss)
