"""The Hub path, tested offline: a Hub id resolves from the local cache layout, and push_to_hub uploads the
saved pipeline through huggingface_hub's own API (intercepted here: no network)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import torch
from diffusers import DiffusionPipeline
from huggingface_hub import HfApi

from hf_latent_diffusion_lm import LatentDiffusionLMPipeline
from hf_latent_diffusion_lm.testing import tiny_pipeline

REPO_ID = "someone/tiny-latent-diffusion-lm"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_hub_id_loads_from_a_snapshot_in_the_cache_layout(tmp_path, monkeypatch):
    pipe = tiny_pipeline()
    cache = tmp_path / "hub"
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    pipe.save_pretrained(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    loaded = DiffusionPipeline.from_pretrained(REPO_ID, cache_dir=cache)
    assert type(loaded) is LatentDiffusionLMPipeline
    for name in ("vae", "denoiser", "decoder"):
        assert all(torch.equal(a, b) for a, b in zip(getattr(pipe, name).state_dict().values(),
                                                     getattr(loaded, name).state_dict().values()))


def test_push_to_hub_uploads_every_component_as_safetensors(tmp_path, monkeypatch):
    uploaded = {}

    def create_repo(self, repo_id, **kwargs):
        uploaded["repo_id"] = repo_id
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        shutil.copytree(folder_path, tmp_path / "uploaded")
        uploaded["files"] = sorted(str(p.relative_to(tmp_path / "uploaded")) for p in (tmp_path / "uploaded").rglob("*")
                                   if p.is_file())

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    from pathlib import Path

    import pandas as pd

    from hf_latent_diffusion_lm.data import TableSchema

    schema = TableSchema.infer(pd.DataFrame({"colour": ["red", "blue"], "size": [1, 3]}))
    pipe = tiny_pipeline(schema=schema)
    pipe.register_to_config(card_metadata={"metrics": {"shape_error_percent": 1.25}})
    pipe.push_to_hub(REPO_ID, token="offline-test")

    assert uploaded["repo_id"] == REPO_ID
    files = uploaded["files"]
    for expected in ("model_index.json", "config.json", "vae/model.safetensors", "decoder/reference.json",
                     "denoiser/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"):
        assert expected in files
    assert not any(name.startswith("decoder/") and name.endswith(".safetensors") for name in files), \
        "the frozen base decoder is referenced, never uploaded"
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in files)
    card = (tmp_path / "uploaded" / "README.md").read_text()
    assert f'from_pretrained("{REPO_ID}")' in card and "| colour | categorical | blue, red |" in card
    assert "shape_error_percent: 1.25" in card and "library_name: hf-latent-diffusion-lm" in card
    assert "base_model: hf-latent-diffusion-lm/tiny-random-llama-seed0" in card and "colour: categorical" in card
    assert Path(tmp_path / "uploaded" / "model_index.json").exists()
    assert type(DiffusionPipeline.from_pretrained(tmp_path / "uploaded")) is LatentDiffusionLMPipeline
