"""The frozen decoder is referenced, never copied: small pipelines, exact reloads, and clear errors for a wrong one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from diffusers import DiffusionPipeline

from hf_latent_diffusion_lm import DecoderMismatchError, LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.decoder_reference import DecoderReference
from hf_latent_diffusion_lm.testing import tiny_decoder, tiny_pipeline

SAMPLE = "dict(num_samples=3, decoding=dict(max_new_tokens=12), num_inference_steps=5)"


def texts(pipe, seed=0):
    pipe.set_progress_bar_config(disable=True)
    return pipe(generator=torch.Generator().manual_seed(seed), **eval(SAMPLE)).texts


def test_a_fresh_process_samples_the_saved_rows_without_the_decoder_weights(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path)
    weights = [p for p in (tmp_path / "decoder").rglob("*") if p.suffix == ".safetensors"]
    assert not weights and json.loads((tmp_path / "decoder" / "reference.json").read_text())["fingerprint"]
    code = ("import json, sys, torch, hf_latent_diffusion_lm; from diffusers import DiffusionPipeline; "
            f"p = DiffusionPipeline.from_pretrained(sys.argv[1]); p.set_progress_bar_config(disable=True); "
            f"print(json.dumps(p(generator=torch.Generator().manual_seed(0), **{SAMPLE}).texts))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == texts(pipe)


def test_save_decoder_true_keeps_a_self_contained_copy(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path, save_decoder=True)
    reference = json.loads((tmp_path / "decoder" / "reference.json").read_text())
    reference["name_or_path"] = "nobody/unreachable"  # the copy must be used, not the reference
    (tmp_path / "decoder" / "reference.json").write_text(json.dumps(reference))
    loaded = DiffusionPipeline.from_pretrained(tmp_path)
    assert texts(loaded) == texts(pipe)


def test_a_different_decoder_is_refused_naming_both_unless_swapped_deliberately(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path)
    saved, other = pipe.decoder_reference.fingerprint, tiny_decoder(seed=7)
    with pytest.raises(DecoderMismatchError) as error:
        DiffusionPipeline.from_pretrained(tmp_path, decoder=other)
    assert saved in str(error.value) and DecoderReference.of(other).fingerprint in str(error.value)
    assert "strict=False" in str(error.value)
    swapped = DiffusionPipeline.from_pretrained(tmp_path, decoder=other, strict=False)
    assert swapped.decoder is other
    same = DiffusionPipeline.from_pretrained(tmp_path, decoder=tiny_decoder(seed=0))  # same weights: accepted
    assert texts(same) == texts(pipe)


def test_a_bfloat16_copy_of_the_decoder_still_matches_its_reference():
    decoder = tiny_decoder()
    reference = DecoderReference.of(decoder)
    assert reference.matches(tiny_decoder().to(torch.bfloat16)) and not reference.matches(tiny_decoder(seed=1))


def test_an_unresolvable_reference_says_what_was_tried_and_how_to_fix_it(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path)
    for path in (tmp_path / "decoder" / "reference.json", tmp_path / "model_index.json"):
        values = json.loads(path.read_text())
        target = values if "fingerprint" in values else values["decoder_reference"]
        target["name_or_path"] = "nobody-here/not-a-model"
        path.write_text(json.dumps(values))
    with pytest.raises(OSError) as error:
        DiffusionPipeline.from_pretrained(tmp_path)
    message = str(error.value)
    assert "nobody-here/not-a-model" in message and "Hub" in message and "decoder=" in message


def test_the_pipeline_is_the_decoders_one_owner():
    pipe = tiny_pipeline()
    before = texts(pipe)
    pipe.decoder = tiny_decoder(seed=5)
    assert not hasattr(pipe.vae, "decoder") and not hasattr(pipe.vae, "_decoder")
    assert texts(pipe) != before, "decoding follows the pipeline's decoder"


def test_a_lora_adapter_on_the_decoder_is_saved_alone_and_reapplied(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = tiny_pipeline()
    adapted = get_peft_model(tiny_decoder(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    pipe = LatentDiffusionLMPipeline(vae=base.vae, denoiser=base.denoiser, scheduler=base.scheduler,
                                     decoder=adapted, tokenizer=base.tokenizer)
    assert pipe.decoder_reference.fingerprint == base.decoder_reference.fingerprint, "the reference is the base's"
    pipe.save_pretrained(tmp_path)
    adapter = tmp_path / "decoder" / "adapter"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        pipe.decoder_reference.name_or_path
    assert (adapter / "adapter_model.safetensors").stat().st_size < 100_000, "the adapter alone, not the base"
    loaded = DiffusionPipeline.from_pretrained(tmp_path)
    assert texts(loaded) == texts(pipe) != texts(base)
