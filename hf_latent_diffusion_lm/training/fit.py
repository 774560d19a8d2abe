"""Data to a trained, saved pipeline in one call: stage 1 then stage 2."""

from __future__ import annotations

import os
from pathlib import Path

from ..pipelines import LatentDiffusionLMPipeline
from .diffusion_training import DiffusionTrainingConfig, train_diffusion
from .option_checks import check_training_table
from .output_directory import check_output_directory
from .vae_training import VAETrainingConfig, load_training_table, train_vae


def fit_pipeline(
    data,
    out_dir: str | os.PathLike,
    preset: str = "small",
    condition_columns: list[str] | None = None,
    diffusion_steps: int | None = None,
    diffusion_options: dict | None = None,
    overwrite: bool = False,
    **vae_options,
) -> LatentDiffusionLMPipeline:
    """Train the VAE (into the sibling folder ``<out_dir>-stage1``) and the latent prior; save the pipeline to
    ``out_dir``.

    ``data`` is a path (CSV, Parquet, JSON Lines) or a DataFrame (written to ``<out_dir>-stage1/data.parquet``);
    ``vae_options`` are fields of :class:`VAETrainingConfig` (``max_steps``, ``batch_size``, ``columns``...);
    ``diffusion_options`` are fields of :class:`DiffusionTrainingConfig` (``hidden_dim``, ``batch_size``...).
    A non-empty ``out_dir`` that is not a pipeline is refused unless ``overwrite`` (nothing else in it is deleted).
    """
    check_output_directory(out_dir, overwrite)
    out_dir = Path(out_dir)
    stage1 = out_dir.with_name(out_dir.name + "-stage1")
    options = {"seed": vae_options.get("seed", 0), "mixed_precision": vae_options.get("mixed_precision", "no"),
               **(diffusion_options or {})}
    diffusion_config = DiffusionTrainingConfig(vae_dir=str(stage1), output_dir=str(out_dir),
                                               condition_columns=condition_columns, max_steps=diffusion_steps,
                                               **options)
    path = data if isinstance(data, (str, os.PathLike)) else stage1 / "data.parquet"
    vae_config = VAETrainingConfig(data=str(path), output_dir=str(stage1), preset=preset, **vae_options)
    if path is not data:
        stage1.mkdir(parents=True, exist_ok=True)
        data.to_parquet(path)
    check_training_table(load_training_table(vae_config), condition_columns, vae_config.target)
    train_vae(vae_config)
    return train_diffusion(diffusion_config)
