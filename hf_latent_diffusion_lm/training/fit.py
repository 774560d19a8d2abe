"""Data to a trained, saved pipeline in one call: stage 1 then stage 2."""

from __future__ import annotations

import os
from pathlib import Path

from ..data.json_lines import write_json_lines
from ..pipelines import LatentDiffusionLMPipeline
from .diffusion_training import DiffusionTrainingConfig, train_diffusion
from .vae_training import VAETrainingConfig, train_vae


def fit_pipeline(
    data,
    out_dir: str | os.PathLike,
    preset: str = "small",
    condition_columns: list[str] | None = None,
    diffusion_steps: int = 3000,
    diffusion_options: dict | None = None,
    **vae_options,
) -> LatentDiffusionLMPipeline:
    """Train the VAE (into the sibling folder ``<out_dir>-stage1``) and the latent prior; save the pipeline to
    ``out_dir``.

    ``data`` is a path (CSV, Parquet, JSON Lines: flat or nested), a DataFrame (written to
    ``<out_dir>-stage1/data.parquet``) or a list of dicts, nested or not (written to ``<out_dir>-stage1/data.jsonl``);
    ``vae_options`` are fields of :class:`VAETrainingConfig` (``max_steps``, ``batch_size``, ``columns``...);
    ``diffusion_options`` are fields of :class:`DiffusionTrainingConfig` (``hidden_dim``, ``batch_size``...).
    """
    out_dir = Path(out_dir)
    stage1 = out_dir.with_name(out_dir.name + "-stage1")
    if isinstance(data, (list, tuple)):
        data = write_json_lines(data, stage1 / "data.jsonl")
    elif not isinstance(data, (str, os.PathLike)):
        stage1.mkdir(parents=True, exist_ok=True)
        path = stage1 / "data.parquet"
        data.to_parquet(path)
        data = path
    train_vae(VAETrainingConfig(data=str(data), output_dir=str(stage1), preset=preset, **vae_options))
    options = {"seed": vae_options.get("seed", 0), "mixed_precision": vae_options.get("mixed_precision", "no"),
               **(diffusion_options or {})}
    return train_diffusion(DiffusionTrainingConfig(vae_dir=str(stage1), output_dir=str(out_dir),
                                                   condition_columns=condition_columns, max_steps=diffusion_steps,
                                                   **options))
