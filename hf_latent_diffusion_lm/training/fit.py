"""Data to a trained, saved pipeline in one call: stage 1 then stage 2, handing over in memory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..pipelines import LatentDiffusionLMPipeline
from .diffusion_training import DiffusionTrainingConfig, train_diffusion
from .vae_training import VAETrainingConfig, train_vae

TRAINING_FOLDER = "training"  # inside the pipeline directory: logs, configs, and (until done) resumable state
RESUMABLE_STATE = ("checkpoints", "diffusion-checkpoints", "vae", "denoiser")


def fit_pipeline(
    data,
    out_dir: str | os.PathLike,
    preset: str = "small",
    condition_columns: list[str] | None = None,
    diffusion_steps: int = 3000,
    diffusion_options: dict | None = None,
    keep_checkpoints: bool = False,
    **vae_options,
) -> LatentDiffusionLMPipeline:
    """Train the VAE and the latent prior; save the pipeline to ``out_dir``.

    Stage 1's resumable state, logs and configs live in ``out_dir/training/``; once the pipeline is saved the
    optimizer states and intermediate models are removed unless ``keep_checkpoints``.
    ``data`` is a path (CSV, Parquet, JSON Lines) or a DataFrame (written to ``out_dir/training/data.parquet``);
    ``vae_options`` are fields of :class:`VAETrainingConfig` (``max_steps``, ``batch_size``, ``columns``...);
    ``diffusion_options`` are fields of :class:`DiffusionTrainingConfig` (``hidden_dim``, ``batch_size``...).
    """
    out_dir = Path(out_dir)
    training = out_dir / TRAINING_FOLDER
    if not isinstance(data, (str, os.PathLike)):
        training.mkdir(parents=True, exist_ok=True)
        path = training / "data.parquet"
        data.to_parquet(path)
        data = path
    stage1 = train_vae(VAETrainingConfig(data=str(data), output_dir=str(training), preset=preset, **vae_options))
    options = {"seed": stage1.config.seed, "mixed_precision": stage1.config.mixed_precision,
               "resume_from_checkpoint": stage1.config.resume_from_checkpoint and _diffusion_resume(training),
               **(diffusion_options or {})}
    pipe = train_diffusion(DiffusionTrainingConfig(vae_dir=str(training), output_dir=str(out_dir),
                                                   condition_columns=condition_columns, max_steps=diffusion_steps,
                                                   **options), stage1)
    if not keep_checkpoints:
        for name in RESUMABLE_STATE:
            shutil.rmtree(training / name, ignore_errors=True)
    return pipe


def _diffusion_resume(training: Path) -> str | None:
    """Resume stage 2 too when an interrupted run had reached it."""
    return "latest" if (training / "diffusion-checkpoints").is_dir() else None
