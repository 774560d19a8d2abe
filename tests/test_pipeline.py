"""The diffusion pipeline: seeded sampling, exact save/load round trips, encode/decode, the transformers task."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DiffusionPipeline, EDMDPMSolverMultistepScheduler
from transformers import pipeline as transformers_pipeline

from hf_latent_diffusion_lm import LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.testing import tiny_pipeline

METHODS = ["soft_prompt", "memory", "embedding"]


def sample(pipe, seed=0, **kwargs):
    pipe.set_progress_bar_config(disable=True)
    options = {"num_samples": 3, "decoding": {"max_new_tokens": 12}, "num_inference_steps": 5}
    return pipe(generator=torch.Generator().manual_seed(seed), **{**options, **kwargs})


@pytest.mark.parametrize("method", METHODS)
def test_save_and_load_give_the_same_pipeline_and_outputs(method, tmp_path):
    pipe = tiny_pipeline(injection_method=method)
    expected = sample(pipe)
    pipe.save_pretrained(tmp_path)
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(name.endswith((".bin", ".pt", ".pkl", ".ckpt")) for name in files)
    assert sum(name.endswith(".safetensors") for name in files) == 2  # vae, denoiser: the decoder is referenced
    assert (tmp_path / "decoder" / "reference.json").exists()
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "LatentDiffusionLMPipeline"

    loaded = DiffusionPipeline.from_pretrained(tmp_path)
    assert type(loaded) is LatentDiffusionLMPipeline
    actual = sample(loaded)
    assert actual.texts == expected.texts
    assert torch.equal(actual.latents, expected.latents)
    for name in ("vae", "denoiser", "decoder"):
        original, reloaded = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert original.keys() == reloaded.keys()
        assert all(torch.equal(original[key], reloaded[key]) for key in original)


def test_seeded_sampling_is_deterministic_and_seed_dependent():
    pipe = tiny_pipeline()
    first, again, other = sample(pipe, 0), sample(pipe, 0), sample(pipe, 1)
    assert first.texts == again.texts and torch.equal(first.latents, again.latents)
    assert first.latents.shape == (3, pipe.vae.config.latent_dim)
    assert not torch.equal(first.latents, other.latents)


def test_few_step_solver_and_given_latents():
    pipe = tiny_pipeline()
    pipe.scheduler = EDMDPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    output = sample(pipe, num_inference_steps=3)
    assert len(output.texts) == 3 and torch.isfinite(output.latents).all()
    latents = torch.zeros(2, pipe.vae.config.latent_dim)
    replay = sample(pipe, num_samples=2, latents=latents, decoding={"max_new_tokens": 12, "do_sample": False})
    assert torch.equal(replay.latents, latents)
    assert replay.texts == pipe.decode(latents, max_new_tokens=12)


def test_encode_and_decode_shapes():
    pipe = tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    latents = pipe.encode(["{a: 1}", "{b: two}", "{c: 3.5}"], batch_size=2)
    assert latents.shape == (3, pipe.vae.config.latent_dim)
    texts = pipe.decode(latents, max_new_tokens=6)
    assert len(texts) == 3 and texts == pipe.decode(latents, max_new_tokens=6)


def test_to_dtype_moves_every_component():
    pipe = tiny_pipeline().to(dtype=torch.bfloat16)
    assert pipe.vae.dtype == pipe.decoder.dtype == pipe.denoiser.dtype == torch.bfloat16
    output = sample(pipe)
    assert len(output.texts) == 3 and output.latents.dtype == torch.bfloat16


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_num_samples_must_be_positive(bad):
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        tiny_pipeline()(num_samples=bad)


def test_mismatched_components_are_refused():
    pipe = tiny_pipeline(latent_dim=8)
    other = tiny_pipeline(latent_dim=4)
    with pytest.raises(ValueError, match="latent_dim"):
        LatentDiffusionLMPipeline(vae=pipe.vae, denoiser=other.denoiser, scheduler=pipe.scheduler,
                                  decoder=pipe.decoder, tokenizer=pipe.tokenizer)


def test_transformers_pipeline_task(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path)
    generator = transformers_pipeline("latent-text-generation", model=str(tmp_path))
    generator.model.set_progress_bar_config(disable=True)
    rows = generator(num_samples=2, decoding={"max_new_tokens": 8}, generator=torch.Generator().manual_seed(0))
    assert [row["generated_text"] for row in rows] == sample(pipe, num_samples=2, decoding={"max_new_tokens": 8},
                                                             num_inference_steps=20).texts


def test_model_cpu_offload_samples_the_same_records():
    pipe = tiny_pipeline()
    expected = sample(pipe)
    pipe.enable_model_cpu_offload(device="cpu")  # diffusers' offload hooks; on a GPU machine device="cuda"
    actual = sample(pipe)
    assert actual.texts == expected.texts and torch.equal(actual.latents, expected.latents)


def test_call_keeps_diffusers_shape_and_groups_the_rest():
    import inspect

    from hf_latent_diffusion_lm import LatentDiffusionLMPipeline

    parameters = [name for name in inspect.signature(LatentDiffusionLMPipeline.__call__).parameters if name != "self"]
    assert len(parameters) <= 10 and not any(p.startswith("**") for p in parameters)
    assert {"num_samples", "guidance_scale", "num_inference_steps", "generator", "latents", "output_type",
            "return_dict", "conditions", "decoding", "privacy"} == set(parameters)


def test_grouped_arguments_are_checked_by_name():
    from hf_latent_diffusion_lm import Conditions

    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match="'max_tokens'.*max_new_tokens"):
        pipe(num_samples=1, decoding={"max_tokens": 4})
    with pytest.raises(ValueError, match="engine='slots' takes no generate"):
        pipe(num_samples=1, decoding={"engine": "slots", "generate_kwargs": {"cache_implementation": "static"}})
    with pytest.raises(ValueError, match="guidance_scale=2.0 has nothing to weigh.*has none"):
        pipe(num_samples=1, guidance_scale=2.0)
    with pytest.raises(ValueError, match="neither steer"):
        Conditions({"a": 1}, steer=False, force=False)
